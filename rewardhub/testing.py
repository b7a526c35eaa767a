"""Test helpers: the API client that drives the production application, real concurrency (PostgreSQL,
pytest-django `transaction=True`) and the secret-log detector."""

import asyncio
import functools
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http import HTTPStatus
from urllib.parse import quote, urlsplit

import psycopg
import uvloop
from django.db import connection
from django.http.response import ResponseHeaders
from django.test.client import MULTIPART_CONTENT, RequestFactory

from rewardhub.logs import JsonFormatter

REQUEST_TIMEOUT = 30  # seconds: a request that hangs fails its test instead of the whole run


class Server:
    """An ASGI application between its lifespan start-up and shutdown, as a gunicorn worker runs it: on a uvloop
    event loop in a thread of its own, so a test's threads can send it requests at the same time."""

    def __init__(self, application) -> None:
        self.application = application
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="asgi-server", daemon=True)

    def start(self) -> None:
        self.thread.start()
        self.run(self._startup())

    def stop(self) -> None:
        """Lifespan shutdown: the application closes its pool and every thread's Django connection."""
        try:
            self.run(self._shutdown())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
            self.loop.close()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(REQUEST_TIMEOUT)

    async def _startup(self) -> None:
        self.inbox, self.outbox = asyncio.Queue(), asyncio.Queue()
        self.lifespan = asyncio.create_task(self.application({"type": "lifespan"}, self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        assert (await self.outbox.get())["type"] == "lifespan.startup.complete"
        await self.application.database.pool.wait()  # the first test's requests find their connections open

    async def _shutdown(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        assert (await self.outbox.get())["type"] == "lifespan.shutdown.complete"
        await self.lifespan

    async def call(self, scope: dict, body: bytes) -> tuple[dict, bytes]:
        """One request as a server sends it; the response's start message and its body."""
        pending = [{"type": "http.request", "body": body, "more_body": False}]
        sent = []

        async def receive() -> dict:
            if pending:
                return pending.pop()
            await asyncio.Future()  # the client stays connected until the response is complete

        async def send(message: dict) -> None:
            sent.append(message)

        await self.application(scope, receive, send)
        return sent[0], b"".join(message.get("body", b"") for message in sent[1:])


_server: Server | None = None  # the test session's, opened by the `asgi_server` fixture (conftest.py)


@contextmanager
def serving(application) -> Iterator[Server]:
    """`application` serves Client's requests within the block (a test's own, built with other settings, serves
    instead of the session's until the block ends)."""
    global _server
    previous, _server = _server, Server(application)
    _server.start()
    try:
        yield _server
    finally:
        server, _server = _server, previous
        server.stop()


class Response:
    """What the tests read of django.test.Client's responses."""

    def __init__(self, start: dict, content: bytes) -> None:
        self.status_code = start["status"]
        self.reason_phrase = HTTPStatus(self.status_code).phrase
        self.headers = ResponseHeaders({})
        for name, value in start["headers"]:
            name, value = name.decode("latin-1"), value.decode("latin-1")
            self.headers[name] = f"{self.headers[name]}, {value}" if name in self.headers else value
        self.content = content

    def __getitem__(self, header: str) -> str:
        return self.headers[header]

    def has_header(self, header: str) -> bool:
        return header in self.headers

    def get(self, header: str, default=None):
        return self.headers.get(header, default)

    def json(self):
        return json.loads(self.content)


class Client:
    """The part of django.test.Client the API tests use (get, post, generic; data, content_type, headers, environ
    extras such as REMOTE_ADDR; follow), sending each request through rewardhub.asgi.application as uvicorn would,
    fast lane included. The requests are built by Django's RequestFactory, their environ turned into an ASGI scope.

    The application's connections (its pool and its threads') commit on their own and cannot see a test's open
    transaction: a test that uses this client is `django_db(transaction=True)`, and is refused otherwise."""

    def __init__(self, **defaults) -> None:
        self.factory = RequestFactory(**defaults)

    def get(self, path: str, data=None, *, headers=None, follow=False, **extra) -> Response:
        return self.send(self.factory.get(path, data, headers=headers, **extra), follow)

    def post(self, path: str, data=None, content_type=MULTIPART_CONTENT, *, headers=None, follow=False, **extra):
        return self.send(self.factory.post(path, data, content_type, headers=headers, **extra), follow)

    def generic(self, method: str, path: str, data="", content_type="application/octet-stream", *, headers=None,
                follow=False, **extra) -> Response:  # fmt: skip
        request = self.factory.generic(method, path, data, content_type, headers=headers, **extra)
        return self.send(request, follow)

    def send(self, request, follow: bool) -> Response:
        if _server is None:
            raise RuntimeError("No application is serving: mark the test django_db(transaction=True).")
        if connection.in_atomic_block:
            raise RuntimeError(
                "This test holds a transaction the application's connections cannot see: mark it "
                "django_db(transaction=True)."
            )
        body = request.environ["wsgi.input"].read(int(request.environ.get("CONTENT_LENGTH") or 0))
        response = Response(*_server.run(_server.call(asgi_scope(request.environ), body)))
        if follow and response.status_code in (301, 302, 303, 307, 308):
            return self.follow(request, body, response)
        return response

    def follow(self, request, body: bytes, response: Response) -> Response:
        """The redirect's target: with the same method and body for 307 and 308, as a GET otherwise."""
        environ = request.environ
        target = urlsplit(response["Location"])
        if response.status_code in (307, 308):
            headers = {"Content-Type": environ.get("CONTENT_TYPE", "")}
            extra = {key: value for key, value in environ.items() if key.startswith("HTTP_")}
            redirected = self.factory.generic(
                environ["REQUEST_METHOD"], target.path, body, headers=headers, QUERY_STRING=target.query, **extra
            )
            return self.send(redirected, follow=True)
        return self.get(target.path, QUERY_STRING=target.query, follow=True)


@contextmanager
def statements_sent() -> Iterator[list[str]]:
    """Every statement sent to PostgreSQL while the block runs, from any thread: the application's pool (psycopg's
    async cursors) and every thread's Django connection (psycopg's cursors, under Django's)."""
    sent, lock = [], threading.Lock()

    def record(query) -> None:
        with lock:
            sent.append(query.decode() if isinstance(query, bytes) else str(query))

    def counted(execute):
        if asyncio.iscoroutinefunction(execute):

            async def counted_async(cursor, query, *args, **kwargs):
                record(query)
                return await execute(cursor, query, *args, **kwargs)

            return counted_async

        def counted_sync(cursor, query, *args, **kwargs):
            record(query)
            return execute(cursor, query, *args, **kwargs)

        return counted_sync

    originals = [
        (cls, name, getattr(cls, name))
        for cls in (psycopg.Cursor, psycopg.AsyncCursor)
        for name in ("execute", "executemany")
    ]
    for cls, name, execute in originals:
        setattr(cls, name, counted(execute))
    try:
        yield sent
    finally:
        for cls, name, execute in originals:
            setattr(cls, name, execute)


def asgi_scope(environ: dict) -> dict:
    """The ASGI scope of a request a WSGI environ describes (RequestFactory's): what uvicorn builds from the same
    bytes on the wire. The environ's strings hold the bytes as latin-1; a character beyond is sent as UTF-8."""
    raw_path = _wire(environ["PATH_INFO"])
    headers = [
        (key.removeprefix("HTTP_").replace("_", "-").lower().encode(), _wire(value))
        for key, value in environ.items()
        if key.startswith("HTTP_") or (key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value)
    ]
    if "HTTP_HOST" not in environ:
        headers.append((b"host", environ["SERVER_NAME"].encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": environ["REQUEST_METHOD"],
        "scheme": environ["wsgi.url_scheme"],
        "path": raw_path.decode("utf-8", "replace"),
        "raw_path": quote(raw_path, safe="/:@!$&'()*+,;=").encode(),
        "query_string": _wire(environ.get("QUERY_STRING", "")),
        "root_path": "",
        "headers": headers,
        "client": (environ["REMOTE_ADDR"], 40000),
        "server": (environ["SERVER_NAME"], int(environ["SERVER_PORT"])),
    }


def _wire(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()


def run_concurrently(calls: list[Callable[[], object]]) -> list[object]:
    """Run every call on its own thread, released together by a barrier; each thread has its own
    database connection, closed afterwards. Returns the results (or raised exceptions) in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        try:
            barrier.wait()
            return call()
        except Exception as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


class SecretLogDetector(logging.Handler):
    """Keeps every formatted log record and every secret it is told about; `leaks()` pairs them up.

    Records are checked at the end rather than as they come, so a secret registered after it was logged
    is caught too. Secrets shorter than MIN_SECRET_LENGTH are ignored: only toy values in tests are that
    short, and they would match unrelated text."""

    MIN_SECRET_LENGTH = 8

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.json = JsonFormatter()
        self.secrets: set[str] = set()
        self.lines: list[tuple[str, str]] = []  # (logger name, formatted record with any traceback)

    def add_secret(self, value: str | bytes | None) -> None:
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        if value and len(value) >= self.MIN_SECRET_LENGTH:
            self.secrets.add(value)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append((record.name, self.format(record)))
            self.lines.append((record.name, self.json.format(record)))  # LOG_FORMAT=json's line
        except Exception:
            self.handleError(record)

    def leaks(self) -> list[str]:
        """One description per (secret, logger) found, naming the secret by its first characters only."""
        return sorted(
            {
                f"{secret[:6]}… in a record of {name!r}"
                for secret in self.secrets
                for name, line in self.lines
                if secret in line
            }
        )


@contextmanager
def wrapped_everywhere(owner: object, name: str, after: Callable[[tuple, dict, object], None]) -> Iterator[None]:
    """Replace the function `owner.name` with a wrapper that calls `after(args, kwargs, result)`, in its own
    module and in every loaded module or class that imported it by name; restore all of them on exit."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        after(args, kwargs, result)
        return result

    holders = [owner] + [
        module
        for module in list(sys.modules.values())
        if module is not owner and getattr(module, "__dict__", {}).get(name) is original
    ]
    for holder in holders:
        setattr(holder, name, wrapper)
    try:
        yield
    finally:
        for holder in holders:
            setattr(holder, name, original)
