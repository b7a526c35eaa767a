"""Test helpers: real concurrency (PostgreSQL, pytest-django `transaction=True`) and the secret-log detector."""

import functools
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from django.db import connection


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
