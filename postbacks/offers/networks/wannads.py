"""Wannads-style postbacks (seed 003): GET, MD5 of user_id . transaction_id . reward . secret, reply `OK`."""

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

# `1` and `2` are the legacy spellings; they share the key of their modern names.
STATUSES = {"credited": "credited", "1": "credited", "rejected": "rejected", "2": "rejected"}
DETAILS = ("offer_id", "offer_name", "goal_id", "aff_sub", "aff_sub2", "aff_sub3", "aff_sub4", "ip", "payout")
_STATUS = {
    Verdict.BAD_SIGNATURE: 403,
    Verdict.IP_REFUSED: 403,
    Verdict.FORGED: 403,
    Verdict.INVALID: 400,
    Verdict.UNKNOWN_USER: 404,
}


class Wannads(OfferNetwork):
    name = "wannads"
    label = "Wannads"
    # No separators: `tx-17` + `1` signs as `tx-1` + `71` would (offers.services refuses the second as forged).
    binds_signature = True  # see OfferNetwork: covers transaction and amount, without separators
    signature_covers = "user_id, transaction_id and reward, concatenated without separators"
    unsigned_coin_parameters = ("status",)
    example_events = {
        "credited": "credited: an offer completed (credit)",
        "rejected": "rejected: a chargeback (reverses what the transaction credited)",
    }  # and no test flag: every postback moves coins

    def verify(self, request: CallbackRequest, secret: str) -> bool:
        signed = (request.params.get(name, "") for name in ("user_id", "transaction_id", "reward"))
        expected = _signature(secret, *signed)
        return hmac.compare_digest(expected.encode(), self.signature(request).encode())

    def signature(self, request: CallbackRequest) -> str:
        return request.params.get("signature", "").lower()

    def parse(self, request: CallbackRequest) -> ConversionEvent:
        params = request.params
        user_id = required(params, "user_id")
        transaction_id = required(params, "transaction_id")
        amount, amount_received = decimal_param(params, "reward")
        status = STATUSES.get(required(params, "status").lower())
        if status is None:
            raise InvalidCallback(
                f"Parameter 'status' must be credited, rejected, 1 or 2, got '{params['status'][:40]}'."
            )
        if status == "credited" and amount < 0:
            raise InvalidCallback("A credited postback cannot have a negative 'reward'.")
        return ConversionEvent(
            user_id=user_id,
            transaction_id=transaction_id,
            state=status,
            action=Action.CREDIT if status == "credited" else Action.REVERSE,
            amount=amount,
            amount_received=amount_received,
            original_transaction_id=transaction_id,
            signature=self.signature(request),
            payout_usd=optional_payout(params, "payout"),
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
            "user_id={user_id}&reward={reward}&status={status}&transaction_id={transaction_id}"
            "&offer_id={offer_id}&offer_name={offer_name}&goal_id={goal_id}&aff_sub={aff_sub}&aff_sub2={aff_sub2}"
            "&aff_sub3={aff_sub3}&aff_sub4={aff_sub4}&ip={ip}&payout={payout}&signature={signature}"
        )
        return {"Postback URL": f"{callback_url}?{query}"}

    def example_callback(
        self, *, callback_url: str, secret: str, user_id: str, transaction_id: str, event: str, amount: str, test: bool
    ) -> ExampleCallback:
        if test:
            raise ValueError("Wannads has no test flag.")
        params = {"user_id": user_id, "transaction_id": transaction_id, "reward": amount, "status": event}
        signature = _signature(secret, user_id, transaction_id, amount)
        query = urlencode({**params, "offer_name": EXAMPLE_OFFER_NAME, "signature": signature})
        return ExampleCallback(f"{callback_url}?{query}")


def _signature(secret: str, user_id: str, transaction_id: str, reward: str) -> str:
    # MD5 is the network's choice of signature, not ours.
    return hashlib.md5(f"{user_id}{transaction_id}{reward}{secret}".encode(), usedforsecurity=False).hexdigest()


NETWORK = Wannads()
