"""BitLabs-style callbacks (seed 002): HMAC-SHA1 over the whole URL, stateful offers, reconciliations, bans."""

import hashlib
import hmac
import json
import re
from urllib.parse import urlencode

from postbacks.offers.networks.base import (
    EXAMPLE_OFFER_NAME,
    Action,
    BanEvent,
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

# The hash is appended last: `…&hash=<hex>` (or `?hash=` when it is the only parameter).
_HASH_SUFFIX = re.compile(r"[?&]hash=([^&]*)\Z")
OFFER_STATES = {"PENDING": Action.HOLD, "COMPLETED": Action.CREDIT, "RECONCILED": Action.REVERSE}
CREDIT_TYPES = ("COMPLETE", "SCREENOUT", "START_BONUS")
BAN_STATES = ("ACTIVE", "BANNED")
DETAILS = ("raw", "type", "offer_id", "task_id", "offer_name", "task_name", "ref")
_STATUS = {
    Verdict.ACCEPTED: 200,
    Verdict.DUPLICATE: 200,
    Verdict.BAD_SIGNATURE: 403,
    Verdict.IP_REFUSED: 403,
    Verdict.FORGED: 403,
    Verdict.INVALID: 400,
    Verdict.UNKNOWN_USER: 404,
}


class BitLabs(OfferNetwork):
    name = "bitlabs"
    label = "BitLabs"
    signature_covers = "the whole callback URL: every parameter, in the order sent, and the integration's path"
    example_events = {
        "COMPLETE": "COMPLETE: an offer completed (credit)",
        "PENDING": "PENDING: a stateful offer completed, its reward delayed (held, not spendable)",
        "COMPLETED": "COMPLETED: a stateful offer's reward released (credit, moving its hold)",
        "RECONCILED": "RECONCILED: a stateful offer taken back (reverses what it credited or held)",
    }
    has_test_flag = True  # debug=true

    def verify(self, request: CallbackRequest, secret: str) -> bool:
        match = _HASH_SUFFIX.search(request.url)
        if match is None or request.form_fields:  # the hash covers the URL only, not a form body's fields
            return False
        expected = _hash(secret, request.url[: match.start()])
        return hmac.compare_digest(expected.encode(), match.group(1).lower().encode())

    def signature(self, request: CallbackRequest) -> str:
        match = _HASH_SUFFIX.search(request.url)
        return match.group(1).lower() if match else ""

    def parse(self, request: CallbackRequest) -> ConversionEvent | BanEvent:
        params = request.params
        user_id = required(params, "uid")
        debug = params.get("debug", "").lower() in ("true", "1")
        if "ban_state" in params and "tx" not in params:
            state = params["ban_state"].upper()
            if state not in BAN_STATES:
                raise InvalidCallback(f"Parameter 'ban_state' must be ACTIVE or BANNED, got '{state[:40]}'.")
            return BanEvent(user_id=user_id, state=state, reason=params.get("ban_reason", ""), debug=debug)
        transaction_id = required(params, "tx")
        amount, amount_received = decimal_param(params, "val")
        offer_state = (params.get("offer_state") or "NONE").upper()
        original = transaction_id
        if offer_state in OFFER_STATES:
            # Stateful offers: one transaction id across states; the state is part of the key.
            action, state = OFFER_STATES[offer_state], offer_state
        elif offer_state == "NONE":
            state = required(params, "type").upper()
            if state in CREDIT_TYPES:
                action = Action.CREDIT
            elif state == "RECONCILIATION":
                action, original = Action.RECONCILE, required(params, "ref")
                if not amount:
                    raise InvalidCallback("A reconciliation needs a non-zero 'val'.")
            else:
                raise InvalidCallback(f"Unknown callback type '{state[:40]}'.")
        else:
            raise InvalidCallback(f"Unknown offer_state '{offer_state[:40]}'.")
        if action in (Action.HOLD, Action.CREDIT) and amount < 0:
            raise InvalidCallback(f"A {state} callback cannot have a negative 'val'.")
        return ConversionEvent(
            user_id=user_id,
            transaction_id=transaction_id,
            state=state,
            action=action,
            amount=amount,
            amount_received=amount_received,
            original_transaction_id=original,
            signature=self.signature(request),
            debug=debug,
            payout_usd=optional_payout(params, "raw"),
            details=optional_details(params, DETAILS),
        )

    def reply(self, verdict: Verdict, message: str) -> Reply:
        if verdict in (Verdict.ACCEPTED, Verdict.DUPLICATE):
            body = {"ok": True, "result": verdict.value, "message": message}
        else:
            body = {"ok": False, "error": verdict.value, "message": message}
        return Reply(_STATUS[verdict], "application/json", json.dumps(body))

    def throttled(self, message: str) -> Reply:
        return Reply(429, "application/json", json.dumps({"ok": False, "error": "throttled", "message": message}))

    def callback_templates(self, callback_url: str) -> dict[str, str]:
        offer = (
            "uid=[%UID%]&tx=[%TX%]&val=[%VAL%]&raw=[%RAW%]&type=[%TYPE%]&offer_state=[%OFFER_STATE%]"
            "&offer_id=[%OFFER_ID%]&task_id=[%TASK_ID%]&offer_name=[%OFFER_NAME%]&task_name=[%TASK_NAME%]"
            "&ref=[%REF%]&debug=[%DEBUG%]"
        )
        return {
            "Reward, offer and reconciliation callbacks": f"{callback_url}?{offer}",
            "Ban callback": f"{callback_url}?uid=[%UID%]&ban_reason=[%BAN_REASON%]&ban_state=[%BAN_STATE%]",
        }

    def example_callback(
        self, *, callback_url: str, secret: str, user_id: str, transaction_id: str, event: str, amount: str, test: bool
    ) -> ExampleCallback:
        stateful = event in OFFER_STATES  # with stateful callbacks on, BitLabs sends type STATE_CHANGE
        query = urlencode(
            {
                "uid": user_id,
                "tx": transaction_id,
                "val": amount,
                "type": "STATE_CHANGE" if stateful else event,
                "offer_state": event if stateful else "NONE",
                "offer_name": EXAMPLE_OFFER_NAME,
                "debug": "true" if test else "false",
            }
        )
        url = f"{callback_url}?{query}"
        return ExampleCallback(f"{url}&hash={_hash(secret, url)}")


def _hash(secret: str, url: str) -> str:
    return hmac.new(secret.encode(), url.encode(), hashlib.sha1).hexdigest()


NETWORK = BitLabs()
