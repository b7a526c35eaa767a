"""The console's first page ("at a glance"): what every app's read-only selectors say, each figure with the
address of the filtered list behind it. Like seed_demo and bench it spans the apps; only the admin site's index
imports it. Every figure reads an index or a daily sum, never a scan of the ledger (see the README's table)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from giveaways.selectors import running_giveaways
from ledger.models import LedgerEntry, RewardUser
from postbacks.models import OfferwallIntegration
from postbacks.selectors import (
    HourlyTraffic,
    coin_flows_by_source,
    delivery_traffic,
    partner_traffic,
    pending_reversals,
    traffic_since,
)
from rewardhub.refused_calls import refused_partner_calls

SOURCE_LABELS = {
    LedgerEntry.Kind.PARTNER_POSTBACK: "Partner games",
    LedgerEntry.Kind.ADJUSTMENT: "Staff adjustments",
}
CHART_HEIGHT = 40  # px of the tallest bar


def admin_list(name: str, **filters) -> str:
    return reverse(f"admin:{name}_changelist") + (f"?{urlencode(filters)}" if filters else "")


@dataclass
class Figure:
    label: str
    value: int
    url: str
    alert: bool = False


def at_a_glance(user, now: datetime | None = None) -> dict:
    """Only what the staff member may see in the lists behind it."""
    now = now or timezone.now()
    integrations = {integration.pk: integration for integration in OfferwallIntegration.objects.all()}
    return {
        "figures": review_figures(user),
        "coin_rows": coin_rows(now, integrations) if user.has_perm("ledger.view_ledgerentry") else None,
        "traffic": (
            traffic_charts(now, integrations, show_refused_partner_calls=user.has_perm("rewardhub.view_refusedcall"))
            if user.has_perm("postbacks.view_offerdelivery")
            else None
        ),
        "giveaways": running_giveaways(now) if user.has_perm("giveaways.view_participant") else None,
        "generated_at": now,
    }


def review_figures(user) -> list[Figure]:
    figures = []
    if user.has_perm("postbacks.view_offerconversion"):
        pending = pending_reversals().count()
        figures.append(Figure("reversals to review", pending, admin_list("postbacks_offerreversal"), pending > 0))
    if user.has_perm("ledger.view_rewarduser"):
        negative = RewardUser.objects.filter(coins__lt=0).count()
        banned = RewardUser.objects.filter(banned_at__isnull=False).count()
        figures.append(
            Figure("users with a negative balance", negative, admin_list("ledger_rewarduser", balance="negative"))
        )
        figures.append(Figure("banned users", banned, admin_list("ledger_rewarduser", banned_at__isempty="0")))
    return figures


def coin_rows(now: datetime, integrations: dict) -> list[dict]:
    """One row per source: issued and reversed today / 7 days / 30 days, each linking to its entries."""
    today = now.date()
    starts = {"today": today, "week": today - timedelta(days=6), "month": today - timedelta(days=29)}
    rows = []
    for flow in coin_flows_by_source(now):
        if flow.source == "offer":
            integration = integrations.get(flow.integration_id)
            label = integration.name if integration else "Offers (integration deleted)"

            def link(start, flow=flow):
                return admin_list(
                    "postbacks_offerconversion", integration__id__exact=flow.integration_id, created_at__gte=start
                )
        else:
            label = SOURCE_LABELS.get(flow.source, flow.source)

            def link(start, flow=flow):
                return admin_list("ledger_ledgerentry", kind=flow.source, created_at__gte=start)

        periods = [
            (getattr(flow, period), link(str(start))) for period, start in starts.items()
        ]  # [(issued, reversed), url]
        payout = flow.month_payout_usd if flow.source == "offer" else None
        rows.append({"label": label, "periods": periods, "payout_usd": payout})
    return rows


def traffic_charts(now: datetime, integrations: dict, *, show_refused_partner_calls: bool) -> list[dict]:
    since = traffic_since(now)
    partners = partner_traffic(now)
    if show_refused_partner_calls:
        for row in refused_partner_calls(since, now):
            partners.setdefault(row["pid"], HourlyTraffic()).add({**row, "accepted": 0}, now)
    since_text = since.isoformat()
    charts = []
    for pid, traffic in sorted(partners.items()):
        url = admin_list("postbacks_userpostback", pid__exact=pid, created_at__gte=since_text)
        refused_url = admin_list("rewardhub_refusedcall", pid__exact=pid, created_at__gte=since_text)
        charts.append(chart(f"Partner {pid}", traffic, url, refused_url if show_refused_partner_calls else None))
    by_integration = delivery_traffic(now)
    for integration in integrations.values():
        traffic = by_integration.get(integration.pk, HourlyTraffic())
        url = admin_list("postbacks_offerdelivery", integration__id__exact=integration.pk, received_at__gte=since_text)
        charts.append(chart(integration.name, traffic, url, url))  # the delivery log holds refused ones too
    return charts


def chart(label: str, traffic: HourlyTraffic, url: str, refused_url: str | None) -> dict:
    """24 stacked bars (accepted below, refused above) as SVG geometry: drawn server-side, no script. Without a
    list of the refused calls to link to, their count is not shown."""
    peak = max([a + r for a, r in zip(traffic.accepted, traffic.refused, strict=True)] + [1])
    bars = []
    for hour, (accepted, refused) in enumerate(zip(traffic.accepted, traffic.refused, strict=True)):
        accepted_height = round(CHART_HEIGHT * accepted / peak)
        refused_height = round(CHART_HEIGHT * refused / peak)
        bars.append(
            {
                "x": hour * 10,
                "accepted_y": CHART_HEIGHT - accepted_height,
                "accepted_height": accepted_height,
                "refused_y": CHART_HEIGHT - accepted_height - refused_height,
                "refused_height": refused_height,
                "title": f"{23 - hour} h ago: {accepted} accepted, {refused} refused",
            }
        )
    return {
        "label": label,
        "url": url,
        "accepted": traffic.total_accepted,
        "refused": traffic.total_refused if refused_url else None,
        "refused_url": refused_url,
        "last": traffic.last,
        "bars": bars,
        "height": CHART_HEIGHT,
    }
