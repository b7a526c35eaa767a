"""uvicorn's httptools protocol with the limits gunicorn's own HTTP parser and nginx keep, which uvicorn lacks.

uvicorn accepted a request head of any size (one 50 MB header grew a worker by 100 MiB), never closed a new
connection that sent nothing, and stopped timing a kept-alive connection at its next byte, so headers trickled a
byte at a time (slowloris) held a connection for ever. Here a connection waits at most the keep-alive timeout for
a request to begin and HTTP_HEADER_TIMEOUT for that request's line and headers to arrive, and a head over
gunicorn's limits is answered 414 or 431 and the connection closed as soon as the limit is passed: bytes are
counted as they arrive, so a worker holds at most one read (uvloop's 250 KB) more than the limits allow.
Request bodies have their own limit and deadline, in the application (rewardhub.hot_paths). And a response leaves
in one send (OneWritePerStep).
"""

import asyncio
import http
import logging
from dataclasses import dataclass

from django.conf import settings
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadLimits:
    request_line: int  # bytes of the URL in the request line
    fields: int  # header fields
    field_size: int  # bytes of one field's name and value
    timeout: float  # seconds from a request's first byte to the end of its headers

    @classmethod
    def from_settings(cls) -> "HeadLimits":
        return cls(
            request_line=settings.HTTP_LIMIT_REQUEST_LINE,
            fields=settings.HTTP_LIMIT_REQUEST_FIELDS,
            field_size=settings.HTTP_LIMIT_REQUEST_FIELD_SIZE,
            timeout=settings.HTTP_HEADER_TIMEOUT,
        )

    @property
    def head_size(self) -> int:
        """The most bytes a head within the limits takes: its line and every field with their separators."""
        return self.request_line + 32 + self.fields * (self.field_size + 4)


class HeadTooLarge(Exception):
    """Raised from a parser callback, which stops the parser; uvicorn then answers through send_400_response."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """One connection. `deadline` closes it: while idle (keep-alive timeout), and while a head that took more than
    one read arrives (HTTP_HEADER_TIMEOUT); nothing times a request between its headers and its response."""

    def __init__(self, *args, limits: HeadLimits, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.deadline: asyncio.TimerHandle | None = None
        self.head_bytes: int | None = None  # bytes of the head in progress after its first read; None between heads
        self.url_bytes = self.field_count = 0
        self.refusal: http.HTTPStatus | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = OneWritePerStep(transport, self.loop)
        self.close_after(self.timeout_keep_alive)  # uvicorn only times a connection once it answered a request

    def connection_lost(self, exc: Exception | None) -> None:
        self.cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refusal is not None:
            return  # the rest of a refused head, dropped (refuse)
        counted = self.head_bytes is not None  # the read that began the head is not counted: one read at most
        super().data_received(data)
        if self.head_bytes is None or self.refusal is not None:
            return
        if self.deadline is None:  # a head that did not arrive in one read (most do): now it is timed
            self.close_after(self.limits.timeout)
        if counted:
            self.head_bytes += len(data)
            if self.head_bytes > self.limits.head_size:  # a field still arriving, beyond any allowed size
                self.refuse(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_bytes, self.url_bytes, self.field_count = 0, 0, 0
        self.cancel_deadline()  # no longer idle; data_received times the head if it needs more than this read

    def on_url(self, url: bytes) -> None:
        self.url_bytes += len(url)
        if self.url_bytes > self.limits.request_line:
            self.refusal = http.HTTPStatus.REQUEST_URI_TOO_LONG
            raise HeadTooLarge
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.field_count += 1
        if self.field_count > self.limits.fields or len(name) + len(value) > self.limits.field_size:
            self.refusal = http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
            raise HeadTooLarge
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.head_bytes = None
        self.cancel_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Idle again unless a pipelined request is already queued, or the next one's head is arriving (timed).
        if self.cycle.response_complete and self.head_bytes is None and not self.transport.is_closing():
            self.close_after(self.timeout_keep_alive)

    def send_400_response(self, msg: str) -> None:
        if self.refusal is None:
            super().send_400_response(msg)
        else:
            self.refuse(self.refusal)

    def refuse(self, status: http.HTTPStatus) -> None:
        """Answer `status` and end our side of the connection. Closing at once would make the kernel reset it while
        the head's rest is still arriving, and a client that sees the reset loses the answer: so, like nginx's
        lingering close, the rest is read and dropped until the client closes, for at most HTTP_HEADER_TIMEOUT."""
        self.refusal = status
        logger.warning("Refused a request head from %s: %s", self.client and self.client[0], status.phrase)
        body = status.phrase.encode()
        self.transport.write(
            STATUS_LINE[status]
            + b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
            % (len(body), body)
        )
        self.transport.write_eof()
        self.close_after(self.limits.timeout)

    def close_after(self, seconds: float) -> None:
        self.cancel_deadline()
        self.deadline = self.loop.call_later(seconds, self.transport.close)

    def cancel_deadline(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None


class OneWritePerStep:
    """A connection's transport whose writes within one step of the event loop leave as one send: uvicorn writes a
    response's head and its body separately, two packets the client wakes for, which cost the postback 4-6% of its
    throughput (A/B, alternating rounds). A write waits for nothing else: what one step wrote leaves at its end, so
    a `100 Continue` or a streamed chunk goes out as before. Anything else passes through; closing sends what is
    held first."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.held: list[bytes] = []

    def __getattr__(self, name: str):
        return getattr(self.transport, name)

    def write(self, data: bytes) -> None:
        if not self.held:
            self.loop.call_soon(self.flush)
        self.held.append(data)

    def flush(self) -> None:
        if self.held and not self.transport.is_closing():
            self.transport.write(b"".join(self.held))
        self.held.clear()

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def close(self) -> None:
        self.flush()
        self.transport.close()
