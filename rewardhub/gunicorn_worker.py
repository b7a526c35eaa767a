"""gunicorn's asgi worker, sharing new connections evenly with its sibling workers.

The workers accept from one listening socket, and a kept-alive connection stays with the worker that accepted
it. uvloop's server accepts every pending connection when it wakes, so whichever worker woke first took most of
a burst of new connections (a median of 10 or 11 of 16, up to 13, in the soak test); a worker runs all of its
connections on one core, so that worker ran at its limit while the other had room. Here a worker accepts one
connection per wake-up, and once it holds as many connections as its database pool has, it pauses for
ACCEPT_PAUSE after each further one, so that a less busy sibling takes the next; alone, it still accepts them
all, each at most ACCEPT_PAUSE later.
"""

import asyncio
import os
import socket

from django.conf import settings
from gunicorn.arbiter import Arbiter
from gunicorn.asgi.lifespan import LifespanManager
from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers.gasgi import ASGIWorker

ACCEPT_PAUSE = 0.001  # seconds: short enough not to limit how fast a busy worker takes new connections


class BalancedASGIWorker(ASGIWorker):
    async def _serve(self):
        """gunicorn 27's ASGIWorker._serve, with BalancedListener in place of loop.create_server."""
        await self._start_lifespan()
        self.servers = [BalancedListener(self, listener.sock) for listener in self.sockets]
        while self.alive:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                break
            await asyncio.sleep(1.0)
        await self._shutdown()

    async def _start_lifespan(self) -> None:
        """Start the application (rewardhub.hot_paths.AsyncHotPaths opens its pool); one that cannot start stops
        gunicorn rather than serve without its pool."""
        self.lifespan = LifespanManager(self.asgi, self.log, self.state)
        try:
            await self.lifespan.startup()
        except Exception as error:
            self.log.error("ASGI lifespan startup failed: %s", error)
            raise SystemExit(Arbiter.WORKER_BOOT_ERROR) from error


class BalancedListener:
    """Accepts from one listening socket into ASGIProtocol connections; what _shutdown needs of a server."""

    def __init__(self, worker: BalancedASGIWorker, sock: socket.socket):
        self.worker, self.sock, self.loop = worker, sock, worker.loop
        self.ssl = worker._get_ssl_context()
        self.connecting = 0
        self.sock.setblocking(False)
        self.loop.add_reader(self.sock.fileno(), self.accept)

    def accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return  # a sibling worker took it
        conn.setblocking(False)
        self.connecting += 1  # nr_conns counts it once its protocol starts, in the task
        task = self.loop.create_task(
            self.loop.connect_accepted_socket(lambda: ASGIProtocol(self.worker), conn, ssl=self.ssl)
        )
        task.add_done_callback(self.connected)
        if self.worker.nr_conns + self.connecting >= settings.DB_POOL_SIZE:
            self.loop.remove_reader(self.sock.fileno())
            self.loop.call_later(ACCEPT_PAUSE, self.resume)

    def connected(self, task: asyncio.Task) -> None:
        self.connecting -= 1

    def resume(self) -> None:
        if self.worker.alive:
            self.loop.add_reader(self.sock.fileno(), self.accept)

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())

    async def wait_closed(self) -> None:
        return None
