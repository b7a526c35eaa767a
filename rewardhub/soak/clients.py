"""HTTP clients for the soak suites: real threads, each with its own keep-alive connection, recording every
request and the answer it got (or that it got none)."""

import http.client
import json
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

REQUEST_TIMEOUT = 15  # seconds; a request still unanswered then counts as "no answer"


@dataclass(frozen=True)
class Call:
    """One request to send. `key` names what it is about (e.g. a user and level), for the checks afterwards."""

    method: str
    path: str  # with the query string
    key: tuple
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Exchange:
    """A call and what came back: `status` None means no answer (connection reset or closed, timeout)."""

    call: Call
    status: int | None
    body: bytes
    sent_at: float  # time.monotonic()
    received_at: float
    error: str = ""

    def json(self):
        return json.loads(self.body)


class HttpClient:
    """One keep-alive connection to the server, reopened after any failure."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.connection: http.client.HTTPConnection | None = None

    def connect(self) -> None:
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        self.connection.connect()

    def send(self, call: Call) -> Exchange:
        sent_at = time.monotonic()
        try:
            if self.connection is None:
                self.connect()
            self.connection.request(call.method, call.path, body=call.body, headers=dict(call.headers))
            response = self.connection.getresponse()
            body = response.read()
            if response.will_close:
                self.close()
            return Exchange(call, response.status, body, sent_at, time.monotonic())
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return Exchange(call, None, b"", sent_at, time.monotonic(), error=f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


@dataclass(frozen=True)
class Retry:
    """What a well-behaved sender does after a 503 or no answer: try again, a bounded number of times."""

    attempts: int = 30
    delay: float = 0.2  # seconds, with jitter, between attempts


@dataclass
class _Feed:
    """Hands out calls to the client threads one at a time; stops when exhausted, stopped, or past the deadline."""

    calls: Iterable[Call]
    deadline: float
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self.calls = iter(self.calls)

    def next(self) -> Call | None:
        if self.stop.is_set() or time.monotonic() > self.deadline:
            return None
        with self.lock:
            return next(self.calls, None)


def run_clients(
    base_url: str,
    calls: Iterable[Call],
    *,
    clients: int = 16,
    retry: Retry | None = None,
    seconds: float = 300,
    stop: threading.Event | None = None,
) -> list[Exchange]:
    """Send `calls` from `clients` threads, each taking the next call when its previous one is answered.
    Every attempt is returned. Bounded by `seconds` and, if given, by `stop` being set."""
    feed = _Feed(calls, time.monotonic() + seconds)
    if stop is not None:
        feed.stop = stop
    results: list[list[Exchange]] = [[] for _ in range(clients)]

    def client(log: list[Exchange]) -> None:
        http_client = HttpClient(base_url)
        jitter = random.Random(id(log))
        try:
            while (call := feed.next()) is not None:
                for attempt in range(1, (retry.attempts if retry else 1) + 1):
                    exchange = http_client.send(call)
                    log.append(exchange)
                    if retry is None or exchange.status not in (None, 503) or attempt == retry.attempts:
                        break
                    if time.monotonic() > feed.deadline:
                        break
                    time.sleep(retry.delay * (0.5 + jitter.random()))
        finally:
            http_client.close()

    threads = [threading.Thread(target=client, args=(log,), daemon=True) for log in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 2 * REQUEST_TIMEOUT)
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("A client thread did not finish within its time bound.")
    return [exchange for log in results for exchange in log]


def fire_simultaneously(base_url: str | list[str], calls: list[Call]) -> list[Exchange]:
    """Every call on its own thread and its own already-open connection, released together by a barrier. Given
    several servers (app nodes), the calls go to them in turn."""
    base_urls = [base_url] if isinstance(base_url, str) else base_url
    http_clients = [HttpClient(base_urls[index % len(base_urls)]) for index in range(len(calls))]
    for http_client in http_clients:
        http_client.connect()
    barrier = threading.Barrier(len(calls), timeout=60)
    results: list[Exchange | None] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = http_clients[index].send(calls[index])
        http_clients[index].close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60 + 2 * REQUEST_TIMEOUT)
    if any(result is None for result in results):
        raise RuntimeError("A simultaneous call did not finish within its time bound.")
    return results
