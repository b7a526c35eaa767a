"""AdGem server postbacks v2: GET, the whole URL signed by a `verifier` parameter.

Source: github AdGem/adgem-integrations-documentation, `docs/integrate/reward-mechanism/postbacks-v2.mdx`,
`docs/_partials/postback-macros-table.mdx` (values encoded with PHP's rawurlencode, RFC 3986) and
`docs/_partials/security-code-samples.mdx`: with a postback key, AdGem appends `request_id` and `verifier`, the hex
HMAC-SHA256, keyed with the postback key, of the full postback URL without `verifier`.

Decisions where the samples differ:
- What is signed: the Ruby sample hashes the raw URL before `&verifier=`; the PHP, Node and Python samples remove the
  `verifier` parameter wherever it is and rebuild the rest (PHP with http_build_query RFC 3986, the encoding AdGem
  sends). We hash the URL as received with the `verifier` parameter removed: when `verifier` comes last, as AdGem
  appends it, that is what every sample hashes; a parameter after it (AdGem appends `nonpayable_install_goal=true`
  to installs) is still covered, never trusted unsigned, as the Ruby sample's split would leave it.
- Installs (`nonpayable_install_goal=true`; v3's `conversion_type` "install", amount 0) reward nothing: they are
  verified, logged and answered 200 without recording a conversion, so they can never settle the transaction.
- No reversal is documented, so every paying postback is a credit (state `reward`).
- Replies: the samples answer 200 `OK`; refusals are a 4xx with `ERROR: <message>` (the samples use 403, 422 or 401).
"""

import hashlib
import hmac
import secrets
from urllib.parse import quote, urlencode

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

VERIFIER = "verifier="
DETAILS = ("campaign_id", "goal_id", "offer_id", "offer_name", "goal_name", "request_id")
EXAMPLE_EVENTS = {
    "reward": "reward: a paying goal completed (credit)",
    "install": "install: a non-paying install goal (verified and logged, no coins)",
}
_STATUS = {
    Verdict.BAD_SIGNATURE: 403,
    Verdict.IP_REFUSED: 403,
    Verdict.FORGED: 403,
    Verdict.INVALID: 400,
    Verdict.UNKNOWN_USER: 404,
}


class AdGemReplies:
    """AdGem's samples answer 200 `OK`; a non-2xx is retried."""

    def reply(self, verdict: Verdict, message: str) -> Reply:
        if verdict in (Verdict.ACCEPTED, Verdict.DUPLICATE):
            return Reply(200, "text/plain", "OK")
        return Reply(_STATUS[verdict], "text/plain", f"ERROR: {message}")

    def throttled(self, message: str) -> Reply:
        return Reply(429, "text/plain", f"ERROR: {message}")


class AdGem(AdGemReplies, OfferNetwork):
    name = "adgem"
    label = "AdGem (postback v2, GET)"
    signature_covers = "the whole callback URL (its path and every parameter, as sent) but the verifier itself"
    example_events = EXAMPLE_EVENTS  # and no test flag: every paying postback moves coins

    def verify(self, request: CallbackRequest, secret: str) -> bool:
        signed = _signed_url(request.url)
        if signed is None or request.form_fields:  # the verifier covers the URL only, not a form body's fields
            return False
        expected = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), self.signature(request).encode())

    def signature(self, request: CallbackRequest) -> str:
        return request.params.get("verifier", "").lower()

    def parse(self, request: CallbackRequest) -> ConversionEvent:
        params = request.params
        install = params.get("nonpayable_install_goal", "").lower() in ("true", "1")
        return conversion(params, "transaction_id", install=install, signature=self.signature(request))

    def callback_templates(self, callback_url: str) -> dict[str, str]:
        query = (
            "player_id={player_id}&transaction_id={transaction_id}&amount={amount}&payout={payout}"
            "&campaign_id={campaign_id}&goal_id={goal_id}&offer_id={offer_id}&offer_name={offer_name}"
        )
        return {"Postback URL (server postback, with a postback key)": f"{callback_url}?{query}"}

    def example_callback(
        self, *, callback_url: str, secret: str, user_id: str, transaction_id: str, event: str, amount: str, test: bool
    ) -> ExampleCallback:
        if test:
            raise ValueError("AdGem has no test flag.")
        params = {
            "player_id": user_id,
            "transaction_id": transaction_id,
            "amount": "0" if event == "install" else amount,
            "offer_name": EXAMPLE_OFFER_NAME,
            "request_id": secrets.token_hex(16),
        }
        url = f"{callback_url}?{urlencode(params, quote_via=quote)}"  # rawurlencode, as AdGem encodes
        if event == "install":
            url += "&nonpayable_install_goal=true"
        verifier = hmac.new(secret.encode(), url.encode(), hashlib.sha256).hexdigest()
        return ExampleCallback(f"{url}&verifier={verifier}")


def _signed_url(url: str) -> str | None:
    """The URL as received without its one `verifier` parameter; None without exactly one."""
    base, _, query = url.partition("?")
    segments = query.split("&")
    kept = [segment for segment in segments if not segment.startswith(VERIFIER)]
    if len(segments) - len(kept) != 1:
        return None
    return f"{base}?{'&'.join(kept)}" if kept else base


def conversion(fields: dict[str, str], transaction_field: str, *, install: bool, signature: str) -> ConversionEvent:
    """The event of an AdGem postback (v2's parameters or v3's `data`): a paying goal credits `amount`; an install is
    verified and logged without coins, whatever amount it carries."""
    user_id = required(fields, "player_id")
    transaction_id = required(fields, transaction_field)
    if install:
        amount, amount_received = decimal_param({"amount": fields.get("amount") or "0"}, "amount")
    else:
        amount, amount_received = decimal_param(fields, "amount")
        if amount < 0:
            raise InvalidCallback("A reward cannot have a negative 'amount'.")
    return ConversionEvent(
        user_id=user_id,
        transaction_id=transaction_id,
        state="install" if install else "reward",
        action=Action.CREDIT,
        amount=amount,
        amount_received=amount_received,
        original_transaction_id=transaction_id,
        signature=signature,
        no_coins="An install (a non-paying goal): verified and logged, no coins moved." if install else "",
        payout_usd=optional_payout(fields, "payout"),
        details=optional_details(fields, DETAILS),
    )


NETWORK = AdGem()
