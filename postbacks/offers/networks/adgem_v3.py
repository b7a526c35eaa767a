"""AdGem server postbacks v3: POST, a JSON body signed in the `Signature` header.

Source: github AdGem/adgem-integrations-documentation, `docs/integrate/reward-mechanism/postbacks-v3.mdx` (the body:
`request_id` and `timestamp` at the top, the conversion under `data`), `docs/_partials/security-code-samples.mdx`
(`Signature` = hex HMAC-SHA256 of the raw body, keyed with the postback key) and
`docs/resources/migrations/postback-v2-to-v3.md` (native JSON types). Replies, installs and the absence of
reversals as in v2 (postbacks.offers.networks.adgem). `conversion_id` is the transaction id. Numbers are read as
the text AdGem sent (`1.50` stays `1.50`); a number sent as a string is read the same way.
"""

import hashlib
import hmac
import json
import secrets
import time
from decimal import Decimal

from postbacks.offers.networks.adgem import DETAILS, EXAMPLE_EVENTS, AdGemReplies, conversion
from postbacks.offers.networks.base import (
    EXAMPLE_OFFER_NAME,
    CallbackRequest,
    ConversionEvent,
    ExampleCallback,
    InvalidCallback,
    OfferNetwork,
)

SIGNATURE_HEADER = "Signature"
FIELDS = ("player_id", "conversion_id", "amount", "payout", "conversion_type", *DETAILS)


class AdGemV3(AdGemReplies, OfferNetwork):
    name = "adgem_v3"
    label = "AdGem (postback v3, signed JSON)"
    signature_covers = "the whole JSON body, byte for byte (the Signature header); not the URL"
    example_events = EXAMPLE_EVENTS  # and no test flag: every paying postback moves coins

    def verify(self, request: CallbackRequest, secret: str) -> bool:
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), self.signature(request).encode())

    def signature(self, request: CallbackRequest) -> str:
        return request.header(SIGNATURE_HEADER).lower()

    def parse(self, request: CallbackRequest) -> ConversionEvent:
        document = _json_object(request.body)
        data = document.get("data")
        if not isinstance(data, dict):
            raise InvalidCallback("The body must carry the conversion in a 'data' object.")
        fields = {name: data[name] for name in FIELDS if isinstance(data.get(name), str)}
        if isinstance(document.get("request_id"), str):
            fields["request_id"] = document["request_id"]
        if any("\x00" in value or _not_utf8(value) for value in fields.values()):
            raise InvalidCallback("Fields must be UTF-8 text without NUL characters.")
        install = fields.get("conversion_type") == "install"
        return conversion(fields, "conversion_id", install=install, signature=self.signature(request))

    def callback_templates(self, callback_url: str) -> dict[str, str]:
        return {"Postback URL (server postback v3: POST, JSON body; no macros)": callback_url}

    def example_callback(
        self, *, callback_url: str, secret: str, user_id: str, transaction_id: str, event: str, amount: str, test: bool
    ) -> ExampleCallback:
        if test:
            raise ValueError("AdGem has no test flag.")
        install = event == "install"
        data = {
            "player_id": user_id,
            "conversion_id": transaction_id,
            "amount": 0 if install else _json_number(amount),
            "offer_name": EXAMPLE_OFFER_NAME,
            "conversion_type": event,
        }
        document = {"request_id": secrets.token_hex(16), "timestamp": int(time.time()), "data": data}
        body = json.dumps(document).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return ExampleCallback(
            callback_url, "POST", {"Content-Type": "application/json", SIGNATURE_HEADER: signature}, body
        )


def _json_object(body: bytes) -> dict:
    """The body as JSON with every number kept as its text; refuses NaN and Infinity (not JSON) and nesting too
    deep for the parser (RecursionError), which a 16 KiB body of brackets reaches."""
    try:
        document = json.loads(body, parse_int=str, parse_float=str, parse_constant=_not_json)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        raise InvalidCallback("The body must be a JSON object.")
    return document


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON.")


def _not_utf8(value: str) -> bool:
    """A lone surrogate (`\\ud800` escaped in JSON) decodes but cannot be stored as UTF-8."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return True
    return False


def _json_number(amount: str) -> int | float:
    value = Decimal(amount)
    return int(value) if value == value.to_integral_value() else float(value)


NETWORK = AdGemV3()
