"""The callback signature of the original platform: lowercase hex HMAC-SHA256, keyed with the project's
API key, over `track_id=…&event=…[&value=…]&remark=…` (what crypto-js `HmacSHA256(data, key).toString()` gives).
"""

import hashlib
import hmac


def task_callback_strings(*, track_id: str, event: str, value: str | None, remark: str | None) -> list[str]:
    """Every string a host may have signed, the documented form first. Without a remark both the form
    ending in `&remark=` (the seed's template with an empty remark) and the form without it are accepted."""
    base = f"track_id={track_id}&event={event}"
    if value is not None:
        base += f"&value={value}"
    if remark is None:
        return [f"{base}&remark=", base]
    return [f"{base}&remark={remark}"]


def track_id_string(track_id: str) -> str:
    """What player/status and prize/callback sign."""
    return f"track_id={track_id}"


def sign(api_key: str, data: str) -> str:
    return hmac.new(api_key.encode(), data.encode(), hashlib.sha256).hexdigest()


def matches(api_key: str, candidates: list[str], signature: str) -> bool:
    """Constant-time comparison against every accepted string (each is compared, none short-circuits)."""
    signature = signature.lower().encode()
    results = [hmac.compare_digest(sign(api_key, data).encode(), signature) for data in candidates]
    return any(results)
