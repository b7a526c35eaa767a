"""Helpers for tests that need real concurrency (PostgreSQL, pytest-django `transaction=True`)."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

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
