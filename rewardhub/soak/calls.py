"""The requests partners, offer networks and giveaway hosts send, built and signed here from the seed documents
with hashlib/hmac directly, never with the code under test."""

import hashlib
import hmac
import json
from urllib.parse import urlencode

from rewardhub.soak.clients import Call

# Seed 004: every spelling of each field, and both ways of sending the secret, are used in turn.
UID_NAMES = ("uid", "userId", "user_id")
GID_NAMES = ("gid", "game_id", "gameId")
LEVEL_NAMES = ("level_number", "level")


def partner_postback(*, secret: str, pid: str, uid: str, gid: str, level: int, variant: int = 0) -> Call:
    body = {
        "pid": pid,
        UID_NAMES[variant % 3]: uid,
        GID_NAMES[variant // 3 % 3]: gid,
        LEVEL_NAMES[variant // 9 % 2]: level,
    }
    auth = ("Authorization", f"Bearer {secret}") if variant % 2 else ("X-Reward-Api-Secret", secret)
    return Call(
        "POST",
        "/api/postback",
        key=("partner", uid, level),
        body=json.dumps(body).encode(),
        headers=(("Content-Type", "application/json"), auth),
    )


def bitlabs_callback(*, base_url: str, slug: str, secret: str, uid: str, tx: str, val: str, offer_state: str) -> Call:
    """Seed 002, stateful offer callbacks: one tx across states (`type` is state_change). `hash` is the hex
    HMAC-SHA1, keyed with the app secret, of the whole URL before `&hash=`."""
    path = f"/api/callbacks/{slug}?" + urlencode(
        {"uid": uid, "tx": tx, "val": val, "raw": val, "type": "state_change", "offer_state": offer_state}
    )
    digest = hmac.new(secret.encode(), f"{base_url}{path}".encode(), hashlib.sha1).hexdigest()
    return Call("GET", f"{path}&hash={digest}", key=("bitlabs", uid, tx, offer_state))


def wannads_callback(*, slug: str, secret: str, user_id: str, tx: str, reward: str, status: str) -> Call:
    """Seed 003: `signature` is the hex MD5 of user_id . transaction_id . reward . secret."""
    signature = hashlib.md5(f"{user_id}{tx}{reward}{secret}".encode(), usedforsecurity=False).hexdigest()
    query = urlencode(
        {"user_id": user_id, "transaction_id": tx, "reward": reward, "status": status, "signature": signature}
    )
    return Call("GET", f"/api/callbacks/{slug}?{query}", key=("wannads", user_id, tx, status))


def kiwiwall_callback(*, slug: str, secret: str, sub_id: str, tx: str, amount: str, status: str) -> Call:
    """kiwiwall.com/postback-documentation: `signature` is the hex MD5 of `sub_id:amount:secret`; status 1 credits,
    2 reverses (with a negative amount). Sent as a POSTed form, which Kiwiwall's sample reads too."""
    signature = hashlib.md5(f"{sub_id}:{amount}:{secret}".encode(), usedforsecurity=False).hexdigest()
    body = urlencode(
        {"status": status, "trans_id": tx, "sub_id": sub_id, "amount": amount, "signature": signature}
    ).encode()
    state = {"1": "credited", "2": "reversed"}[status]
    return Call(
        "POST",
        f"/api/callbacks/{slug}",
        key=("kiwiwall", sub_id, tx, state),
        body=body,
        headers=(("Content-Type", "application/x-www-form-urlencoded"),),
    )


def giveaway_task_callback(*, api_key: str, track_id: str, event: str, value: int | None = None) -> Call:
    """Seeds 000/001: `sign` is the hex HMAC-SHA256, keyed with the project's API key, of
    `track_id=…&event=…[&value=…]&remark=` (no remark sent)."""
    data = f"track_id={track_id}&event={event}" + (f"&value={value}" if value is not None else "") + "&remark="
    sign = hmac.new(api_key.encode(), data.encode(), hashlib.sha256).hexdigest()
    body = {"track_id": track_id, "event": event, "sign": sign}
    if value is not None:
        body["value"] = value
    return Call(
        "POST",
        "/public/v1/giveaway/task/callback",
        key=("giveaway", track_id, event, value),
        body=json.dumps(body).encode(),
        headers=(("Content-Type", "application/json"),),
    )
