"""Revlum postbacks: `signature` = MD5 of subId + transId + reward + secret, without separators
(developer.revlum.com/docs/postback-security-1 and revlum.com/documentation/postback agree). `status` 1 credits,
2 is a chargeback of the same `transId`; `reward` and `payout` are always absolute. `debug=1` marks a test postback:
verified and logged, no coins.

Where the sources differ: revlum.com/documentation/postback says Revlum POSTs the parameters as a form to a bare
URL; developer.revlum.com/docs/get-postback describes a GET with the parameters in the URL (the publisher names
them). Both are accepted, as the same parameter names in the query or a form body (the integration page gives both
URLs). Neither documents the answer Revlum expects: its samples echo text and answer a bad signature with
`ERROR: Signature doesn't match` (400 in the Flask sample), so accepted postbacks and duplicates answer 200 `ok`
and refusals `ERROR: <reason>` with a 4xx status.

The signature covers neither `status` nor `debug` (a captured postback can be replayed as a chargeback, a test
one as live), so a Revlum integration needs an IP allowlist; Revlum publishes no addresses. Like Wannads' its
fields are joined without separators: a signature accepted for one transaction and reward is refused (`forged`)
for any other split of the same characters."""

import hashlib
import hmac
from urllib.parse import urlencode

from postbacks.offers.networks.base import (
    EXAMPLE_OFFER_NAME,
    FORM_CONTENT_TYPE,
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
DETAILS = ("offerId", "offerName", "event_id", "event_name", "payout", "userIp", "country", "sub1", "sub2")
_STATUS = {
    Verdict.BAD_SIGNATURE: 403,
    Verdict.IP_REFUSED: 403,
    Verdict.FORGED: 403,
    Verdict.INVALID: 400,
    Verdict.UNKNOWN_USER: 404,
}


class Revlum(OfferNetwork):
    name = "revlum"
    label = "Revlum"
    binds_signature = True  # see OfferNetwork: covers transaction and amount, without separators
    signature_covers = "subId, transId and reward, concatenated without separators (not status or debug)"
    unsigned_coin_parameters = ("status", "debug")
    example_events = {
        "1": "1: an offer completed (credit)",
        "2": "2: a chargeback (reverses what the transaction credited)",
    }
    has_test_flag = True  # debug=1

    def verify(self, request: CallbackRequest, secret: str) -> bool:
        signed = (request.params.get(name, "") for name in ("subId", "transId", "reward"))
        return hmac.compare_digest(_signature(secret, *signed).encode(), self.signature(request).encode())

    def signature(self, request: CallbackRequest) -> str:
        return request.params.get("signature", "").lower()

    def parse(self, request: CallbackRequest) -> ConversionEvent:
        params = request.params
        user_id = required(params, "subId")
        transaction_id = required(params, "transId")
        amount, amount_received = decimal_param(params, "reward")
        state = STATUSES.get(required(params, "status"))
        if state is None:
            raise InvalidCallback(f"Parameter 'status' must be 1 or 2, got '{params['status'][:40]}'.")
        if amount < 0:
            raise InvalidCallback("Parameter 'reward' is always absolute; got a negative one.")
        return ConversionEvent(
            user_id=user_id,
            transaction_id=transaction_id,
            state=state,
            action=Action.CREDIT if state == "credited" else Action.REVERSE,
            amount=amount,
            amount_received=amount_received,
            original_transaction_id=transaction_id,
            signature=self.signature(request),
            debug=params.get("debug") == "1",
            payout_usd=optional_payout(params, "payout"),
            details=optional_details(params, DETAILS),
        )

    def reply(self, verdict: Verdict, message: str) -> Reply:
        if verdict in (Verdict.ACCEPTED, Verdict.DUPLICATE):
            return Reply(200, "text/plain", "ok")
        return Reply(_STATUS[verdict], "text/plain", f"ERROR: {message}")

    def throttled(self, message: str) -> Reply:
        return Reply(429, "text/plain", f"ERROR: {message}")

    def callback_templates(self, callback_url: str) -> dict[str, str]:
        query = (
            "subId={subId}&transId={transId}&reward={reward}&payout={payout}&status={status}&debug={debug}"
            "&offerId={offerId}&offerName={offerName}&event_id={event_id}&event_name={event_name}&userIp={userIp}"
            "&country={country}&signature={signature}"
        )
        return {
            "GET postback URL": f"{callback_url}?{query}",
            "POST postback URL (Revlum posts the parameters as a form)": callback_url,
        }

    def example_callback(
        self, *, callback_url: str, secret: str, user_id: str, transaction_id: str, event: str, amount: str, test: bool
    ) -> ExampleCallback:
        # A POST, as revlum.com's documentation describes: the form body path is the one a GET cannot exercise.
        params = {"subId": user_id, "transId": transaction_id, "reward": amount, "status": event}
        params |= {"debug": "1" if test else "0", "offerName": EXAMPLE_OFFER_NAME}
        params["signature"] = _signature(secret, user_id, transaction_id, amount)
        body = urlencode(params).encode()
        return ExampleCallback(callback_url, "POST", {"Content-Type": FORM_CONTENT_TYPE}, body)


def _signature(secret: str, sub_id: str, transaction_id: str, reward: str) -> str:
    # MD5 is the network's choice of signature, not ours.
    return hashlib.md5(f"{sub_id}{transaction_id}{reward}{secret}".encode(), usedforsecurity=False).hexdigest()


NETWORK = Revlum()
