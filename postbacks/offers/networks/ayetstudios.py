"""ayeT-Studios offerwall callbacks: GET, every query parameter signed in the `X-Ayetstudios-Security-Hash` header.

Sources: docs.ayetstudios.com, "Offerwall Callbacks" (macros, `r-` reversals, "reply HTTP 200, else 12 retries over
one hour"), "HMAC Security Hash" and "IP Whitelist" (2025-01-30); three public integrations agree.

The hash is hex HMAC-SHA256, keyed with the publisher API key, of the query's parameters with their keys sorted as
PHP's `ksort($params, SORT_STRING)` sorts them (byte order), joined as PHP's `http_build_query($params, '', '&')`
joins them. Decisions where the sources differ:
- Encoding: the docs' JavaScript sample re-encodes with URLSearchParams, which keeps `*` where PHP writes `%2A`, and
  sorts keys with localeCompare; one copy of the PHP sample URL-encodes each value before http_build_query (encoded
  twice). We build it exactly as PHP's documented sample does, the form the brief and ayeT's own PHP take. The
  twice-encoded form is refused on purpose: it would let a hash made for the user `a b` verify for the user `a+b`.
  The forms agree on everything ayeT sends (lowercase keys, hex ids, numbers).
- Reversals: either documented signal, `is_chargeback=1` or an `r-` prefixed transaction id, is a reversal of the
  transaction without the prefix; its own id (`r-…`) keys it, so its retries are duplicates.
- Replies: 200 `OK` for accepted deliveries and duplicates; a refusal is a 4xx, so ayeT retries it for an hour while
  an operator fixes the key or the allowlist.
The hash covers the parameters, not the URL's path: two integrations sharing one ayeT API key accept each other's
callbacks (each for users of its own app only).
"""

import hashlib
import hmac
from urllib.parse import quote_plus, urlencode

from postbacks.offers.networks.base import (
    EXAMPLE_OFFER_NAME,
    Action,
    CallbackRequest,
    ConversionEvent,
    ExampleCallback,
    InvalidCallback,
    OfferNetwork,
    Reply,
    Verdict,
    decimal_param,
    optional_details,
    optional_payout,
    required,
)

HASH_HEADER = "X-Ayetstudios-Security-Hash"
REVERSAL_PREFIX = "r-"
DETAILS = ("offer_id", "offer_name", "chargeback_reason", "chargeback_date")
_STATUS = {
    Verdict.BAD_SIGNATURE: 403,
    Verdict.IP_REFUSED: 403,
    Verdict.FORGED: 403,
    Verdict.INVALID: 400,
    Verdict.UNKNOWN_USER: 404,
}


class AyetStudios(OfferNetwork):
    name = "ayetstudios"
    label = "ayeT-Studios"
    signature_covers = (
        "every query parameter (the X-Ayetstudios-Security-Hash header: HMAC-SHA256 with the publisher API key of "
        "the parameters sorted by name); not the URL's path"
    )
    server_ips = (
        "51.79.101.241",
        "158.69.185.134",
        "158.69.185.154",
        "35.165.166.40",
        "35.166.159.131",
        "52.40.3.140",
    )
    example_events = {
        "conversion": "conversion: an offer completed (credit)",
        "chargeback": "chargeback: a reversal callback, id prefixed r- (reverses what the conversion credited)",
    }  # and no test flag: every callback moves coins

    def verify(self, request: CallbackRequest, secret: str) -> bool:
        if request.form_fields:  # ayeT sends GET: the hash is over the query, not a form body's fields
            return False
        expected = security_hash(secret, request.pairs)
        return hmac.compare_digest(expected.encode(), self.signature(request).encode())

    def signature(self, request: CallbackRequest) -> str:
        return request.header(HASH_HEADER).lower()

    def parse(self, request: CallbackRequest) -> ConversionEvent:
        params = request.params
        user_id = required(params, "external_identifier")
        transaction_id = required(params, "transaction_id")
        amount, amount_received = decimal_param(params, "currency_amount")
        flag = params.get("is_chargeback", "")
        if flag not in ("", "0", "1"):
            raise InvalidCallback(f"Parameter 'is_chargeback' must be 0 or 1, got '{flag[:40]}'.")
        chargeback = flag == "1" or transaction_id.startswith(REVERSAL_PREFIX)
        if chargeback:
            original = transaction_id.removeprefix(REVERSAL_PREFIX)
            if not original:
                raise InvalidCallback(f"A chargeback's transaction id names no conversion: '{transaction_id}'.")
        elif amount < 0:
            raise InvalidCallback("A conversion cannot have a negative 'currency_amount'.")
        return ConversionEvent(
            user_id=user_id,
            transaction_id=transaction_id,
            state="chargeback" if chargeback else "conversion",
            action=Action.REVERSE if chargeback else Action.CREDIT,
            amount=amount,
            amount_received=amount_received,
            original_transaction_id=original if chargeback else transaction_id,
            signature=self.signature(request),
            payout_usd=optional_payout(params, "payout_usd"),
            details=optional_details(params, DETAILS),
        )

    def reply(self, verdict: Verdict, message: str) -> Reply:
        if verdict in (Verdict.ACCEPTED, Verdict.DUPLICATE):
            return Reply(200, "text/plain", "OK")
        return Reply(_STATUS[verdict], "text/plain", f"ERROR: {message}")

    def throttled(self, message: str) -> Reply:
        return Reply(429, "text/plain", f"ERROR: {message}")

    def callback_templates(self, callback_url: str) -> dict[str, str]:
        query = (
            "transaction_id={transaction_id}&external_identifier={external_identifier}"
            "&currency_amount={currency_amount}&payout_usd={payout_usd}&is_chargeback={is_chargeback}"
            "&chargeback_reason={chargeback_reason}&chargeback_date={chargeback_date}"
        )
        return {"Callback URL (also tick Enable Reversal Callbacks)": f"{callback_url}?{query}"}

    def example_callback(
        self, *, callback_url: str, secret: str, user_id: str, transaction_id: str, event: str, amount: str, test: bool
    ) -> ExampleCallback:
        if test:
            raise ValueError("ayeT-Studios has no test flag.")
        chargeback = event == "chargeback"
        params = {
            # A reversal names its conversion with the prefix and a negative amount, as ayeT sends it.
            "transaction_id": f"{REVERSAL_PREFIX}{transaction_id}" if chargeback else transaction_id,
            "external_identifier": user_id,
            "currency_amount": f"-{amount.lstrip('-')}" if chargeback else amount,
            "is_chargeback": "1" if chargeback else "0",
            "offer_name": EXAMPLE_OFFER_NAME,
        }
        headers = {HASH_HEADER: security_hash(secret, list(params.items()))}
        url = f"{callback_url}?{urlencode(params)}"
        return ExampleCallback(url, headers=headers, transaction_id=params["transaction_id"])


def security_hash(secret: str, pairs: list[tuple[str, str]]) -> str:
    """PHP: hash_hmac('sha256', http_build_query($params) after ksort($params, SORT_STRING), $api_key)."""
    ordered = sorted(pairs, key=lambda pair: pair[0].encode())
    query = "&".join(f"{_php_urlencode(name)}={_php_urlencode(value)}" for name, value in ordered)
    return hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


def _php_urlencode(value: str) -> str:
    """PHP's urlencode(), which http_build_query's default PHP_QUERY_RFC1738 uses: UTF-8 bytes, letters, digits and
    `-_.` kept, a space as `+`, every other byte as %XX in uppercase hex. Python's quote_plus also keeps `~`, which
    PHP encodes."""
    return quote_plus(value, safe="").replace("~", "%7E")


NETWORK = AyetStudios()
