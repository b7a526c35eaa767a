"""The application gunicorn's workers serve (rewardhub.asgi), `make run` serves and the API tests drive.

The fast lane: partner postbacks, offer-network callbacks, the giveaway hosts' signed API and /healthz are nearly
all of the traffic. Their views authenticate with their own secrets and signatures and use no session, user, CSRF
token, message or login-attempt tracking, yet Django's handler ran that whole middleware stack, URL resolution
and DRF's request wrapping and content negotiation on every request: most of each request's Python time besides
the view's own (README, Performance). So the routes of one explicit table (rewardhub.urls.HOT_PATHS) are served
here, before Django's handler: each view is a coroutine `view(request, db, **kwargs)` run on the worker's event
loop with a pool of async PostgreSQL connections (rewardhub.db), keeping what matters for them from the handler:
SecurityMiddleware and XFrameOptionsMiddleware (HTTPS redirect, security headers), the 503 for a lost database,
and Django's exception responses and logging. Every other request (the reward app's DRF API, the admin, the
giveaway pages, the schema) goes to Django's handler unchanged.
"""

import asyncio
import io
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from a2wsgi import WSGIMiddleware
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIHandler
from django.http import Http404, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import URLPattern, path
from django.urls.resolvers import RoutePattern
from django.utils.log import log_response

from rewardhub import auth_throttle, logs, metrics
from rewardhub.db import PooledDatabase, close_thread_connections
from rewardhub.middleware import database_unavailable

HotView = Callable[..., Awaitable[HttpResponse]]  # view(request, db, **the route's arguments)


@dataclass(frozen=True)
class HotPath:
    """One route of the fast lane: a Django path (converters included), the view coroutine that serves every
    method on it, its URL name for reverse() and {% url %}, and what /api/schema/ says of each documented method
    (`docs`: {"post": extend_schema(...)}, see rewardhub.schema.document_hot_paths)."""

    route: str
    view: HotView
    name: str
    docs: dict[str, Callable] = field(default_factory=dict)

    @cached_property
    def pattern(self) -> RoutePattern:
        return RoutePattern(self.route, is_endpoint=True)

    def reversible(self) -> URLPattern:
        """This route in Django's URLconf for reverse() only: Django's handler never receives its requests."""
        return path(self.route, served_by_the_fast_lane, name=self.name)


def served_by_the_fast_lane(request, **kwargs):
    """Unreachable under rewardhub.asgi.application, which answers these paths before Django's handler."""
    raise Http404("Served by the fast lane only (rewardhub.hot_paths).")


class Application:
    """ASGI: the fast lane's coroutines on a pool of async connections (rewardhub.db.PooledDatabase), opened at
    lifespan start-up. Every other request goes to Django's WSGI handler in a pool of DJANGO_THREADS threads
    (a2wsgi) once its body has arrived (BodyFirst), each thread with its persistent connection: Django's own
    ASGI handler runs a request's sync code (our views, DRF, the admin, most middleware) in a thread of its own,
    with a new database connection each time, and served GET /api/app/me at a fifth of this. Start-up also opens
    the worker's Redis client for the failed-authentication throttle (rewardhub.auth_throttle); shutdown closes
    the pool and every thread's Django connection."""

    def __init__(self, handler: WSGIHandler, routes: list[HotPath]):
        self.routes = routes
        self.security = SecurityMiddleware(handler.get_response)
        self.frame_options = XFrameOptionsMiddleware(handler.get_response)
        self.threads = WSGIMiddleware(handler, workers=settings.DJANGO_THREADS)
        self.django = BodyFirst(self.threads, settings.HTTP_MAX_BODY_BYTES)
        self.database: PooledDatabase | None = None
        self.metrics_upkeep: asyncio.Task | None = None  # rewardhub.metrics.upkeep, while it serves
        self.loop: asyncio.AbstractEventLoop | None = None  # the one serving it, from lifespan start-up

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.lifespan(receive, send)
        if scope["type"] == "http":
            request_id = logs.take_request_id(scope["headers"])
            path_info = scope["path"].removeprefix(scope.get("root_path", ""))
            for route in self.routes:
                if match := route.pattern.match(path_info.removeprefix("/")):
                    return await self.serve(route, match[2], scope, receive, send, request_id)
            scope, send = django_side(scope, send, request_id)
        return await self.django(without_underscore_headers(scope), receive, send)

    async def lifespan(self, receive, send) -> None:
        while (await receive())["type"] == "lifespan.startup":
            self.database = await PooledDatabase.open(size=settings.DB_POOL_SIZE, timeout=settings.DB_POOL_TIMEOUT)
            self.metrics_upkeep = asyncio.create_task(metrics.upkeep(self.database.pool))
            auth_throttle.open_worker_client()
            self.loop = asyncio.get_running_loop()
            _serving.append(self)
            await send({"type": "lifespan.startup.complete"})
        if self in _serving:
            _serving.remove(self)
            self.metrics_upkeep.cancel()
            metrics.flush()
        if self.database is not None:
            await self.database.close()
        await auth_throttle.close_worker_client()
        await asyncio.to_thread(close_thread_connections, self.threads.executor, settings.DJANGO_THREADS)
        await send({"type": "lifespan.shutdown.complete"})

    async def serve(self, route: HotPath, kwargs: dict, scope, receive, send, request_id: bytes) -> None:
        if (body := await read_body(receive, send, settings.API_MAX_BODY_BYTES + 1)) is None:
            return
        started = time.perf_counter()
        # As a WSGI environ holds it (latin-1), for the views' get_str_from_wsgi: bytes that are not UTF-8 then
        # read as U+FFFD, where ASGIRequest's own decoding would fail on them.
        scope = {**scope, "query_string": scope.get("query_string", b"").decode("latin-1")}
        request = ASGIRequest(scope, io.BytesIO(body))
        try:
            response = self.security.process_request(request) or await route.view(request, self.pool(), **kwargs)
        except Exception as exc:  # answered as Django's handler answers a view's exception
            response = database_unavailable(exc) or response_for_exception(request, exc)
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self.finish(request, response)]
        headers.append((b"x-request-id", request_id))
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": response.content})
        metrics.observe_request(route.name, response.status_code, started)

    def pool(self) -> PooledDatabase:
        if self.database is None:
            raise RuntimeError("The fast lane needs its pool: serve rewardhub.asgi.application with lifespan on.")
        return self.database

    def finish(self, request, response) -> list[tuple[str, str]]:
        """The response's headers once the security middleware has seen it, with Django's logging of errors."""
        response = self.frame_options.process_response(request, self.security.process_response(request, response))
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        if not response.has_header("Content-Length"):  # keep-alive clients need it (CommonMiddleware's job elsewhere)
            response["Content-Length"] = str(len(response.content))
        return [*response.items(), *(("Set-Cookie", cookie.output(header="")) for cookie in response.cookies.values())]


def django_side(scope: dict, send: Callable, request_id: bytes) -> tuple[dict, Callable]:
    """A request for Django's handler: its id in the request Django sees (rewardhub.logs) and in the response, and
    the request in the metrics by status (rewardhub.metrics), timed to the start of the answer."""
    started = time.perf_counter()
    header = (b"x-request-id", request_id)
    headers = [(name, value) for name, value in scope["headers"] if name != b"x-request-id"]

    async def send_counted(message: dict) -> None:
        if message["type"] == "http.response.start":
            metrics.observe_request("django", message["status"], started)
            message = {**message, "headers": [*message.get("headers", ()), header]}
        await send(message)

    return {**scope, "headers": [*headers, header]}, send_counted


# The applications this process serves between their lifespan start-up and shutdown, the newest last (a gunicorn
# worker has one; a test may serve its own over the session's).
_serving: list[Application] = []
LOOPBACK_TIMEOUT = 30  # seconds


class LoopbackUnavailable(Exception):
    """No application serves in this process (a management command, a view under Django's test client)."""


@dataclass(frozen=True)
class LoopbackResponse:
    status: int
    content_type: str
    body: bytes


def loopback(
    url: str, *, source_ip: str, method: str = "GET", headers: Mapping[str, str] | None = None, body: bytes = b""
) -> LoopbackResponse:
    """Send a request to `url`, an address under PUBLIC_BASE_URL, through the application serving this process, as
    `source_ip`
    would send it through the proxies TRUSTED_PROXY_HOPS counts: a console tool, in one of Django's threads, drives
    a route exactly as production serves it. In process, not over the network: a server may not reach its own
    public address, would arrive from its own, and one `make run` worker would wait on itself."""
    if not _serving:
        raise LoopbackUnavailable("No application serves in this process.")
    application = _serving[-1]
    try:
        on_its_loop = asyncio.get_running_loop() is application.loop
    except RuntimeError:  # no loop in this thread: one of Django's
        on_its_loop = False
    if on_its_loop:
        raise LoopbackUnavailable("A request cannot wait for its own event loop.")
    scope = loopback_scope(url, source_ip, method, headers or {})
    future = asyncio.run_coroutine_threadsafe(_respond(application, scope, body), application.loop)
    try:
        start, body = future.result(LOOPBACK_TIMEOUT)
    except TimeoutError:
        future.cancel()
        raise
    content_type = dict(start["headers"]).get(b"content-type", b"").decode("latin-1")
    return LoopbackResponse(start["status"], content_type, body)


def loopback_scope(url: str, source_ip: str, method: str, extra_headers: Mapping[str, str]) -> dict:
    parts = urlsplit(url)
    headers = [(b"host", parts.netloc.encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in extra_headers.items()]
    if settings.TRUSTED_PROXY_HOPS:  # each proxy appends the address it saw; the client's is the Nth from the right
        headers.append((b"x-forwarded-for", ", ".join([source_ip] * settings.TRUSTED_PROXY_HOPS).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": parts.scheme,
        "path": unquote(parts.path),
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": headers,
        "client": (source_ip, 0),
        "server": (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)),
    }


async def _respond(application: Application, scope: dict, body: bytes) -> tuple[dict, bytes]:
    """The response's start message and its body, the request's body given at once."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive() -> dict:
        if pending:
            return pending.pop()
        await asyncio.Future()  # connected until the response is complete

    async def send(message: dict) -> None:
        sent.append(message)

    await application(scope, receive, send)
    return sent[0], b"".join(message.get("body", b"") for message in sent[1:])


def without_underscore_headers(scope: dict) -> dict:
    """As gunicorn's own HTTP parser and Django's ASGIRequest drop them, and uvicorn does not: in a WSGI environ
    `X_Forwarded_For` would read as `X-Forwarded-For`, a client address of the sender's choosing."""
    return {**scope, "headers": [(name, value) for name, value in scope["headers"] if b"_" not in name]}


class BodyFirst:
    """Hands `app` (Django's handler in a2wsgi's threads) only requests whose whole body has arrived, read here in
    the event loop: a2wsgi gave a thread the body as it arrived, so a dozen bodies sent a byte at a time held every
    thread and stalled every request but the hot paths. A body over `limit` bytes is refused (413) unread when its
    Content-Length says so, else once `limit` is passed; one not complete within HTTP_BODY_TIMEOUT gets 408."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if declared_length(scope) > self.limit:
            return await refuse(send, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        if (body := await read_body(receive, send, self.limit + 1)) is None:
            return
        if len(body) > self.limit:
            return await refuse(send, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        await self.app(with_content_length(scope, len(body)), replay(body, receive), send)


def declared_length(scope: dict) -> int:
    """The request's Content-Length, 0 without one (httptools refuses one that is not a number)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value)
    return 0


BODY_FRAMING_HEADERS = (b"content-length", b"transfer-encoding")


def with_content_length(scope: dict, length: int) -> dict:
    """The scope of a request whose body is now `length` bytes in hand: a chunked body (Transfer-Encoding, no
    Content-Length) read as empty to Django's WSGIRequest, which reads CONTENT_LENGTH bytes."""
    headers = [(name, value) for name, value in scope["headers"] if name not in BODY_FRAMING_HEADERS]
    return {**scope, "headers": [*headers, (b"content-length", str(length).encode())]}


def replay(body: bytes, receive):
    """An ASGI receive that gives the whole body at once, then what the client sends next (its disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> dict:
        return pending.pop() if pending else await receive()

    return replayed


async def refuse(send, status: HTTPStatus) -> None:
    """A plain answer to a request whose body we will not read (any more): the connection closes after it, since
    the rest of that body would otherwise be read as the next request."""
    body = status.phrase.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive, send, limit: int) -> bytes | None:
    """The request's body, or its first `limit` bytes when it is longer (the caller refuses it: 413). None when
    the request is over: the client disconnected first, or the body did not arrive within HTTP_BODY_TIMEOUT
    seconds (answered 408 here)."""
    chunks, size = [], 0
    try:
        async with asyncio.timeout(settings.HTTP_BODY_TIMEOUT):
            while size < limit:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if not message.get("more_body"):
                    break
    except TimeoutError:
        await refuse(send, HTTPStatus.REQUEST_TIMEOUT)
        return None
    return b"".join(chunks)
