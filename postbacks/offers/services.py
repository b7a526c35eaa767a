"""Offer-network callbacks: authenticate the delivery, apply its event to the ledger once, log it with its verdict.

Every event is keyed by integration + transaction id + state (the unique constraint on OfferConversion).
Events about one offer (its states, its reconciliations) form a chain. Each event is decided from the chain as
read, and recorded at the next chain position; the position is unique, so when two events of one offer race,
one of them finds its position taken, nothing of it is written, and it is read and decided again. Whatever the
order, a credit and its reversal are applied one after the other.

A successful event costs two round trips: one query reads the integration, the user and the offer's chain, and
one statement writes the conversion, which carries the delivery's log, and its ledger entries. Every other
verdict is one INSERT of the delivery after the read. The first event of an offer, nearly all of the traffic, usually
costs one: a process that has read the integration decides it from an empty chain and writes it with a
statement that checks everything the read would have (see _RECORD_SQL); when a check fails, nothing is
written and the event takes the full path.
"""

import json
import logging
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ledger.models import LedgerEntry, RewardUser
from postbacks.models import CONVERSION_ENTRY_KEY, OfferConversion
from postbacks.offers.networks import get_network
from postbacks.offers.networks.base import (
    Action,
    BanEvent,
    CallbackRequest,
    ConversionEvent,
    InvalidCallback,
    Reply,
    Verdict,
)
from rewardhub import auth_throttle, metrics
from rewardhub.crypto import decrypt
from rewardhub.db import Database
from rewardhub.ip_allowlist import ip_allowed

logger = logging.getLogger(__name__)

MAX_COINS = 10**12  # far above any real reward; keeps a malformed value from overflowing a balance
MAX_ATTEMPTS = 10  # each failed attempt means another event of the same offer was recorded meanwhile
BANNED_MESSAGE = "The user is banned by an operator: recorded without coins."
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


@dataclass(frozen=True)
class _Integration:
    id: int
    name: str
    provider: str
    store_app_id: int
    secret: str
    ip_allowlist: str
    coin_rate: Decimal
    version: str  # the row's xmin as read: the first-event statement checks it is unchanged

    def __str__(self):
        return f"{self.name} ({get_network(self.provider).label})"


class _ChainEvent(NamedTuple):
    """An earlier event of the same offer, as _decide needs it."""

    id: int
    transaction_id: str
    state: str
    action: str
    amount_received: str
    coins: int
    available_delta: int
    held_delta: int
    available_entry_id: int | None  # the ledger entry it wrote in each balance, if it moved that balance
    held_entry_id: int | None


@dataclass(frozen=True)
class _Snapshot:
    """What one read returned: the integration and, for the event's user and offer, what is recorded."""

    integration: _Integration
    user_exists: bool
    user_banned: bool
    signed_for: tuple[str, str] | None  # (transaction id, amount) an accepted event with this signature carried
    chain: list[_ChainEvent]  # in the order they were recorded


@dataclass(frozen=True)
class _Delivery:
    method: str
    path: str
    query: str
    body: str
    source_ip: str | None


# Each slug's integration as this process last read it. Its network lets the one read also fetch the event's
# user and offer (which parameters name them depends on the network), and lets the first event of an offer skip
# the read. Only a hint: the read returns the integration as it is, the first-event statement writes nothing
# unless the integration is still as cached, and a missing or stale entry costs one more read.
_integrations: dict[str, _Integration] = {}


async def receive_callback(
    *,
    db: Database,
    slug: str,
    method: str,
    path: str,
    raw_query: str,
    body: bytes,
    meta: Mapping[str, str],
    source_ip: str | None,
) -> Reply | None:
    """Process one delivery and log it with its verdict. None when no integration has this slug. `meta` is the
    request's META, for networks that sign in a header."""
    delivery = _Delivery(method, path, raw_query, _logged_body(body), source_ip)
    url = f"{settings.PUBLIC_BASE_URL}{path}" + (f"?{raw_query}" if raw_query else "")
    request = CallbackRequest.of(url, raw_query, body, meta)
    snapshot = None
    try:
        if (cached := _integrations.get(slug)) and (reply := await _record_first_event(db, cached, request, delivery)):
            return reply
        for _ in range(MAX_ATTEMPTS):
            event, snapshot = await _read(db, slug, request)
            if snapshot is None:
                return None
            network = get_network(snapshot.integration.provider)
            result = await _refusal(db, snapshot, request, event, source_ip)
            if result is not None:
                # Not a forgery: it needs a captured signature, not guesses, and two genuine Wannads callbacks can
                # share one (`tx-12` + `34`, `tx-123` + `4`), which must not get the network's address blocked.
                if result.verdict in (Verdict.BAD_SIGNATURE, Verdict.IP_REFUSED):
                    await auth_throttle.arecord_failure("offer", source_ip)
                reply = network.reply(result.verdict, result.message)
                await _log_delivery(db, snapshot.integration, delivery, result, reply)
                return reply
            if reply := await _accept(db, snapshot, event, delivery):
                return reply
            if await db.orm(_key_taken, snapshot.integration, event):
                result = _duplicate(event)
                reply = network.reply(result.verdict, result.message)
                await _log_delivery(db, snapshot.integration, delivery, result, reply)
                return reply
        raise RuntimeError(f"Gave up after {MAX_ATTEMPTS} attempts: the offer kept changing.")
    except Exception:
        # Every delivery is logged, a failed one too (verdict received); its conversion write, if any, rolled back.
        snapshot = snapshot or await _select(db, slug, None)  # the cached integration may be gone
        if snapshot is not None:
            failed = _Result(Verdict.RECEIVED, "Processing failed; the network may retry.")
            await _log_delivery(db, snapshot.integration, delivery, failed, Reply(500, "text/plain", ""))
        raise


LOGGED_BODY_CHARS = 4096  # as much as a request line may carry in its query: a refused body costs no more to log


def _logged_body(body: bytes) -> str:
    """The body as the delivery log keeps it: text PostgreSQL can store, and no more of it than a query could be."""
    return body[: LOGGED_BODY_CHARS * 4].decode("utf-8", "replace")[:LOGGED_BODY_CHARS].replace("\x00", "\ufffd")


async def _accept(
    db: Database, snapshot: _Snapshot, event: ConversionEvent, delivery: _Delivery, *, first: bool = False
) -> Reply | None:
    """Decide the event from the snapshot and record it; None, with nothing written, when the snapshot is out of
    date (another event of the offer, or this key, was recorded meanwhile; for a first event, see
    _RECORD_SQL)."""
    integration = snapshot.integration
    coins = to_coins(event.amount, integration.coin_rate)
    effect = _decide(event, coins, snapshot.chain, snapshot.user_banned)
    message = BANNED_MESSAGE if effect.outcome == Outcome.USER_BANNED else Outcome(effect.outcome).label
    result = _Result(Verdict.ACCEPTED, message, event.transaction_id, _as_uuid(event.user_id))
    reply = get_network(integration.provider).reply(result.verdict, result.message)
    row = _delivery_row(db, integration, delivery, result, reply)
    return reply if await _record_conversion(db, snapshot, event, coins, effect, row, first=first) else None


async def _record_first_event(
    db: Database, integration: _Integration, request: CallbackRequest, delivery: _Delivery
) -> Reply | None:
    """A conversion event for a cached integration, decided as the first of its offer for a user who is not
    banned, and written only if all of that holds. None when it does not apply or did not hold: every refusal,
    duplicate, debug or ban callback, and every later event of an offer, takes the full path."""
    event = _parse(integration.provider, request)
    if not isinstance(event, ConversionEvent) or event.debug or event.no_coins:
        return None
    assumed = _Snapshot(integration, user_exists=True, user_banned=False, signed_for=None, chain=[])
    if await _refusal(db, assumed, request, event, delivery.source_ip) is not None:
        return None
    return await _accept(db, assumed, event, delivery, first=True)


Parsed = ConversionEvent | BanEvent | InvalidCallback


async def _read(db: Database, slug: str, request: CallbackRequest) -> tuple[Parsed | None, _Snapshot | None]:
    cached = _integrations.get(slug)
    provider = cached.provider if cached else None
    event = _parse(provider, request) if provider else None
    snapshot = await _select(db, slug, event)
    if snapshot is not None and snapshot.integration.provider != provider:
        event = _parse(snapshot.integration.provider, request)
        snapshot = await _select(db, slug, event)
    return event, snapshot


def _parse(provider: str, request: CallbackRequest) -> Parsed | None:
    """The event, or why it cannot be parsed (answered only after the callback is authenticated). None when a
    parameter holds NUL, which PostgreSQL text cannot: refused after authentication without being parsed."""
    if any("\x00" in value for _, value in request.pairs):
        return None
    try:
        return get_network(provider).parse(request)
    except InvalidCallback as exc:
        return exc


_SELECT = """
SELECT i.id, i.name, i.provider, i.store_app_id, i.secret, i.ip_allowlist, i.coin_rate, i.xmin::text,
       u.id IS NOT NULL, u.banned_at IS NOT NULL, s.transaction_id, s.amount_received,
       c.id, c.transaction_id, c.state, c.action, c.amount_received, c.coins, c.available_delta, c.held_delta,
       available.id, held.id
FROM offerwall_integrations i
LEFT JOIN users u ON u.id = %(uid)s AND u.store_app_id = i.store_app_id
LEFT JOIN offer_signatures s ON s.integration_id = i.id AND s.signature = %(signature)s
LEFT JOIN offer_conversions c
    ON c.integration_id = i.id AND c.user_id = u.id AND c.original_transaction_id = %(original)s
LEFT JOIN ledger_entries available ON available.key = format(%(entry_key)s, c.id, 'available')
LEFT JOIN ledger_entries held ON held.key = format(%(entry_key)s, c.id, 'held')
WHERE i.slug = %(slug)s
"""


async def _select(db: Database, slug: str, event: Parsed | None) -> _Snapshot | None:
    """One query, kept simple because planning it is much of its cost: the integration, and for a conversion
    event its user and the offer's recorded events with their ledger entries. No lock: the unique chain position
    catches an event recorded after this read."""
    conversion = event if isinstance(event, ConversionEvent) else None
    uid = _as_uuid(event.user_id) if isinstance(event, ConversionEvent | BanEvent) else None
    params = {
        "slug": slug,
        "uid": uid,
        "original": conversion.original_transaction_id if conversion else None,
        "signature": conversion.signature if conversion else None,
        "entry_key": CONVERSION_ENTRY_KEY,
    }
    rows = await db.fetchall(_SELECT, params)
    if not rows:
        return None
    first = rows[0]
    integration_id, name, provider, store_app_id, secret, allowlist, coin_rate, version = first[:8]
    integration = _Integration(
        integration_id, name, provider, store_app_id, decrypt(secret), allowlist, Decimal(str(coin_rate)), version
    )
    _integrations[slug] = integration
    return _Snapshot(
        integration=integration,
        user_exists=bool(first[8]),
        user_banned=bool(first[9]),
        signed_for=None if first[10] is None else (first[10], first[11]),
        chain=sorted((_ChainEvent(*row[12:]) for row in rows if row[12] is not None), key=lambda event: event.id),
    )


async def _refusal(
    db: Database, snapshot: _Snapshot, request: CallbackRequest, event: Parsed | None, source_ip: str | None
) -> _Result | None:
    """The verdict of a delivery that records no conversion (a refusal, a duplicate, a debug or ban callback),
    or None when the event is to be recorded. Only a verified ban callback writes (the network's ban state)."""
    integration = snapshot.integration
    refusal = _unauthenticated(integration, request, source_ip) or _unreadable(request, event)
    if refusal is not None:
        return refusal
    if isinstance(event, BanEvent) and not event.debug:
        return await db.orm(_record_network_ban, integration, event, _as_uuid(event.user_id))
    return _not_to_record(snapshot, event)


def _unauthenticated(integration: _Integration, request: CallbackRequest, source_ip: str | None) -> _Result | None:
    if not ip_allowed(integration.ip_allowlist, source_ip):
        return _Result(Verdict.IP_REFUSED, f"Callbacks from {source_ip or 'an unknown address'} are not allowed.")
    if not get_network(integration.provider).verify(request, integration.secret):
        return _Result(Verdict.BAD_SIGNATURE, "The signature does not match.")
    return None


def _unreadable(request: CallbackRequest, event: Parsed | None) -> _Result | None:
    """Why an authenticated callback cannot be acted on, if it cannot."""
    if event is None:  # only when a parameter holds NUL (see _read); no network sends one on purpose
        return _Result(Verdict.INVALID, "Parameters cannot contain NUL characters.")
    if len(request.params) < len(request.pairs):
        # `?tx=1&tx=2`: the signature may cover both, the parser would read one; refuse rather than guess.
        repeated = next(name for name, count in Counter(name for name, _ in request.pairs).items() if count > 1)
        return _Result(Verdict.INVALID, f"Parameter '{repeated[:40]}' is repeated; send each parameter once.")
    if "\ufffd" in request.url or any("\ufffd" in name or "\ufffd" in value for name, value in request.pairs):
        # Bytes that are not UTF-8 arrive replaced by U+FFFD: two different ids could read the same.
        return _Result(Verdict.INVALID, "Parameters must be UTF-8.")
    if isinstance(event, InvalidCallback):
        return _Result(Verdict.INVALID, str(event))
    return None


def _not_to_record(snapshot: _Snapshot, event: ConversionEvent | BanEvent) -> _Result | None:
    """The verdict of a readable event that records no conversion: a forgery, a debug callback, an amount out of
    range, an unknown user, a duplicate; None when it is to be recorded."""
    transaction_id = getattr(event, "transaction_id", "")
    if snapshot.signed_for not in (None, (transaction_id, getattr(event, "amount_received", None))):
        return _Result(Verdict.FORGED, "This signature was already used with other values.", transaction_id)
    if event.debug:
        return _Result(Verdict.ACCEPTED, "Debug callback: verified and logged, no coins moved.", transaction_id)
    if getattr(event, "no_coins", ""):
        return _Result(Verdict.ACCEPTED, event.no_coins, transaction_id)
    if abs(event.amount) * snapshot.integration.coin_rate >= MAX_COINS:
        return _Result(Verdict.INVALID, f"The amount {event.amount_received} is too large.", transaction_id)
    if not snapshot.user_exists:
        return _unknown_user(event.user_id, transaction_id)
    if any(c.transaction_id == transaction_id and c.state == event.state for c in snapshot.chain):
        return _duplicate(event)
    return None


def _duplicate(event: ConversionEvent) -> _Result:
    return _Result(
        Verdict.DUPLICATE,
        f"Already received {event.state} for this transaction.",
        event.transaction_id,
        _as_uuid(event.user_id),
    )


def _key_taken(integration: _Integration, event: ConversionEvent) -> bool:
    """The event's key is recorded, maybe for another user (so not in the chain read): a duplicate too."""
    return OfferConversion.objects.filter(
        integration_id=integration.id, transaction_id=event.transaction_id, state=event.state
    ).exists()


def _record_network_ban(integration: _Integration, event: BanEvent, user_id: uuid.UUID | None) -> _Result:
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


@dataclass(frozen=True)
class _Offer:
    """What the earlier events of one offer add up to."""

    held: int
    available: int
    reversed_now: bool  # the latest correction (reversal or reconciliation) took the offer back
    credit: _ChainEvent | None  # the offer's credit, if one was recorded

    @classmethod
    def of(cls, chain: list[_ChainEvent]) -> "_Offer":
        corrections = [c for c in chain if c.action in (Action.REVERSE, Action.RECONCILE)]
        return cls(
            held=sum(c.held_delta for c in chain),
            available=sum(c.available_delta for c in chain),
            reversed_now=bool(corrections)
            and (corrections[-1].action == Action.REVERSE or Decimal(corrections[-1].amount_received) < 0),
            credit=next((c for c in chain if c.action == Action.CREDIT), None),
        )

    @property
    def settled(self) -> bool:
        return self.reversed_now or self.credit is not None


def _decide(event: ConversionEvent, coins: int, chain: list[_ChainEvent], banned: bool) -> _Effect:
    """What this event does, given what earlier events of the same offer did. Only a credit ever makes
    coins available; a reversal takes back exactly what the chain holds or has made available. A user an
    operator banned gets nothing held or credited; reversals still apply."""
    offer = _Offer.of(chain)
    if event.action == Action.HOLD:
        return _hold(offer, coins, banned)
    if event.action == Action.CREDIT:
        return _credit(offer, coins, banned)
    if event.action == Action.RECONCILE and event.amount >= 0:
        return _re_credit(offer, banned)
    return _reverse(offer)


def _hold(offer: _Offer, coins: int, banned: bool) -> _Effect:
    if offer.settled:
        return _Effect(Outcome.NO_CHANGE)  # a late PENDING after the offer was settled
    if banned:
        return _Effect(Outcome.USER_BANNED)
    return _Effect(Outcome.HELD, held_delta=coins)


def _credit(offer: _Offer, coins: int, banned: bool) -> _Effect:
    if offer.settled:
        return _Effect(Outcome.NO_CHANGE)  # rejected before it arrived, or already credited
    if banned:
        # Withheld, not deferred: the offer's credit is decided, so a later unban pays nothing for it.
        return _Effect(Outcome.USER_BANNED, held_delta=-offer.held)
    return _Effect(Outcome.CREDITED, available_delta=coins, held_delta=-offer.held)


def _re_credit(offer: _Offer, banned: bool) -> _Effect:
    """A positive reconciliation restores what the original credit gave, if it stands reversed."""
    credit = offer.credit
    if not (offer.reversed_now and credit is not None and credit.available_delta > 0 and offer.available == 0):
        return _Effect(Outcome.NO_CHANGE)
    if banned:
        return _Effect(Outcome.USER_BANNED)
    return _Effect(Outcome.RE_CREDITED, available_delta=credit.available_delta)


def _reverse(offer: _Offer) -> _Effect:
    if offer.available > 0:
        return _Effect(Outcome.REVERSED, available_delta=-offer.available, held_delta=-offer.held)
    if offer.held > 0:
        return _Effect(Outcome.RELEASED, held_delta=-offer.held)
    return _Effect(Outcome.NOTHING_TO_REVERSE)


async def _record_conversion(
    db: Database,
    snapshot: _Snapshot,
    event: ConversionEvent,
    coins: int,
    effect: _Effect,
    delivery: dict,
    *,
    first: bool,
) -> bool:
    """Write the conversion, with its delivery's log, and its ledger entries in one statement (_RECORD_SQL). False,
    with nothing written, when another event of the offer took this chain position or this key meanwhile, or (a
    first event) when what it was decided from did not hold."""
    integration, chain = snapshot.integration, snapshot.chain
    params = {
        **delivery,
        "integration": integration.id,
        "transaction_id": event.transaction_id,
        "state": event.state,
        "user": delivery["delivery_user"],
        "action": event.action.value,
        "original": event.original_transaction_id,
        "amount_received": event.amount_received,
        "payout_usd": event.payout_usd,
        "coins": coins,
        "outcome": effect.outcome,
        "available_delta": effect.available_delta,
        "held_delta": effect.held_delta,
        "details": json.dumps(event.details),
        "signature": _bound_signature(integration, event),
        "chain_position": len(chain) + 1,
        "first_event": first,
        "integration_version": integration.version if first else None,
        "entry_key": CONVERSION_ENTRY_KEY,
        "held_kind": _KINDS[LedgerEntry.Bucket.HELD, effect.held_delta > 0],
        "available_kind": _KINDS[LedgerEntry.Bucket.AVAILABLE, effect.available_delta > 0],
        "held_reverses": _reversed_entry(effect.held_delta, [(c.held_delta, c.held_entry_id) for c in chain]),
        "available_reverses": _reversed_entry(
            effect.available_delta, [(c.available_delta, c.available_entry_id) for c in chain]
        ),
    }
    recorded = await db.fetchone(_RECORD_SQL_BYTES, params) is not None
    if recorded:
        _count_delivery(integration, delivery["verdict"])
        metrics.coins_moved("offer", effect.available_delta)
    return recorded


# One event, written in one statement:
# - checked: for a first event (decided without a read, see receive_callback), what the read would have checked: the
#   integration is still as this process cached it (its row's xmin, which every update by another transaction
#   changes: an operator's; the hot paths never run inside one), so the signature was checked with the current
#   secret, the address with the current allowlist, the coins counted at the current rate; and the user is in the
#   integration's app and not banned. No row, so nothing written, when that does not hold. That the offer has no
#   event yet is checked by the conversion's ON CONFLICT on chain position 1.
# - signature: where the network's signature is bound to its event (OfferNetwork.binds_signature), binds it to its
#   transaction and amount (OfferSignature), or confirms the binding; no row when it is bound to other values (a
#   forgery, refused on the full path), and then no conversion. A no-op update rather than DO NOTHING: it returns
#   the row, and waits for a concurrent binding to commit first.
# - conversion: claims the event's key and chain position (ON CONFLICT DO NOTHING), with the delivery's log (its
#   request, verdict message and our answer: an accepted delivery has no row of its own, see OfferDelivery) and, by
#   the column's default, the next number of the delivery log. Everything after it is written from its RETURNING
#   row, so a conversion that lost writes nothing at all. Foreign keys are checked at commit.
# - entries: what the event moves in each balance, through ledger_post (the ledger's posting rule, ledger migration
#   0009); a negative move names the entry it reverses (_reversed_entry). Not a data-modifying CTE: it runs because
#   the final SELECT reads it.
_RECORD_SQL = """
WITH checked AS (
    SELECT WHERE NOT %(first_event)s OR EXISTS (
        SELECT FROM offerwall_integrations i JOIN users u ON u.store_app_id = i.store_app_id
        WHERE i.id = %(integration)s AND i.xmin = %(integration_version)s::xid
          AND u.id = %(user)s AND u.banned_at IS NULL
    )
),
signature AS (
    INSERT INTO offer_signatures AS bound (integration_id, signature, transaction_id, amount_received)
    SELECT %(integration)s, %(signature)s, %(transaction_id)s, %(amount_received)s
    FROM checked WHERE %(signature)s::varchar IS NOT NULL
    ON CONFLICT (integration_id, signature) DO UPDATE SET signature = EXCLUDED.signature
    WHERE bound.transaction_id = EXCLUDED.transaction_id AND bound.amount_received = EXCLUDED.amount_received
    RETURNING 1
),
conversion AS (
    INSERT INTO offer_conversions (
        integration_id, transaction_id, state, user_id, action, original_transaction_id,
        amount_received, payout_usd, coins, outcome, available_delta, held_delta, details, chain_position,
        review_note, method, path, query, body, source_ip, message, response_status, response_body
    )
    SELECT %(integration)s, %(transaction_id)s, %(state)s, %(user)s, %(action)s, %(original)s,
           %(amount_received)s, %(payout_usd)s, %(coins)s, %(outcome)s, %(available_delta)s, %(held_delta)s,
           %(details)s, %(chain_position)s, '', %(method)s, %(path)s, %(query)s, %(body)s, %(source_ip)s,
           %(message)s, %(response_status)s, %(response_body)s
    FROM checked WHERE %(signature)s::varchar IS NULL OR EXISTS (SELECT FROM signature)
    ON CONFLICT DO NOTHING
    RETURNING id, user_id
),
entries AS (
    SELECT entry.entry_id
    FROM conversion
    CROSS JOIN (VALUES
        (%(held_delta)s::bigint, %(held_kind)s, 'held', %(held_reverses)s::bigint),
        (%(available_delta)s::bigint, %(available_kind)s, 'available', %(available_reverses)s::bigint)
    ) AS move (amount, kind, bucket, reverses_id)
    CROSS JOIN LATERAL ledger_post(
        user_id => conversion.user_id, amount => move.amount, kind => move.kind, bucket => move.bucket,
        key => format(%(entry_key)s, conversion.id, move.bucket), reference => 'offer_conversions:' || conversion.id,
        reverses_id => move.reverses_id
    ) AS entry
    WHERE move.amount <> 0
)
SELECT id, (SELECT count(*) FROM entries) AS entries_written FROM conversion
"""


def _reversed_entry(delta: int, moves: list[tuple[int, int | None]]) -> int | None:
    """The entry a negative move in one balance reverses: the latest that added to it, of the offer's earlier
    events' (delta, entry id) in that balance. None for any other move. A negative move is only decided from a
    chain that was read, with its entries: the unique chain position keeps them current until it is written."""
    if delta >= 0:
        return None
    return max((entry_id for moved, entry_id in moves if moved > 0), default=None)


def _bound_signature(integration: _Integration, event: ConversionEvent) -> str | None:
    """The signature to bind to the event's transaction and amount, or None where the network's is not bound
    (OfferNetwork.binds_signature)."""
    return event.signature if get_network(integration.provider).binds_signature else None


# Encoded once: psycopg would encode (and hash, for its statement cache) the text on every call.
_RECORD_SQL_BYTES = _RECORD_SQL.encode()

_LOG_DELIVERY_SQL = """
INSERT INTO offer_deliveries_without_conversion (
    integration_id, method, path, query, body, source_ip, verdict, message, transaction_id, user_id,
    response_status, response_body
)
VALUES (
    %(integration)s, %(method)s, %(path)s, %(query)s, %(body)s, %(source_ip)s, %(verdict)s, %(message)s,
    %(delivery_transaction_id)s, %(delivery_user)s, %(response_status)s, %(response_body)s
)
"""


def _delivery_row(
    db: Database, integration: _Integration, delivery: _Delivery, result: _Result, reply: Reply
) -> dict:
    return {
        "integration": integration.id,
        "method": delivery.method,
        "path": delivery.path,
        "query": delivery.query,
        "body": delivery.body,
        "source_ip": delivery.source_ip,
        "verdict": result.verdict.value,
        "message": result.message,
        "delivery_transaction_id": result.transaction_id,
        "delivery_user": result.user_id,
        "response_status": reply.status,
        "response_body": reply.body,
    }


async def _log_delivery(
    db: Database, integration: _Integration, delivery: _Delivery, result: _Result, reply: Reply
) -> None:
    """A delivery that records no conversion: one INSERT with its final verdict."""
    await db.execute(_LOG_DELIVERY_SQL, _delivery_row(db, integration, delivery, result, reply))
    _count_delivery(integration, result.verdict)


def _count_delivery(integration: _Integration, verdict: str) -> None:
    """Once the delivery's row is written (rewardhub.metrics)."""
    metrics.outcome.set(verdict)
    metrics.count(metrics.OFFER_DELIVERIES, integration.provider, str(integration.id), verdict)


_KINDS = {
    (LedgerEntry.Bucket.HELD, True): LedgerEntry.Kind.OFFER_HOLD,
    (LedgerEntry.Bucket.HELD, False): LedgerEntry.Kind.OFFER_HOLD_RELEASE,
    (LedgerEntry.Bucket.AVAILABLE, True): LedgerEntry.Kind.OFFER_CREDIT,
    (LedgerEntry.Bucket.AVAILABLE, False): LedgerEntry.Kind.OFFER_REVERSAL,
}


def to_coins(amount: Decimal, rate: Decimal) -> int:
    """Whole coins for a network amount, rounded half-up; the sign is the event's, not the coins'."""
    return int((abs(amount) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


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
