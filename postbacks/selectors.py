from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import Trunc

from postbacks.models import CoinFlowDay, OfferConversion, OfferDelivery, UserPostback
from postbacks.offers.networks.base import Verdict


def unapplied_postbacks(user_id) -> QuerySet[UserPostback]:
    """The postbacks a user's reward app has not acknowledged yet (served by the user_postback_unapplied index)."""
    return UserPostback.objects.filter(user_id=user_id, applied_at=None).select_related("game")


# What every coin source moved in the available balance between two instants. Offer entries name their
# conversion in `reference` (offer_conversions:<id>), which names the integration and the USD payout the network
# reported for the coins it issued. Holds are not issued coins.
COIN_FLOWS_SQL = """
    SELECT source, integration_id,
           COALESCE(SUM(amount) FILTER (WHERE amount > 0), 0) AS issued,
           COALESCE(-SUM(amount) FILTER (WHERE amount < 0), 0) AS reversed,
           COALESCE(SUM(payout_usd) FILTER (WHERE amount > 0), 0) AS payout_usd
    FROM (
        SELECT e.amount, c.integration_id, c.payout_usd,
               CASE WHEN e.kind LIKE 'offer%%' THEN 'offer' ELSE e.kind END AS source
        FROM ledger_entries e
        -- One primary-key lookup per offer entry (a join would hash every conversion ever recorded).
        LEFT JOIN LATERAL (
            SELECT c.integration_id, c.payout_usd FROM offer_conversions c
            WHERE e.kind LIKE 'offer%%'
              AND c.id = substring(e.reference FROM '^offer_conversions:(\\d{1,18})$')::bigint
        ) c ON true
        WHERE e.created_at >= %s AND e.created_at < %s AND e.bucket = 'available'
    ) flows
    GROUP BY 1, 2
"""

# Entries commit a moment after their created_at: a day is summed for good only this long after it ended.
DAY_SETTLES_AFTER = timedelta(minutes=10)


def coin_flows(since: datetime, until: datetime) -> list[tuple[str, int | None, int, int, Decimal]]:
    """(source, integration id, issued, reversed, payout USD) over a range, from the ledger's created_at index."""
    with connection.cursor() as cursor:
        cursor.execute(COIN_FLOWS_SQL, [since, until])
        return cursor.fetchall()


def settled_days(now: datetime) -> tuple[date, date]:
    """The first day still summed live (today, or yesterday just after midnight) and the start of today."""
    today = now.date()
    live_from = today if now - day_start(today) >= DAY_SETTLES_AFTER else today - timedelta(days=1)
    return live_from, today


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


COIN_FLOW_WINDOW = timedelta(days=30)  # the console's longest period, today included


def roll_up_coin_flows(now: datetime) -> int:
    """Sum the window's settled days not summed yet; how many were. The first page does it too, but after a deploy
    that meant 29 days of entries on one request (3.6 s): `manage.py roll_up_coin_flows` runs it daily and at
    deploy, so the page finds them summed."""
    live_from, today = settled_days(now)
    return roll_up_days(today - COIN_FLOW_WINDOW + timedelta(days=1), live_from)


def roll_up_days(first: date, until: date) -> int:
    """Sum each settled day in [first, until) not summed yet, once; concurrent callers insert nothing twice.
    Returns how many days were summed."""
    done = set(CoinFlowDay.objects.filter(day__gte=first, day__lt=until).values_list("day", flat=True).distinct())
    missing = [first + timedelta(days=n) for n in range((until - first).days) if first + timedelta(days=n) not in done]
    for day in missing:
        flows = coin_flows(day_start(day), day_start(day + timedelta(days=1))) or [("none", None, 0, 0, 0)]
        rows = [
            CoinFlowDay(day=day, source=s, integration_id=i, issued=a, reversed=r, payout_usd=usd)
            for s, i, a, r, usd in flows
        ]
        CoinFlowDay.objects.bulk_create(rows, ignore_conflicts=True)
    return len(missing)


@dataclass
class CoinFlow:
    source: str
    integration_id: int | None
    today: list[int] = field(default_factory=lambda: [0, 0])  # issued, reversed
    week: list[int] = field(default_factory=lambda: [0, 0])
    month: list[int] = field(default_factory=lambda: [0, 0])
    month_payout_usd: Decimal = Decimal(0)  # what the network reported paying for the month's issued coins


def coin_flows_by_source(now: datetime) -> list[CoinFlow]:
    """Issued and reversed coins today, over 7 and over 30 days (today included), per source: settled days
    from their daily sums, the rest live from the ledger's created_at index."""
    roll_up_coin_flows(now)
    live_from, today = settled_days(now)
    flows: dict[tuple[str, int | None], CoinFlow] = {}

    def add(source, integration_id, day, issued, reversed_, payout_usd):
        if source == "none":
            return
        flow = flows.setdefault((source, integration_id), CoinFlow(source, integration_id))
        flow.month_payout_usd += payout_usd
        periods = [flow.month] + ([flow.week] if day > today - timedelta(days=7) else [])
        periods += [flow.today] if day == today else []
        for period in periods:
            period[0] += issued
            period[1] += reversed_

    summed = CoinFlowDay.objects.filter(day__gt=today - COIN_FLOW_WINDOW, day__lt=live_from)
    for source, integration_id, day, issued, reversed_, payout_usd in summed.values_list(
        "source", "integration_id", "day", "issued", "reversed", "payout_usd"
    ):
        add(source, integration_id, day, issued, reversed_, payout_usd)
    for day in (live_from + timedelta(days=n) for n in range((today - live_from).days + 1)):
        for source, integration_id, issued, reversed_, payout_usd in coin_flows(
            day_start(day), min(now, day_start(day + timedelta(days=1)))
        ):
            add(source, integration_id, day, issued, reversed_, payout_usd)
    return sorted(flows.values(), key=lambda flow: (flow.source, flow.integration_id or 0))


def pending_reversals() -> QuerySet[OfferConversion]:
    """Reversals nobody has reviewed yet: the offer_conversion_to_review partial index holds exactly these."""
    return OfferConversion.objects.filter(outcome__in=OfferConversion.REVERSAL_OUTCOMES, reviewed_at__isnull=True)


@dataclass
class HourlyTraffic:
    """Accepted and refused calls of one partner or integration over the last 24 clock hours (the current one
    last), hour by hour."""

    accepted: list[int] = field(default_factory=lambda: [0] * 24)
    refused: list[int] = field(default_factory=lambda: [0] * 24)
    last: datetime | None = None

    def add(self, row: dict, now: datetime) -> None:
        slot = 23 - int((current_hour(now) - row["hour"]).total_seconds() // 3600)
        self.accepted[slot] += row["accepted"]
        self.refused[slot] += row.get("refused", 0)
        self.last = max(self.last or row["last"], row["last"])

    @property
    def total_accepted(self) -> int:
        return sum(self.accepted)

    @property
    def total_refused(self) -> int:
        return sum(self.refused)


ACCEPTED_VERDICTS = (Verdict.ACCEPTED, Verdict.DUPLICATE)


def current_hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def traffic_since(now: datetime) -> datetime:
    return current_hour(now) - timedelta(hours=23)


def delivery_traffic(now: datetime) -> dict[int, HourlyTraffic]:
    """Per integration id, from the delivery log's received_at index (one day of rows). Deliveries still
    `received` (processing did not finish) are neither."""
    rows = (
        OfferDelivery.objects.filter(received_at__gte=traffic_since(now), received_at__lte=now)
        .annotate(hour=Trunc("received_at", "hour"))
        .values("integration_id", "hour")
        .annotate(
            accepted=Count("id", filter=Q(verdict__in=ACCEPTED_VERDICTS)),
            refused=Count("id", filter=~Q(verdict__in=[*ACCEPTED_VERDICTS, Verdict.RECEIVED])),
            last=Max("received_at"),
        )
        .order_by()
    )
    traffic: dict[int, HourlyTraffic] = {}
    for row in rows:
        traffic.setdefault(row["integration_id"], HourlyTraffic()).add(row, now)
    return traffic


def partner_traffic(now: datetime) -> dict[str, HourlyTraffic]:
    """Accepted partner postbacks per store app (pid) per hour, from user_postbacks' BRIN index (refused ones are
    in rewardhub.refused_calls)."""
    rows = (
        UserPostback.objects.filter(created_at__gte=traffic_since(now), created_at__lte=now)
        .annotate(hour=Trunc("created_at", "hour"))
        .values("pid", "hour")
        .annotate(accepted=Count("id"), last=Max("created_at"))
        .order_by()
    )
    traffic: dict[str, HourlyTraffic] = {}
    for row in rows:
        traffic.setdefault(row["pid"], HourlyTraffic()).add(row, now)
    return traffic
