"""Failed authentications per client IP, for every API (partner, reward app, offer networks, giveaway hosts).

After AUTH_FAILURE_LIMIT failures from one IP within AUTH_FAILURE_WINDOW seconds, that IP is refused
(429 + Retry-After) on the same API for AUTH_FAILURE_WINDOW seconds, whatever it sends: a guess that
happens to be right is refused too, so guessing stays pointless. The counters live in Django's default
cache, never in the database: a request from an IP that is not blocked costs one `cache.get` and no
query. With several processes, CACHE_URL must point at a shared cache (Redis) for the limit to be shared.
If that cache is down the APIs keep answering, unthrottled: secrets are 256-bit random, so the limit is
defence in depth, while a lost postback is lost money.
"""

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError
from rest_framework.exceptions import Throttled

from postbacks.ip_allowlist import client_ip as _client_ip

# Callers that cannot be placed (TRUSTED_PROXY_HOPS says there is a proxy, the request did not come through
# it) share one bucket; legitimate traffic always arrives through the proxy.
UNKNOWN_IP = "unknown"
THROTTLED_MESSAGE = "Too many failed authentications from this IP address."

logger = logging.getLogger(__name__)


def client_ip(request) -> str | None:
    meta = request.META
    return _client_ip(meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR", ""), settings.TRUSTED_PROXY_HOPS)


def _key(kind: str, scope: str, ip: str | None) -> str:
    return f"auth-throttle:{kind}:{scope}:{ip or UNKNOWN_IP}"


def is_blocked(scope: str, ip: str | None) -> int | None:
    """Seconds until this IP may try again on this API, or None when it is not blocked (one cache read)."""
    try:
        until = cache.get(_key("blocked", scope, ip))
    except RedisError as error:
        logger.warning("Failed-authentication throttle unavailable (%s): not checked.", type(error).__name__)
        return None
    remaining = None if until is None else until - time.time()
    return math.ceil(remaining) if remaining and remaining > 0 else None


def record_failure(scope: str, ip: str | None) -> None:
    """Count a failed authentication; the one that reaches the limit blocks the IP for a full window."""
    try:
        _count_failure(scope, ip)
    except RedisError as error:
        logger.warning("Failed-authentication throttle unavailable (%s): failure not counted.", type(error).__name__)


def _count_failure(scope: str, ip: str | None) -> None:
    window = settings.AUTH_FAILURE_WINDOW
    counter = _key("failures", scope, ip)
    cache.add(counter, 0, timeout=window)  # the window starts at the first failure
    try:
        failures = cache.incr(counter)
    except ValueError:  # the counter expired between add and incr: this failure starts a new window
        cache.set(counter, 1, timeout=window)
        failures = 1
    if failures >= settings.AUTH_FAILURE_LIMIT:
        cache.set(_key("blocked", scope, ip), time.time() + window, timeout=window)
        cache.delete(counter)


def throttled(retry_after: int) -> Throttled:
    """For DRF views: the exception handler renders it as `throttled` with Retry-After."""
    return Throttled(retry_after, THROTTLED_MESSAGE)
