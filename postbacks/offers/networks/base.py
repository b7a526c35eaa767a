"""What every offer-network adapter provides: verify a callback, parse it into one normalized event,
answer in the network's own format, and sign an example callback as the network would. The service
(`postbacks.offers.services`) does everything else."""

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.db import models


class Verdict(models.TextChoices):
    RECEIVED = "received", "Received (processing did not finish)"
    ACCEPTED = "accepted", "Accepted"
    DUPLICATE = "duplicate", "Duplicate"
    BAD_SIGNATURE = "bad_signature", "Bad signature"
    IP_REFUSED = "ip_refused", "IP refused"
    FORGED = "forged", "Forged (signature reused with other values)"
    INVALID = "invalid", "Invalid"
    UNKNOWN_USER = "unknown_user", "Unknown user"


class Action(StrEnum):
    """What a conversion event asks for, whatever the network calls it."""

    HOLD = "hold"  # a pending reward: held, not spendable
    CREDIT = "credit"  # make coins available (moving the hold, if any)
    REVERSE = "reverse"  # undo whatever this transaction credited or held
    RECONCILE = "reconcile"  # a signed correction of another transaction: negative reverses, positive re-credits


FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class CallbackRequest:
    url: str  # the public URL as the network sent it: PUBLIC_BASE_URL + path + "?" + raw query
    pairs: list[tuple[str, str]]  # every decoded parameter in the order sent, the query's then a form body's
    params: dict[str, str]  # each parameter's value: the last one if repeated (the service refuses a repeat)
    body: bytes = b""  # as sent: a network may sign it (AdGem v3's JSON) or post its parameters in it
    form_fields: int = 0  # how many of `pairs` came from a form body: a signature over the URL does not cover them
    meta: Mapping[str, str] = field(default_factory=dict)  # the request's META, for networks that sign in a header

    @classmethod
    def of(cls, url: str, raw_query: str, body: bytes = b"", meta: Mapping | None = None) -> "CallbackRequest":
        """Parameters decoded as Django's QueryDict decodes them (UTF-8 with undecodable bytes as U+FFFD, blank
        values kept, at most DATA_UPLOAD_MAX_NUMBER_FIELDS), into plain lists and dicts: read a few times and never
        changed, they need none of QueryDict's bookkeeping, which was a third of a callback's Python time. A form
        body's fields follow the query's (networks that POST a form: Kiwiwall, Revlum)."""
        meta = meta or {}
        form = body if meta.get("CONTENT_TYPE", "").startswith(FORM_CONTENT_TYPE) else b""
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        try:
            pairs = parse_qsl(raw_query, keep_blank_values=True, max_num_fields=limit)
            form_pairs = parse_qsl(form.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=limit)
        except ValueError:  # parse_qsl's only error here
            raise TooManyFieldsSent(f"A callback carries at most {limit} parameters.") from None
        if len(pairs) + len(form_pairs) > limit:
            raise TooManyFieldsSent(f"A callback carries at most {limit} parameters.")
        pairs += form_pairs
        return cls(url, pairs, dict(pairs), body, len(form_pairs), meta)

    def header(self, name: str) -> str:
        """A request header's value ("" when absent), by its HTTP name (`X-Ayetstudios-Security-Hash`)."""
        return self.meta.get("HTTP_" + name.upper().replace("-", "_"), "")


@dataclass(frozen=True)
class ConversionEvent:
    user_id: str
    transaction_id: str
    state: str  # with the integration and transaction id, the event's natural key
    action: Action
    amount: Decimal  # in the network's currency, signed as the network sent it
    amount_received: str
    original_transaction_id: str  # the transaction this event is about (itself, or `ref` for a reconciliation)
    signature: str  # as sent, lowercase: bound to this transaction and amount once accepted (postbacks.offers.services)
    debug: bool = False
    no_coins: str = ""  # why a verified event moves no coins although it is not a test (AdGem's installs)
    payout_usd: Decimal | None = None  # what the network says it pays for the event, where it sends it
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BanEvent:
    user_id: str
    state: str
    reason: str
    debug: bool = False


@dataclass(frozen=True)
class ExampleCallback:
    """A callback as the network would send it (OfferNetwork.example_callback)."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    transaction_id: str = ""  # the id the network sends, where not the one asked for (ayeT's reversals: `r-<id>`)


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: str


class InvalidCallback(Exception):
    """A verified callback whose parameters RewardHub cannot act on; the message is sent back."""


class OfferNetwork(ABC):
    """Subclass per network and expose an instance as `NETWORK` in `postbacks/offers/networks/<name>.py`."""

    name: str  # stored on the integration; never change it once integrations use it
    label: str
    signature_covers: str  # for operators: what a valid signature proves was sent by the network
    # Parameters the signature does not cover that still decide which coins move (Wannads' `status`): whoever
    # saw one callback can replay it with another value, so such a network needs an IP allowlist in production.
    unsigned_coin_parameters: tuple[str, ...] = ()
    # Whether an accepted signature is bound to its transaction and amount, its reuse with other values refused as
    # forged (postbacks.offers.services): for a signature that covers both but could verify another split of them
    # (fields concatenated without separators: Wannads, Revlum). Not for one over the whole callback, which verifies
    # no other (nothing to bind), nor for one that leaves the transaction id or the amount out, which genuine
    # callbacks share (binding would refuse them; the IP allowlist its unsigned parameters require guards those).
    binds_signature: bool = False
    # The addresses the network publishes for its callbacks: a new integration's allowlist starts with them.
    server_ips: tuple[str, ...] = ()

    # What the console's test callbacks (postbacks.admin) can send: {state as the network names it: what it does},
    # the usual credit first; and whether the network has a test flag (verified and logged, no coins moved).
    example_events: dict[str, str]
    has_test_flag: bool = False

    @property
    def needs_ip_allowlist(self) -> bool:
        return bool(self.unsigned_coin_parameters)

    @abstractmethod
    def verify(self, request: CallbackRequest, secret: str) -> bool:
        """True when the callback carries a valid signature made with `secret`."""

    @abstractmethod
    def signature(self, request: CallbackRequest) -> str:
        """The signature as sent, lowercase ("" when absent)."""

    @abstractmethod
    def parse(self, request: CallbackRequest) -> ConversionEvent | BanEvent:
        """The one normalized event a verified callback describes; raises InvalidCallback."""

    @abstractmethod
    def reply(self, verdict: Verdict, message: str) -> Reply:
        """The answer in the network's format, so its retry logic does the right thing."""

    @abstractmethod
    def throttled(self, message: str) -> Reply:
        """A 429 in the network's format, for an IP that failed authentication too often (no delivery is logged)."""

    @abstractmethod
    def callback_templates(self, callback_url: str) -> dict[str, str]:
        """{purpose: URL template to paste into the network's dashboard}."""

    @abstractmethod
    def example_callback(
        self, *, callback_url: str, secret: str, user_id: str, transaction_id: str, event: str, amount: str, test: bool
    ) -> ExampleCallback:
        """The request this network sends for `event` (a key of example_events), signed with `secret` as the network
        signs, for the console's test callbacks and `manage.py signed_examples`. `test` raises the network's test
        flag (only where has_test_flag)."""


EXAMPLE_OFFER_NAME = "RewardHub example callback"  # the offer name examples carry: support sees where one came from
MAX_ID_LENGTH = 200  # user and transaction ids are stored in columns this wide
# Amounts below 10**16: at the lowest coin rate (0.0001) that is already more coins than any balance may take,
# and it keeps every later product and rounding far inside Decimal's range (9e999999999 overflowed it: a 500).
MAX_AMOUNT_DIGITS = 16


def required(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise InvalidCallback(f"Missing parameter '{name}'.")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidCallback(f"Parameter '{name}' is longer than {MAX_ID_LENGTH} characters.")
    return value


def decimal_param(params: dict[str, str], name: str) -> tuple[Decimal, str]:
    raw = required(params, name)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if len(raw) > 40 or value is None or not value.is_finite():
        raise InvalidCallback(f"Parameter '{name}' must be a number, got '{raw[:40]}'.")
    if value.adjusted() >= MAX_AMOUNT_DIGITS:
        raise InvalidCallback(f"Parameter '{name}' is out of range, got '{raw}'.")
    return value, raw


def optional_payout(params: dict[str, str], name: str) -> Decimal | None:
    """The USD payout a network reports beside the coins, kept for revenue figures; a missing or malformed one is
    recorded as unknown rather than refusing the coins it came with."""
    try:
        value = Decimal(params.get(name, ""))
    except InvalidOperation:
        return None
    return value if value.is_finite() and value.adjusted() < 10 else None


def optional_details(params: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {name: params[name] for name in names if params.get(name)}
