"""Failed authentications per client IP, for every API (partner, reward app, offer networks, giveaway hosts).

After AUTH_FAILURE_LIMIT failures from one IP within AUTH_FAILURE_WINDOW seconds, that IP is refused
(429 + Retry-After) on the same API for AUTH_FAILURE_WINDOW seconds, whatever it sends: a guess that
happens to be right is refused too, so guessing stays pointless. The counters live in Django's default
cache, never in the database: a request from an IP that is not blocked costs one cache read and no
query. With several processes, CACHE_URL must point at a shared cache (Redis) for the limit to be shared.

Two ways in, one set of counters:
- `is_blocked` / `record_failure` use Django's cache: the reward app API in the WSGI threads.
- `ais_blocked` / `arecord_failure` are the hot paths' (rewardhub.hot_paths): on a worker's event loop they
  use one redis.asyncio client per worker (`open_worker_client`, at lifespan start-up), with a pool of
  CACHE_POOL_SIZE connections and the cache's socket timeout as a bound on each whole call. Django's cache
  would block the loop, and builds a client per asyncio task (its handler is per task), so a connection per
  request. They write Django's keys (`make_key`) with Django's RedisCache value encoding, so a block either
  side records holds on the other.

If the cache fails (an error, or no answer within its timeout), the APIs keep answering, unthrottled: secrets
are 256-bit random, so the limit is defence in depth, while a lost postback is lost money. One warning is
logged and the throttle is skipped for OUTAGE_BACKOFF seconds, so a hung Redis costs one timeout per back-off
period, not one per request.
"""

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache, RedisSerializer
from redis.exceptions import RedisError
from rest_framework.exceptions import Throttled

from rewardhub import metrics
from rewardhub.ip_allowlist import client_ip as _client_ip

# Callers that cannot be placed (TRUSTED_PROXY_HOPS says there is a proxy, the request did not come through
# it) share one bucket; legitimate traffic always arrives through the proxy.
UNKNOWN_IP = "unknown"
THROTTLED_MESSAGE = "Too many failed authentications from this IP address."
OUTAGE_BACKOFF = 5.0  # seconds the throttle goes unchecked after the cache failed

logger = logging.getLogger(__name__)


def client_ip(request) -> str | None:
    meta = request.META
    return _client_ip(meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR", ""), settings.TRUSTED_PROXY_HOPS)


def _key(kind: str, scope: str, ip: str | None) -> str:
    return f"auth-throttle:{kind}:{scope}:{ip or UNKNOWN_IP}"


def _seconds_left(until: float | None) -> int | None:
    remaining = None if until is None else until - time.time()
    return math.ceil(remaining) if remaining and remaining > 0 else None


class _Outage:
    """When the cache last failed, shared by the event loop and the threads (one float: no lock needed)."""

    def __init__(self):
        self.until = 0.0

    def ongoing(self) -> bool:
        return time.monotonic() < self.until

    def began(self, error: BaseException) -> None:
        if self.ongoing():  # requests already waiting when it failed: reported once
            return
        self.until = time.monotonic() + OUTAGE_BACKOFF
        logger.warning(
            "Failed-authentication throttle unavailable (%s): not checked for the next %g s.",
            type(error).__name__,
            OUTAGE_BACKOFF,
        )

    def end(self) -> None:
        self.until = 0.0


outage = _Outage()


# --- Django's cache: the WSGI threads, and the hot paths when it is per process --------------------------


def _counted(scope: str, seconds_left: int | None) -> int | None:
    if seconds_left:
        metrics.count(metrics.THROTTLED, scope)
    return seconds_left


def is_blocked(scope: str, ip: str | None, store: BaseCache = cache) -> int | None:
    """Seconds until this IP may try again on this API, or None when it is not blocked (one cache read)."""
    if outage.ongoing():
        return None
    try:
        return _counted(scope, _seconds_left(store.get(_key("blocked", scope, ip))))
    except RedisError as error:
        outage.began(error)
        return None


def record_failure(scope: str, ip: str | None, store: BaseCache = cache) -> None:
    """Count a failed authentication; the one that reaches the limit blocks the IP for a full window."""
    if outage.ongoing():
        return
    try:
        _count_failure(scope, ip, store)
    except RedisError as error:
        outage.began(error)


def _count_failure(scope: str, ip: str | None, store: BaseCache) -> None:
    window = settings.AUTH_FAILURE_WINDOW
    counter = _key("failures", scope, ip)
    store.add(counter, 0, timeout=window)  # the window starts at the first failure
    try:
        failures = store.incr(counter)
    except ValueError:  # the counter expired between add and incr: this failure starts a new window
        store.set(counter, 1, timeout=window)
        failures = 1
    if failures >= settings.AUTH_FAILURE_LIMIT:
        store.set(_key("blocked", scope, ip), time.time() + window, timeout=window)
        store.delete(counter)


# --- The hot paths on a worker's event loop ----------------------------------------------------------------


@dataclass
class _WorkerClient:
    """The worker's Redis client, the event loop it belongs to, and Django's key and value formats."""

    client: redis.asyncio.Redis
    loop: asyncio.AbstractEventLoop
    make_key: Callable[[str], str]  # the default cache's: KEY_PREFIX, VERSION, KEY_FUNCTION
    timeout: float
    serializer = RedisSerializer()  # RedisCache's own (settings.py configures no other)

    async def blocked_until(self, scope: str, ip: str | None) -> float | None:
        value = await self.client.get(self.make_key(_key("blocked", scope, ip)))
        return None if value is None else self.serializer.loads(value)

    async def count_failure(self, scope: str, ip: str | None) -> None:
        """_count_failure's writes, in one round trip (two for the failure that blocks): MULTI makes the
        window's start and the increment atomic, where the sync path must handle an expiry in between."""
        window = settings.AUTH_FAILURE_WINDOW
        counter = self.make_key(_key("failures", scope, ip))
        async with self.client.pipeline(transaction=True) as pipe:
            _, failures = await pipe.set(counter, 0, ex=window, nx=True).incr(counter).execute()
            if failures >= settings.AUTH_FAILURE_LIMIT:
                blocked = self.make_key(_key("blocked", scope, ip))
                until = self.serializer.dumps(time.time() + window)
                await pipe.set(blocked, until, ex=window).delete(counter).execute()


_worker: _WorkerClient | None = None
# Otherwise the worker's per-process cache, taken once: Django's `cache` is a new backend object per asyncio task,
# whose set-up cost each hot request more than the read itself.
_worker_cache: BaseCache | None = None


def open_worker_client() -> None:
    """At a worker's start-up, on its event loop: the hot paths' client, when the default cache is Redis.
    Connections open on first use, so a Redis that is down costs requests a timeout, never the start-up."""
    global _worker, _worker_cache
    default = caches.create_connection(DEFAULT_CACHE_ALIAS)
    if not isinstance(default, RedisCache):
        _worker_cache = default  # locmem, the only other cache this project uses: it never blocks the loop
        return
    config = settings.CACHES[DEFAULT_CACHE_ALIAS]
    timeout = config["OPTIONS"]["socket_timeout"]  # settings.py sets it for Redis
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        _primary_server(config["LOCATION"]),
        max_connections=settings.CACHE_POOL_SIZE,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    client = redis.asyncio.Redis.from_pool(pool)
    _worker = _WorkerClient(client, asyncio.get_running_loop(), default.make_key, timeout)


def _primary_server(location: str | list[str]) -> str:
    """The server RedisCache writes to: the first of LOCATION's (it reads from the others, if any)."""
    return location[0] if isinstance(location, list) else re.split("[;,]", location)[0]


async def close_worker_client() -> None:
    global _worker, _worker_cache
    _worker_cache = None
    if _worker is not None:
        worker, _worker = _worker, None
        await worker.client.aclose()


def _on_worker_loop() -> _WorkerClient | None:
    """The worker's client when called on its event loop; None without one (the default cache is not Redis)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return _worker if _worker is not None and _worker.loop is loop else None


async def ais_blocked(scope: str, ip: str | None) -> int | None:
    """is_blocked for the hot paths; without the worker's client, Django's per-process cache, which never waits."""
    worker = _on_worker_loop()
    if worker is None:
        return is_blocked(scope, ip, _worker_cache or cache)
    if outage.ongoing():
        return None
    try:
        async with asyncio.timeout(worker.timeout):  # the pool's wait, the connect and the reply together
            return _counted(scope, _seconds_left(await worker.blocked_until(scope, ip)))
    except (RedisError, TimeoutError) as error:
        outage.began(error)
        return None


async def arecord_failure(scope: str, ip: str | None) -> None:
    """record_failure for the hot paths; without the worker's client, Django's per-process cache, as above."""
    worker = _on_worker_loop()
    if worker is None:
        return record_failure(scope, ip, _worker_cache or cache)
    if outage.ongoing():
        return
    try:
        async with asyncio.timeout(worker.timeout):
            await worker.count_failure(scope, ip)
    except (RedisError, TimeoutError) as error:
        outage.began(error)


def throttled(retry_after: int) -> Throttled:
    """For DRF views: the exception handler renders it as `throttled` with Retry-After."""
    return Throttled(retry_after, THROTTLED_MESSAGE)
