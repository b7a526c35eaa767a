"""CPX Research postbacks: GET, `secure_hash` = MD5 of trans_id + "-" + the app's secure hash. CPX publishes no
postback page; the formula, the macros and the server addresses are what five public integrations agree on
(e.g. github IvanWasHere/simple-reward-offerwall, plugin/Providers/Schemas/). `status` 1 completes, 2 cancels.
Implementations answer `1`; CPX documents no failure body, so a refusal answers `0` with a 4xx status.

Where the sources differ: a cancellation comes with the completion's `trans_id` and `status=2`, either on the main
postback URL with its amounts, or on the dashboard's separate "event canceled" URL, which integrations fill with
fixed values (`amount_local=0`, `type=canceled`). Both are accepted: any `status=2` reverses what the transaction
credited, whatever its amount or type.

The hash covers only `trans_id`: not the user, the amounts or the status, so a captured postback can be replayed
as a cancellation (or for another user) and a CPX integration needs an IP allowlist (its three addresses are
pre-filled). Its cancellation carries the same hash with other amounts, so the hash is not bound to the first
amount it came with (OfferNetwork.binds_signature), which would refuse the cancellation as forged."""

import hashlib
import hmac
from urllib.parse import urlencode

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

STATUSES = {"1": "completed", "2": "canceled"}
DETAILS = ("type", "offer_id", "amount_usd", "ip_click", "subid_1", "subid_2")
_STATUS = {
    Verdict.BAD_SIGNATURE: 403,
    Verdict.IP_REFUSED: 403,
    Verdict.FORGED: 403,
    Verdict.INVALID: 400,
    Verdict.UNKNOWN_USER: 404,
}


class CpxResearch(OfferNetwork):
    name = "cpx"
    label = "CPX Research"
    signature_covers = "trans_id only (not user_id, amount_local or status)"
    unsigned_coin_parameters = ("user_id", "amount_local", "status")
    server_ips = ("188.40.3.73", "2a01:4f8:d0a:30ff::2", "157.90.97.92")
    example_events = {
        "1": "1: a survey completed (credit)",
        "2": "2: a cancellation (reverses what the transaction credited)",
    }  # and no test flag: every postback moves coins

    def verify(self, request: CallbackRequest, secret: str) -> bool:
        expected = _hash(secret, request.params.get("trans_id", ""))
        return hmac.compare_digest(expected.encode(), _sent(request).encode())

    def signature(self, request: CallbackRequest) -> str:
        return _sent(request)

    def parse(self, request: CallbackRequest) -> ConversionEvent:
        params = request.params
        user_id = required(params, "user_id")
        transaction_id = required(params, "trans_id")
        amount, amount_received = decimal_param(params, "amount_local")
        state = STATUSES.get(required(params, "status"))
        if state is None:
            raise InvalidCallback(f"Parameter 'status' must be 1 or 2, got '{params['status'][:40]}'.")
        if state == "completed" and amount < 0:
            raise InvalidCallback("A completion (status 1) cannot have a negative 'amount_local'.")
        return ConversionEvent(
            user_id=user_id,
            transaction_id=transaction_id,
            state=state,
            action=Action.CREDIT if state == "completed" else Action.REVERSE,
            amount=amount,
            amount_received=amount_received,
            original_transaction_id=transaction_id,
            signature=self.signature(request),
            payout_usd=optional_payout(params, "amount_usd"),
            details=optional_details(params, DETAILS),
        )

    def reply(self, verdict: Verdict, message: str) -> Reply:
        if verdict in (Verdict.ACCEPTED, Verdict.DUPLICATE):
            return Reply(200, "text/plain", "1")
        return Reply(_STATUS[verdict], "text/plain", "0")  # the reason is in the delivery log

    def throttled(self, message: str) -> Reply:
        return Reply(429, "text/plain", "0")

    def callback_templates(self, callback_url: str) -> dict[str, str]:
        query = (
            "status={status}&trans_id={trans_id}&user_id={user_id}&amount_local={amount_local}"
            "&amount_usd={amount_usd}&offer_id={offer_ID}&type={type}&ip_click={ip_click}&subid_1={subid_1}"
            "&subid_2={subid_2}&secure_hash={secure_hash}"
        )
        return {"Main postback URL (also for cancellations)": f"{callback_url}?{query}"}

    def example_callback(
        self, *, callback_url: str, secret: str, user_id: str, transaction_id: str, event: str, amount: str, test: bool
    ) -> ExampleCallback:
        if test:
            raise ValueError("CPX Research has no test flag.")
        params = {"status": event, "trans_id": transaction_id, "user_id": user_id, "amount_local": amount}
        params |= {"type": "complete" if event == "1" else "canceled", "offer_name": EXAMPLE_OFFER_NAME}
        return ExampleCallback(f"{callback_url}?{urlencode({**params, 'secure_hash': _hash(secret, transaction_id)})}")


def _sent(request: CallbackRequest) -> str:
    return request.params.get("secure_hash", "").lower()


def _hash(secret: str, transaction_id: str) -> str:
    # MD5 is the network's choice of signature, not ours.
    return hashlib.md5(f"{transaction_id}-{secret}".encode(), usedforsecurity=False).hexdigest()


NETWORK = CpxResearch()
