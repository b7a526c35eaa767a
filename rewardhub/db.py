"""How the fast lane (rewardhub.hot_paths) reaches the database.

The partner postback, offer callback and giveaway callbacks are coroutines that run their SQL through the
`Database` passed in, a pool of async psycopg connections opened when a worker starts: one worker keeps many
requests in flight while PostgreSQL works, without threads. Each statement commits on its own (autocommit), so
these connections never see a test's open transaction: the tests that drive them commit their data
(rewardhub.testing). The rare branches that use the ORM (refusals, bans) go through `Database.orm`, in a thread
of their own.
"""

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections
from psycopg import AsyncConnection, AsyncCursor
from psycopg_pool import AsyncConnectionPool

ORM_THREADS = 2  # per worker, for the hot paths' rare ORM branches (a refused pid, a duplicate's key, a ban)


class KeptCursorConnection(AsyncConnection):
    """A pooled connection that runs every statement on one cursor: it keeps the adapters psycopg found for each
    parameter and column type, which a new cursor looks up again (an offer's 31 parameters: 17 µs against 10)."""

    @functools.cached_property
    def kept_cursor(self) -> AsyncCursor:
        return self.cursor()


class PooledDatabase:
    """Autocommit connections from a psycopg pool: every hot-path statement is its own transaction. A connection
    that broke is discarded by the pool when returned; the request that found it broken gets a Django
    OperationalError (503, rewardhub.middleware) and the next gets a new connection. The pool's connections are
    KeptCursorConnections, as `open` makes them."""

    def __init__(self, pool: AsyncConnectionPool):
        self.pool = pool
        # The rare ORM branches' own threads, each with its Django connection: counted (README, Production), where
        # the loop's default executor would start up to cores + 4 threads and connections.
        self.orm_threads = ThreadPoolExecutor(ORM_THREADS, thread_name_prefix="hot-path-orm")
        # Django's error classes for psycopg's, taken once: under asyncio every request is a task of its own, and
        # `connections[...]` builds each task a new DatabaseWrapper (asgiref's thread-critical Local is per task).
        self.django_errors = connections[DEFAULT_DB_ALIAS].wrap_database_errors

    @classmethod
    async def open(cls, *, size: int, timeout: float) -> "PooledDatabase":
        """A pool with the settings' connection parameters and type adapters (those of Django's connection)."""
        params = connections[DEFAULT_DB_ALIAS].get_connection_params()
        params.pop("cursor_factory")  # Django's is a sync cursor; psycopg's async default binds server-side too
        pool = AsyncConnectionPool(
            kwargs={**params, "autocommit": True},
            connection_class=KeptCursorConnection,
            min_size=size,
            max_size=size,
            timeout=timeout,
            open=False,
        )
        await pool.open(wait=False)  # a database that is down now answers 503 per request, not a dead worker
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()
        await asyncio.to_thread(close_thread_connections, self.orm_threads, ORM_THREADS)

    async def fetchone(self, sql: str | bytes, params) -> tuple | None:
        return await self._run(sql, params, "fetchone")

    async def fetchall(self, sql: str | bytes, params) -> list[tuple]:
        return await self._run(sql, params, "fetchall")

    async def execute(self, sql: str | bytes, params) -> None:
        await self._run(sql, params, None)

    async def _run(self, sql: str | bytes, params, fetch: str | None):
        # Raised as Django's classes, as on Django's own connection, so callers catch the errors they know.
        with self.django_errors:
            async with self.pool.connection() as conn:
                cursor = await conn.kept_cursor.execute(sql, params)
                return await getattr(cursor, fetch)() if fetch else None

    async def orm(self, function: Callable, *args, **kwargs):
        # In the request's context, so what the thread logs carries the request's id (rewardhub.logs).
        call = functools.partial(contextvars.copy_context().run, _with_connection_upkeep, function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.orm_threads, call)


Database = PooledDatabase  # the name the services take it by


def _with_connection_upkeep(function: Callable, *args, **kwargs):
    """What request_started/finished do for a view: drop a connection that broke or outlived CONN_MAX_AGE."""
    close_old_connections()
    try:
        return function(*args, **kwargs)
    finally:
        close_old_connections()


def close_thread_connections(executor: ThreadPoolExecutor, threads: int) -> None:
    """Close the Django connection of each of an executor's `threads` threads, then shut it down. A barrier holds
    each closing task until all have started, so no thread runs two of them and none is missed."""
    barrier = threading.Barrier(threads)

    def close() -> None:
        barrier.wait(timeout=10)
        connections.close_all()

    for task in [executor.submit(close) for _ in range(threads)]:
        task.result()
    executor.shutdown()
