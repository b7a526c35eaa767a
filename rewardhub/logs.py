"""Log output: plain lines, or with LOG_FORMAT=json one JSON object per line for a log pipeline. Either way each
record carries the id of the request it was logged in: the one a trusted proxy sent in X-Request-ID, or a new one,
returned to the caller in the response's X-Request-ID so a support request can be matched to its lines."""

import itertools
import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from django.conf import settings

HEADER = "X-Request-ID"
request_id: ContextVar[str] = ContextVar("request_id", default="-")  # "-": logged outside any request
# A proxy's id is kept only if it is short and plain, so a forged one cannot inject text into log lines.
_USABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")


# New ids: this process's random prefix and a counter, unique across processes and nodes, and cheaper than a
# uuid4 on every request (which reads the system's random source each time).
_PREFIX = uuid.uuid4().hex[:16]
_issued = itertools.count(1)


def chosen_request_id(sent: str | None) -> str:
    """The id the trusted proxy in front of us sent, or a new one. Without a trusted proxy (TRUSTED_PROXY_HOPS=0)
    the header came from the client itself, which may not choose the id support will search for."""
    if sent and settings.TRUSTED_PROXY_HOPS and _USABLE_ID.match(sent):
        return sent
    return f"{_PREFIX}-{next(_issued):x}"


def take_request_id(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The id of the request with these (ASGI) headers, set for every line logged while serving it (a2wsgi copies
    the context into Django's threads)."""
    sent = next((value for name, value in headers if name == b"x-request-id"), None)
    chosen = chosen_request_id(sent and sent.decode("latin-1"))
    request_id.set(chosen)
    return chosen.encode()


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One object per line: time (UTC, ISO 8601), level, logger, message, request_id, the HTTP status where Django
    logs one, and the traceback as one string."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id.get()),
        }
        if isinstance(status := getattr(record, "status_code", None), int):
            entry["status"] = status
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)
