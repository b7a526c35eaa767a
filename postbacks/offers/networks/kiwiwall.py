"""Kiwiwall postbacks (kiwiwall.com/postback-documentation): GET or POST (its sample reads `$_REQUEST`), `signature`
= MD5 of `sub_id:amount:secret`, `status` 1 a success, 2 a reversal with a negative `amount` and the transaction's
`trans_id`. Its sample answers `1` for a processed postback and `0` otherwise.

The signature covers neither `trans_id` nor `status`: a captured postback can be replayed as a new transaction or
turned into a reversal, so a Kiwiwall integration needs an IP allowlist (Kiwiwall publishes its one address). And
it repeats: every offer of the same amount for one user carries the same signature, so it is not bound to the
first transaction it came with (OfferNetwork.binds_signature), which would refuse the user's next offer."""

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

STATUSES = {"1": "credited", "2": "reversed"}
DETAILS = ("offer_id", "offer_name", "category", "os", "app_id", "ip_address", "gross", "sub_id_2", "sub_id_3")
_STATUS = {
    Verdict.BAD_SIGNATURE: 403,
    Verdict.IP_REFUSED: 403,
    Verdict.FORGED: 403,
    Verdict.INVALID: 400,
    Verdict.UNKNOWN_USER: 404,
}


class Kiwiwall(OfferNetwork):
    name = "kiwiwall"
    label = "Kiwiwall"
    signature_covers = "sub_id and amount, separated by colons (not trans_id or status)"
    unsigned_coin_parameters = ("trans_id", "status")
    server_ips = ("34.193.235.172",)
    example_events = {
        "1": "1: an offer completed (credit)",
        "2": "2: a reversal, with a negative amount (reverses what the transaction credited)",
    }  # and no test flag: every postback moves coins

    def verify(self, request: CallbackRequest, secret: str) -> bool:
        params = request.params
        expected = _signature(secret, params.get("sub_id", ""), params.get("amount", ""))
        return hmac.compare_digest(expected.encode(), _sent(request).encode())

    def signature(self, request: CallbackRequest) -> str:
        return _sent(request)

    def parse(self, request: CallbackRequest) -> ConversionEvent:
        params = request.params
        user_id = required(params, "sub_id")
        transaction_id = required(params, "trans_id")
        amount, amount_received = decimal_param(params, "amount")
        state = STATUSES.get(required(params, "status"))
        if state is None:
            raise InvalidCallback(f"Parameter 'status' must be 1 or 2, got '{params['status'][:40]}'.")
        if state == "credited" and amount < 0:
            raise InvalidCallback("A successful postback (status 1) cannot have a negative 'amount'.")
        return ConversionEvent(
            user_id=user_id,
            transaction_id=transaction_id,
            state=state,
            action=Action.CREDIT if state == "credited" else Action.REVERSE,
            amount=amount,
            amount_received=amount_received,
            original_transaction_id=transaction_id,
            signature=self.signature(request),
            payout_usd=optional_payout(params, "gross"),
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
            "status={status}&trans_id={trans_id}&sub_id={sub_id}&gross={gross}&amount={amount}&offer_id={offer_id}"
            "&offer_name={offer_name}&category={category}&os={os}&app_id={app_id}&ip_address={ip_address}"
            "&signature={signature}"
        )
        return {"Postback URL": f"{callback_url}?{query}"}

    def example_callback(
        self, *, callback_url: str, secret: str, user_id: str, transaction_id: str, event: str, amount: str, test: bool
    ) -> ExampleCallback:
        if test:
            raise ValueError("Kiwiwall has no test flag.")
        if event == "2" and not amount.startswith("-"):
            amount = f"-{amount}"  # Kiwiwall sends a reversal's amount negative
        params = {"status": event, "trans_id": transaction_id, "sub_id": user_id, "amount": amount}
        signature = _signature(secret, user_id, amount)
        query = urlencode({**params, "offer_name": EXAMPLE_OFFER_NAME, "signature": signature})
        return ExampleCallback(f"{callback_url}?{query}")


def _sent(request: CallbackRequest) -> str:
    return request.params.get("signature", "").lower()


def _signature(secret: str, sub_id: str, amount: str) -> str:
    # MD5 is the network's choice of signature, not ours.
    return hashlib.md5(f"{sub_id}:{amount}:{secret}".encode(), usedforsecurity=False).hexdigest()


NETWORK = Kiwiwall()
