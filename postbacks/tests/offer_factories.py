"""Integrations and signed callback URLs for the offer-network tests. Signatures are computed here with
hashlib/hmac directly from the networks' documented recipes, never with the adapters under test."""

import hashlib
import hmac
import uuid
from decimal import Decimal
from urllib.parse import urlencode

from postbacks.models import OfferwallIntegration

BASE_URL = "https://rewards.example.com"
USER_ID = uuid.UUID("3f2c8d1e-5a4b-4c6d-8e9f-0a1b2c3d4e5f")
BITLABS_SECRET = "bitlabs-secret"
WANNADS_SECRET = "wannads-secret"
KIWIWALL_SECRET = "kiwiwall-secret"


def integration(store_app, provider, slug, secret, coin_rate="1", ip_allowlist=""):
    return OfferwallIntegration.objects.create(
        store_app=store_app,
        provider=provider,
        name=f"Test {provider}",
        slug=slug,
        secret=secret,
        coin_rate=Decimal(coin_rate),
        ip_allowlist=ip_allowlist,
    )


def bitlabs_path(slug, query: str, secret=BITLABS_SECRET, base=BASE_URL) -> str:
    """`query` is the raw query string; the hash is HMAC-SHA1 over the full URL, appended last."""
    path = f"/api/callbacks/{slug}?{query}"
    digest = hmac.new(secret.encode(), f"{base}{path}".encode(), hashlib.sha1).hexdigest()
    return f"{path}&hash={digest}"


def bitlabs_offer(slug, tx, val, offer_state="NONE", type_="COMPLETE", uid=USER_ID, **extra) -> str:
    params = {"uid": uid, "tx": tx, "val": val, "type": type_, "offer_state": offer_state, **extra}
    return bitlabs_path(slug, urlencode(params))


def wannads_path(slug, user_id=USER_ID, transaction_id="wn-1", reward="100", status="credited", **extra) -> str:
    params = {"user_id": user_id, "transaction_id": transaction_id, "reward": reward, "status": status, **extra}
    signed = f"{params['user_id']}{params['transaction_id']}{params['reward']}{WANNADS_SECRET}"
    params["signature"] = hashlib.md5(signed.encode(), usedforsecurity=False).hexdigest()
    return f"/api/callbacks/{slug}?{urlencode(params)}"


def kiwiwall_query(sub_id=USER_ID, trans_id="kw-1", amount="100", status="1", **extra) -> str:
    """Kiwiwall's parameters, for a URL or a form body: `signature` is MD5 of sub_id:amount:secret."""
    signed = f"{sub_id}:{amount}:{KIWIWALL_SECRET}"
    signature = hashlib.md5(signed.encode(), usedforsecurity=False).hexdigest()
    params = {"status": status, "trans_id": trans_id, "sub_id": sub_id, "amount": amount, **extra}
    return urlencode({**params, "signature": signature})


def kiwiwall_path(slug, **params) -> str:
    return f"/api/callbacks/{slug}?{kiwiwall_query(**params)}"


def recorded_reversal(user, tx="tx-reversed", outcome="reversed", integration_=None):
    """A reversal as the callback path records it (a conversion with its delivery's log), without a network."""
    from postbacks.models import OfferConversion

    integration_ = integration_ or integration(user.store_app, "wannads", f"wn-{uuid.uuid4().hex[:8]}", WANNADS_SECRET)
    return OfferConversion.objects.create(
        integration=integration_,
        transaction_id=tx,
        state="rejected",
        user=user,
        action="reverse",
        original_transaction_id=tx,
        amount_received="1",
        coins=100,
        outcome=outcome,
        available_delta=-100,
        chain_position=2,
        method="GET",
        path="/api/callbacks/x",
    )
