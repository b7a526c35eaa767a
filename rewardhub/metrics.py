"""Prometheus metrics (prometheus-client). Under gunicorn every worker writes its samples to files in
PROMETHEUS_MULTIPROC_DIR (set up by rewardhub/gunicorn.conf.py) and a scrape adds them up: from the master on an
internal address (METRICS_BIND), or from GET /metrics on the app's own port with `Authorization: Bearer
<METRICS_TOKEN>`. Without either, nothing is exposed. Labels name APIs, outcomes, sources and integrations by id,
never a user. README, Operating at scale."""

import asyncio
import collections
import hmac
import itertools
import os
import threading
import time
from contextvars import ContextVar

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

API_REQUESTS = Counter(
    "rewardhub_api_requests", "Requests by API (a fast-lane route's name; `django` for the rest) and outcome: "
    "accepted, duplicate, the refusal's code, or the HTTP status.", ["api", "outcome"],
)  # fmt: skip
API_LATENCY = Histogram(
    "rewardhub_api_request_duration_seconds", "Time from a request's body to its answer.", ["api"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)  # fmt: skip
PARTNER_POSTBACKS = Counter(
    "rewardhub_partner_postbacks", "Partner postbacks by partner (the pid its valid secret belongs to; - before that) "
    "and outcome.", ["partner", "outcome"],
)  # fmt: skip
OFFER_DELIVERIES = Counter(
    "rewardhub_offer_deliveries", "Offer-network deliveries by verdict.", ["network", "integration", "verdict"]
)
COINS = Counter("rewardhub_coins", "Coins moved in available balances.", ["source", "direction"])
THROTTLED = Counter("rewardhub_throttled_requests", "Requests refused by the failed-authentication throttle.", ["api"])
POOL_CONNECTIONS = Gauge(
    "rewardhub_db_pool_connections", "The fast lane's database connections by state.", ["state"],
    multiprocess_mode="livesum",
)  # fmt: skip
POOL_WAITING = Gauge(
    "rewardhub_db_pool_waiting_requests", "Requests waiting for a database connection.", multiprocess_mode="livesum"
)
POOL_WAIT = Counter("rewardhub_db_pool_wait_seconds", "Time requests spent waiting for a database connection.")
POOL_TIMEOUTS = Counter("rewardhub_db_pool_timeouts", "Requests that got no database connection in time (503).")
POOL_SAMPLE_SECONDS = 5

# What the current request came to, set by the code that decides it (rewardhub.errors, the services); each request
# is a task of its own, with its own copy.
outcome: ContextVar[str | None] = ContextVar("outcome", default=None)


def labelled(metric, *labels: str):
    """The metric's child for these labels, looked up once per process: labels() validates and locks on every call."""
    child = _children.get((metric, labels))
    if child is None:
        child = _children[metric, labels] = metric.labels(*labels)
    return child


_children: dict[tuple, object] = {}  # bounded: no label takes a value a caller chooses freely


def count(metric: Counter, *labels: str, amount: float = 1) -> None:
    """Add to a counter. Added up here and written by `flush` once a second: in multiprocess mode every write of a
    sample goes to its file (and asks the system for the process id), a cost the hot paths paid several times per
    request."""
    with _pending_lock:
        _pending[metric, labels] += amount


_pending: collections.Counter = collections.Counter()
_pending_lock = threading.Lock()  # Django's threads count too (a staff adjustment, the throttle's sync checks)
FLUSH_SECONDS = 1


def flush() -> None:
    with _pending_lock:
        pending = dict(_pending)
        _pending.clear()
    for (metric, labels), amount in pending.items():
        labelled(metric, *labels).inc(amount)


def observe_request(api: str, status: int, started: float) -> None:
    """A server error is counted by its status whatever the request had come to before it failed."""
    count(API_REQUESTS, api, str(status) if status >= 500 else outcome.get() or str(status))
    labelled(API_LATENCY, api).observe(time.perf_counter() - started)


def coins_moved(source: str, amount: int) -> None:
    if amount:
        count(COINS, source, "credited" if amount > 0 else "reversed", amount=abs(amount))


async def upkeep(pool) -> None:
    """For as long as the worker serves: its counts written every second, its pool's figures every few seconds
    (psycopg_pool's stats)."""
    for tick in itertools.count():
        flush()
        if tick % POOL_SAMPLE_SECONDS == 0:
            sample_pool(pool)
        await asyncio.sleep(FLUSH_SECONDS)


def sample_pool(pool) -> None:
    stats = pool.pop_stats()
    POOL_CONNECTIONS.labels("in_use").set(stats.get("pool_size", 0) - stats.get("pool_available", 0))
    POOL_CONNECTIONS.labels("idle").set(stats.get("pool_available", 0))
    POOL_WAITING.set(stats.get("requests_waiting", 0))
    POOL_WAIT.inc(stats.get("requests_wait_ms", 0) / 1000)
    POOL_TIMEOUTS.inc(stats.get("requests_errors", 0))


def registry() -> CollectorRegistry:
    """Every worker's samples under gunicorn (multiprocess mode), this process's otherwise."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    collected = CollectorRegistry()
    MultiProcessCollector(collected)
    return collected


async def metrics(request, db) -> HttpResponse:
    """GET /metrics for a scraper holding METRICS_TOKEN; 404 as for any unknown path otherwise, so the endpoint
    is not advertised."""
    token = settings.METRICS_TOKEN
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not token or not hmac.compare_digest(sent.encode(), token.encode()):
        return HttpResponse("Not Found", status=404, content_type="text/plain")
    flush()  # this worker's counts now; the others' within FLUSH_SECONDS
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
