"""The failed-authentication throttle on a real Redis, through the production ASGI application: the hot paths
share one bounded pool of async connections per worker, a hung Redis costs them at most one short timeout
(then they answer unthrottled, with one warning), and the hot paths and the sync path count and block with
the same keys."""

import asyncio
import logging
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from catalog.tests.factories import RewardGameFactory, StoreAppFactory, partner_secret_for
from ledger.tests.factories import RewardUserFactory
from rewardhub import auth_throttle
from rewardhub.testing import Client
from rewardhub.tests.test_asgi import Answer, call, postback, serving

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 3
WINDOW = 60
POOL_SIZE = 2
CLIENT_IP = "127.0.0.1"  # where test_asgi.call connects from
SCENARIO_TIMEOUT = 15  # seconds: no test may hang, whatever the code under test does


@dataclass
class RedisServer:
    process: subprocess.Popen
    port: int

    def pause(self) -> None:
        """Like a hung Redis: connections are accepted by the kernel, nothing answers."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server (never the machine's shared one), stopped at the end."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = RedisServer(subprocess.Popen(command, stdout=subprocess.DEVNULL), port)  # noqa: S603
    try:
        wait_until_it_answers(port)
        yield server
    finally:
        server.resume()  # in case a test left it paused
        server.process.terminate()
        server.process.wait(timeout=10)


def wait_until_it_answers(port: int) -> None:
    deadline = time.monotonic() + 10
    with redis.Redis(port=port, socket_timeout=1) as probe:
        while True:
            try:
                probe.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


@pytest.fixture
def admin(redis_server) -> Iterator[redis.Redis]:
    with redis.Redis(port=redis_server.port, socket_timeout=2) as client:
        client.flushall()
        yield client


@pytest.fixture(autouse=True)
def redis_cache(settings, redis_server, admin):
    """CACHE_URL=redis://…/1 on the private server, with the options settings.py adds for it."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{redis_server.port}/1",
            "OPTIONS": {"socket_timeout": 0.2, "socket_connect_timeout": 0.2},
        }
    }
    settings.CACHE_POOL_SIZE = POOL_SIZE
    settings.AUTH_FAILURE_LIMIT = LIMIT
    settings.AUTH_FAILURE_WINDOW = WINDOW


@pytest.fixture
def partner():
    app = StoreAppFactory(pid="cashgiraffe")
    RewardGameFactory(gid="my_game")
    return {"user": RewardUserFactory(store_app=app), "secret": partner_secret_for(app)}


def run(scenario):
    return asyncio.run(asyncio.wait_for(scenario, SCENARIO_TIMEOUT))


async def postbacks(app, partner, levels, secret=None) -> list[Answer]:
    """One postback per level, all at once."""
    requests = [postback(partner, level=level, secret=secret) for level in levels]
    return await asyncio.gather(*(call(app, *args, **kwargs) for args, kwargs in requests))


async def one_by_one(app, partner, levels, secret=None) -> list[Answer]:
    return [(await postbacks(app, partner, [level], secret))[0] for level in levels]


class LoopWatch:
    """The longest the event loop went without running a 5 ms ticker: how long something blocked it."""

    def __init__(self):
        self.longest_stall = 0.0

    async def __aenter__(self):
        self.task = asyncio.create_task(self.tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc):
        self.task.cancel()

    async def tick(self):
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            self.longest_stall = max(self.longest_stall, time.perf_counter() - before - 0.005)


def test_a_hung_redis_neither_blocks_the_loop_nor_delays_postbacks_beyond_one_timeout(partner, redis_server):
    async def scenario():
        async with serving() as app:
            warm_up = await postbacks(app, partner, [1])
            redis_server.pause()
            try:
                async with LoopWatch() as watch:
                    started = time.perf_counter()
                    answers = await postbacks(app, partner, range(2, 22))
                    elapsed = time.perf_counter() - started
            finally:
                redis_server.resume()
            return warm_up + answers, elapsed, watch.longest_stall

    answers, elapsed, stall = run(scenario())

    assert [answer.status_code for answer in answers] == [200] * 21
    assert elapsed < 1.0
    assert stall < 0.1


def test_a_hung_redis_is_reported_once_not_per_request(partner, redis_server, caplog):
    async def scenario():
        async with serving() as app:
            redis_server.pause()
            try:
                return await postbacks(app, partner, range(1, 11)) + await postbacks(app, partner, range(11, 21))
            finally:
                redis_server.resume()

    with caplog.at_level(logging.WARNING, logger="rewardhub.auth_throttle"):
        answers = run(scenario())

    assert [answer.status_code for answer in answers] == [200] * 20
    assert len([record for record in caplog.records if record.name == "rewardhub.auth_throttle"]) == 1


def test_the_throttle_counts_again_once_redis_is_back(partner, redis_server, monkeypatch):
    monkeypatch.setattr(auth_throttle, "OUTAGE_BACKOFF", 0.2)

    async def scenario():
        async with serving() as app:
            redis_server.pause()
            try:
                during = await postbacks(app, partner, [1])
            finally:
                redis_server.resume()
            await asyncio.sleep(0.3)
            refusals = await one_by_one(app, partner, [2] * LIMIT, secret="wrong")
            after = await postbacks(app, partner, [2])
            return during, refusals, after

    during, refusals, after = run(scenario())

    assert during[0].status_code == 200
    assert [answer.status_code for answer in refusals] == [401] * LIMIT
    assert after[0].status_code == 429


def test_concurrent_postbacks_share_the_workers_bounded_pool_of_redis_connections(partner, admin):
    opened_before = admin.info("stats")["total_connections_received"]

    async def scenario():
        async with serving() as app:
            return await postbacks(app, partner, range(1, 51))

    answers = run(scenario())

    opened = admin.info("stats")["total_connections_received"] - opened_before
    assert [answer.status_code for answer in answers] == [200] * 50
    assert opened <= POOL_SIZE


def test_failures_counted_on_the_hot_path_block_the_ip_on_the_sync_path_too(partner):
    async def scenario():
        async with serving() as app:
            return await one_by_one(app, partner, [1] * (LIMIT + 1), secret="wrong")

    answers = run(scenario())
    (args, kwargs) = postback(partner)
    sync_answer = Client().post(
        args[1], kwargs["body"], content_type="application/json", headers=kwargs["headers"], REMOTE_ADDR=CLIENT_IP
    )

    assert [answer.status_code for answer in answers] == [401] * LIMIT + [429]
    assert sync_answer.status_code == 429
    assert 0 < int(sync_answer["Retry-After"]) <= WINDOW


def test_an_ip_blocked_on_the_sync_path_gets_429_on_the_hot_path(partner):
    for _ in range(LIMIT):
        auth_throttle.record_failure("partner", CLIENT_IP)

    async def scenario():
        async with serving() as app:
            return await postbacks(app, partner, [1])

    (answer,) = run(scenario())

    assert (answer.status_code, answer.json()["error"]) == (429, "throttled")
    assert 0 < int(answer.headers["retry-after"]) <= WINDOW
