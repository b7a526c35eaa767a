"""Offer-network callbacks: log the delivery, authenticate it, and apply its event to the ledger once.

Every event is keyed by integration + transaction id + state (the unique constraint on OfferConversion).
Events about one offer (its states, its reconciliations) form a chain; the user's row lock serialises
them, so a credit and its reversal arriving together are applied one after the other whatever the order.
"""

import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone

from ledger.models import LedgerEntry, RewardUser
from ledger.services import post_entry
from postbacks.ip_allowlist import ip_allowed
from postbacks.models import OfferConversion, OfferDelivery, OfferwallIntegration
from postbacks.networks import get_network
from postbacks.networks.base import (
    Action,
    BanEvent,
    CallbackRequest,
    ConversionEvent,
    InvalidCallback,
    Reply,
    Verdict,
)
from rewardhub import auth_throttle

MAX_COINS = 10**12  # far above any real reward; keeps a malformed value from overflowing a balance
Outcome = OfferConversion.Outcome


@dataclass(frozen=True)
class _Result:
    verdict: Verdict
    message: str
    transaction_id: str = ""
    user_id: uuid.UUID | None = None


@dataclass(frozen=True)
class _Effect:
    outcome: str
    available_delta: int = 0
    held_delta: int = 0


def receive_callback(
    *, integration: OfferwallIntegration, method: str, path: str, raw_query: str, source_ip: str | None
) -> Reply:
    """Log the delivery first (so even a crash leaves a trace), process it, then record the verdict."""
    delivery = OfferDelivery.objects.create(
        integration=integration, method=method, path=path, query=raw_query, source_ip=source_ip
    )
    url = f"{settings.PUBLIC_BASE_URL}{path}" + (f"?{raw_query}" if raw_query else "")
    result = _process(integration, CallbackRequest(url=url, params=QueryDict(raw_query)), source_ip, delivery)
    if result.verdict in (Verdict.BAD_SIGNATURE, Verdict.IP_REFUSED):
        auth_throttle.record_failure("offer", source_ip)
    reply = get_network(integration.provider).reply(result.verdict, result.message)
    OfferDelivery.objects.filter(pk=delivery.pk).update(
        verdict=result.verdict,
        message=result.message,
        transaction_id=result.transaction_id,
        user_id=result.user_id,
        response_status=reply.status,
        response_body=reply.body,
    )
    return reply


def _process(
    integration: OfferwallIntegration, request: CallbackRequest, source_ip: str | None, delivery: OfferDelivery
) -> _Result:
    network = get_network(integration.provider)
    if not ip_allowed(integration.ip_allowlist, source_ip):
        return _Result(Verdict.IP_REFUSED, f"Callbacks from {source_ip or 'an unknown address'} are not allowed.")
    if not network.verify(request, integration.secret):
        return _Result(Verdict.BAD_SIGNATURE, "The signature does not match.")
    if any("\x00" in value for _, values in request.params.lists() for value in values):
        # PostgreSQL text cannot hold NUL; no network sends one on purpose.
        return _Result(Verdict.INVALID, "Parameters cannot contain NUL characters.")
    repeated = next((name for name, values in request.params.lists() if len(values) > 1), None)
    if repeated is not None:
        # `?tx=1&tx=2`: the signature may cover both, the parser would read one; refuse rather than guess.
        return _Result(Verdict.INVALID, f"Parameter '{repeated[:40]}' is repeated; send each parameter once.")
    if "\ufffd" in request.url or any("\ufffd" in "".join([n, *vs]) for n, vs in request.params.lists()):
        # Bytes that are not UTF-8 arrive replaced by U+FFFD: two different ids could read the same.
        return _Result(Verdict.INVALID, "Parameters must be UTF-8.")
    try:
        event = network.parse(request)
    except InvalidCallback as exc:
        return _Result(Verdict.INVALID, str(exc))
    transaction_id = getattr(event, "transaction_id", "")
    if event.debug:
        return _Result(Verdict.ACCEPTED, "Debug callback: verified and logged, no coins moved.", transaction_id)
    user_id = _as_uuid(event.user_id)
    if isinstance(event, BanEvent):
        return _record_network_ban(integration, event, user_id)
    return _record_conversion(integration, event, user_id, delivery)


def _record_network_ban(integration: OfferwallIntegration, event: BanEvent, user_id: uuid.UUID | None) -> _Result:
    """For support to weigh; only an operator's ban (ledger.services.set_ban) blocks a user."""
    updated = user_id is not None and RewardUser.objects.filter(
        pk=user_id, store_app_id=integration.store_app_id
    ).update(
        network_ban_state=event.state,
        network_ban_reason=event.reason,
        network_ban_source=str(integration),
        network_ban_updated_at=timezone.now(),
    )
    if not updated:
        return _unknown_user(event.user_id)
    return _Result(Verdict.ACCEPTED, f"Network ban state recorded: {event.state}.", user_id=user_id)


def _record_conversion(
    integration: OfferwallIntegration, event: ConversionEvent, user_id: uuid.UUID | None, delivery: OfferDelivery
) -> _Result:
    if abs(event.amount) * integration.coin_rate >= MAX_COINS:
        return _Result(Verdict.INVALID, f"The amount {event.amount_received} is too large.", event.transaction_id)
    coins = to_coins(event.amount, integration.coin_rate)
    duplicate = _Result(
        Verdict.DUPLICATE, f"Already received {event.state} for this transaction.", event.transaction_id, user_id
    )
    with transaction.atomic():
        if user_id is None or not _lock_user(user_id, integration.store_app_id):
            return _unknown_user(event.user_id, event.transaction_id)
        chain = list(
            OfferConversion.objects.filter(
                integration=integration, user_id=user_id, original_transaction_id=event.original_transaction_id
            ).order_by("id")
        )
        if any(c.transaction_id == event.transaction_id and c.state == event.state for c in chain):
            return duplicate
        effect = _decide(event, coins, chain)
        try:
            # The savepoint keeps the transaction usable when a copy with another uid won the key.
            with transaction.atomic():
                conversion = OfferConversion.objects.create(
                    integration=integration,
                    transaction_id=event.transaction_id,
                    state=event.state,
                    user_id=user_id,
                    delivery=delivery,
                    action=event.action,
                    original_transaction_id=event.original_transaction_id,
                    amount_received=event.amount_received,
                    coins=coins,
                    outcome=effect.outcome,
                    available_delta=effect.available_delta,
                    held_delta=effect.held_delta,
                    details=event.details,
                )
        except IntegrityError:
            return duplicate
        entries = _post_effect(conversion, effect, chain)
        if entries:
            delivery.ledger_entries.add(*entries)
    return _Result(Verdict.ACCEPTED, conversion.get_outcome_display(), event.transaction_id, user_id)


def _decide(event: ConversionEvent, coins: int, chain: list[OfferConversion]) -> _Effect:
    """What this event does, given what earlier events of the same offer did. Only a credit ever makes
    coins available; a reversal takes back exactly what the chain holds or has made available."""
    held = sum(c.held_delta for c in chain)
    available = sum(c.available_delta for c in chain)
    corrections = [c for c in chain if c.action in (Action.REVERSE, Action.RECONCILE)]
    # The latest correction decides whether the offer currently stands reversed.
    reversed_now = bool(corrections) and (
        corrections[-1].action == Action.REVERSE or Decimal(corrections[-1].amount_received) < 0
    )
    credit = next((c for c in chain if c.action == Action.CREDIT), None)
    action = event.action
    if action == Action.RECONCILE:
        action = Action.REVERSE if event.amount < 0 else Action.CREDIT
        if action == Action.CREDIT:
            # A positive reconciliation restores what the original credit gave, if it stands reversed.
            if not (reversed_now and credit is not None and available == 0):
                return _Effect(Outcome.NO_CHANGE)
            return _Effect(Outcome.RE_CREDITED, available_delta=credit.coins)
    if action == Action.HOLD:
        if reversed_now or credit is not None:
            return _Effect(Outcome.NO_CHANGE)  # a late PENDING after the offer was settled
        return _Effect(Outcome.HELD, held_delta=coins)
    if action == Action.CREDIT:
        if reversed_now or credit is not None:
            return _Effect(Outcome.NO_CHANGE)  # rejected before it arrived, or already credited
        return _Effect(Outcome.CREDITED, available_delta=coins, held_delta=-held)
    if available > 0:
        return _Effect(Outcome.REVERSED, available_delta=-available, held_delta=-held)
    if held > 0:
        return _Effect(Outcome.RELEASED, held_delta=-held)
    return _Effect(Outcome.NOTHING_TO_REVERSE)


def _post_effect(conversion: OfferConversion, effect: _Effect, chain: list[OfferConversion]) -> list[LedgerEntry]:
    """The ledger entries for an effect: the held move first, then the available one; a negative entry
    references the chain's latest positive entry in the same balance."""
    entries = []
    for bucket, delta in (
        (LedgerEntry.Bucket.HELD, effect.held_delta),
        (LedgerEntry.Bucket.AVAILABLE, effect.available_delta),
    ):
        if not delta:
            continue
        reverses = None
        if delta < 0:
            reverses = (
                LedgerEntry.objects.filter(key__in=[_entry_key(c, bucket) for c in chain], amount__gt=0)
                .order_by("-id")
                .first()
            )
        entries.append(
            post_entry(
                user_id=conversion.user_id,
                amount=delta,
                kind=_KINDS[bucket, delta > 0],
                key=_entry_key(conversion, bucket),
                reference=f"offer_conversions:{conversion.pk}",
                reverses=reverses,
                bucket=bucket,
            )
        )
    return entries


_KINDS = {
    (LedgerEntry.Bucket.HELD, True): LedgerEntry.Kind.OFFER_HOLD,
    (LedgerEntry.Bucket.HELD, False): LedgerEntry.Kind.OFFER_HOLD_RELEASE,
    (LedgerEntry.Bucket.AVAILABLE, True): LedgerEntry.Kind.OFFER_CREDIT,
    (LedgerEntry.Bucket.AVAILABLE, False): LedgerEntry.Kind.OFFER_REVERSAL,
}


def _entry_key(conversion: OfferConversion, bucket: str) -> str:
    return f"offer_conversions:{conversion.pk}:{bucket}"


def to_coins(amount: Decimal, rate: Decimal) -> int:
    """Whole coins for a network amount, rounded half-up; the sign is the event's, not the coins'."""
    return int((abs(amount) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _lock_user(user_id: uuid.UUID, store_app_id: int) -> bool:
    return RewardUser.objects.select_for_update().filter(pk=user_id, store_app_id=store_app_id).exists()


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _unknown_user(user_id: str, transaction_id: str = "") -> _Result:
    return _Result(Verdict.UNKNOWN_USER, f"No user '{user_id[:100]}' in this app.", transaction_id)


@transaction.atomic
def mark_reviewed(*, conversions: QuerySet[OfferConversion], note: str, staff: AbstractBaseUser) -> int:
    """Support has looked at these reversals; records who, when and what they concluded.
    Returns how many were newly marked (already reviewed ones keep their first review)."""
    if not note.strip():
        raise ValueError("A review needs a note.")
    return conversions.filter(reviewed_at__isnull=True).update(
        reviewed_at=timezone.now(), reviewed_by=staff, review_note=note.strip()
    )
