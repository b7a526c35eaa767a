"""Wannads-style postbacks (seed 003): GET, MD5 of user_id . transaction_id . reward . secret, reply `OK`."""

import hashlib
import hmac

from postbacks.offers.networks.base import (
    Action,
    CallbackRequest,
    ConversionEvent,
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
    signature_covers = "user_id, transaction_id and reward, concatenated without separators"
    unsigned_coin_parameters = ("status",)

    def verify(self, request: CallbackRequest, secret: str) -> bool:
        params = request.params
        signed = params.get("user_id", "") + params.get("transaction_id", "") + params.get("reward", "") + secret
        # MD5 is the network's choice of signature, not ours.
        expected = hashlib.md5(signed.encode(), usedforsecurity=False).hexdigest()
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


NETWORK = Wannads()
