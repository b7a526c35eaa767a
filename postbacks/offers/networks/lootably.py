"""Lootably postbacks (documentation.lootably.com/docs/postbacks; the formula as the official hash library
Lootablycom/lootably-postback-hash computes it): GET, `hash` = hex SHA-256 of userID + ip + revenue +
currencyReward + secret, without separators. `status` 1 credits, 0 is a chargeback of the same `transactionID`.
Public integrations answer `1`; Lootably documents no failure body, so a refusal answers `0` with a 4xx status.

The hash covers neither `transactionID` nor `status`, and joins its fields without separators: a captured postback
can be replayed as a new transaction or a chargeback, so a Lootably integration needs an IP allowlist. Lootably's
callback addresses come from a single unconfirmed source and are not pre-filled: ask Lootably's support for them.
Genuine postbacks repeat a hash (the same user, IP, revenue and reward for two offers), so it is not bound to the
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

STATUSES = {"1": "credited", "0": "reversed"}
SIGNED = ("userID", "ip", "revenue", "currencyReward")
DETAILS = ("offerName", "offerID", "goalID", "ip", "revenue")
EXAMPLE_IP = "192.0.2.1"  # the user's address, signed; a documentation address in examples
_STATUS = {
    Verdict.BAD_SIGNATURE: 403,
    Verdict.IP_REFUSED: 403,
    Verdict.FORGED: 403,
    Verdict.INVALID: 400,
    Verdict.UNKNOWN_USER: 404,
}


class Lootably(OfferNetwork):
    name = "lootably"
    label = "Lootably"
    signature_covers = (
        "userID, ip, revenue and currencyReward, concatenated without separators (not transactionID or status)"
    )
    unsigned_coin_parameters = ("transactionID", "status")
    example_events = {
        "1": "1: an offer completed (credit)",
        "0": "0: a chargeback (reverses what the transaction credited)",
    }  # and no test flag: every postback moves coins

    def verify(self, request: CallbackRequest, secret: str) -> bool:
        expected = _hash(secret, *(request.params.get(name, "") for name in SIGNED))
        return hmac.compare_digest(expected.encode(), _sent(request).encode())

    def signature(self, request: CallbackRequest) -> str:
        return _sent(request)

    def parse(self, request: CallbackRequest) -> ConversionEvent:
        params = request.params
        user_id = required(params, "userID")
        transaction_id = required(params, "transactionID")
        amount, amount_received = decimal_param(params, "currencyReward")
        state = STATUSES.get(required(params, "status"))
        if state is None:
            raise InvalidCallback(f"Parameter 'status' must be 1 or 0, got '{params['status'][:40]}'.")
        if state == "credited" and amount < 0:
            raise InvalidCallback("A credit (status 1) cannot have a negative 'currencyReward'.")
        return ConversionEvent(
            user_id=user_id,
            transaction_id=transaction_id,
            state=state,
            action=Action.CREDIT if state == "credited" else Action.REVERSE,
            amount=amount,
            amount_received=amount_received,
            original_transaction_id=transaction_id,
            signature=self.signature(request),
            payout_usd=optional_payout(params, "revenue"),
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
            "userID={userID}&transactionID={transactionID}&ip={ip}&offerName={offerName}&offerID={offerID}"
            "&goalID={goalID}&revenue={revenue}&currencyReward={currencyReward}&status={status}&hash={hash}"
        )
        return {"Postback URL": f"{callback_url}?{query}"}

    def example_callback(
        self, *, callback_url: str, secret: str, user_id: str, transaction_id: str, event: str, amount: str, test: bool
    ) -> ExampleCallback:
        if test:
            raise ValueError("Lootably has no test flag.")
        # revenue blank: an example's USD payout is recorded as unknown, not as revenue
        params = {"userID": user_id, "transactionID": transaction_id, "ip": EXAMPLE_IP, "revenue": ""}
        params |= {"currencyReward": amount, "status": event, "offerName": EXAMPLE_OFFER_NAME}
        signature = _hash(secret, user_id, EXAMPLE_IP, "", amount)
        return ExampleCallback(f"{callback_url}?{urlencode({**params, 'hash': signature})}")


def _sent(request: CallbackRequest) -> str:
    return request.params.get("hash", "").lower()


def _hash(secret: str, user_id: str, ip: str, revenue: str, currency_reward: str) -> str:
    return hashlib.sha256(f"{user_id}{ip}{revenue}{currency_reward}{secret}".encode()).hexdigest()


NETWORK = Lootably()
