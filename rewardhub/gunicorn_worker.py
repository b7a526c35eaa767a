"""The production worker: uvicorn's gunicorn worker (httptools, uvloop), sharing new connections evenly.

uvicorn's HTTP protocol took ~12% less CPU per postback than gunicorn's own asgi protocol (README, Performance).
Its settings here keep gunicorn's behaviour where the application relies on it: no proxy-header rewriting of the
client address (rewardhub reads X-Forwarded-For itself, TRUSTED_PROXY_HOPS), no access log unless gunicorn's
is on, an application that cannot start (lifespan) stops gunicorn instead of serving without its pool, and a
worker whose master is gone stops (at its next heartbeat).

The workers accept from one listening socket, and a kept-alive connection stays with the worker that accepted
it. asyncio's server accepts every pending connection when it wakes, so whichever worker woke first took most of
a burst of new connections (a median of 10 or 11 of 16, up to 13, in the soak test); a worker runs all of its
connections on one core, so that worker ran at its limit while the other had room. Here a worker accepts one
connection per wake-up, and once it holds as many connections as its database pool has, it pauses for
ACCEPT_PAUSE after each further one, so that a less busy sibling takes the next; alone, it still accepts them
all, each at most ACCEPT_PAUSE later.

Each connection speaks uvicorn's httptools protocol with gunicorn's limits on request heads and deadlines for
idle connections and slow headers (rewardhub/http_protocol.py).
"""

import asyncio
import logging
import os
import socket
import sys
from collections.abc import Callable

from django.conf import settings
from gunicorn.arbiter import Arbiter
from uvicorn.config import STARTUP_FAILURE
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from rewardhub.http_protocol import HeadLimits, LimitedHttpToolsProtocol

ACCEPT_PAUSE = 0.001  # seconds: short enough not to limit how fast a busy worker takes new connections
ACCEPT_RETRY_DELAY = 1.0  # seconds, after accept failed for want of file descriptors or memory (asyncio's value)

logger = logging.getLogger(__name__)


class BalancedUvicornWorker(UvicornWorker):
    CONFIG_KWARGS = {"loop": "uvloop", "http": "httptools", "lifespan": "on", "proxy_headers": False}

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        self.server = BalancedServer(config=self.config)
        self._install_sigquit_handler()
        await self.server.serve(sockets=self.sockets)
        if not self.server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)

    async def callback_notify(self) -> None:
        """The heartbeat, and what gunicorn's own workers do on it: stop when the master is gone."""
        self.notify()
        if self.ppid != os.getppid():
            self.log.info("Parent changed, shutting down: %s", self)
            self.server.should_exit = True


class BalancedServer(Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's Server.startup for a gunicorn worker's sockets, with BalancedListener for loop.create_server."""
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)

        limits = HeadLimits.from_settings()

        def create_protocol() -> asyncio.Protocol:
            return LimitedHttpToolsProtocol(
                config=self.config, server_state=self.server_state, app_state=self.lifespan.state, limits=limits
            )

        held = self.server_state.connections
        self.servers = [BalancedListener(sock, create_protocol, self.config.ssl, held) for sock in sockets or []]
        self.started = True


class BalancedListener:
    """Accepts from one listening socket into `create_protocol` connections; what Server.shutdown needs of a
    server. `held` is the set of this worker's open connections."""

    def __init__(self, sock: socket.socket, create_protocol: Callable[[], asyncio.Protocol], ssl, held: set):
        self.sock, self.create_protocol, self.ssl, self.held = sock, create_protocol, ssl, held
        self.loop = asyncio.get_running_loop()
        self.connecting = 0  # accepted, not yet in `held`
        self.closed = False
        self.sock.setblocking(False)
        self.loop.add_reader(self.sock.fileno(), self.accept)

    def accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # a sibling worker took it, or the client gave up
        except OSError as error:  # out of file descriptors or memory: as asyncio's own server, retry in a while
            logger.error("Accepting a connection failed (%s); retrying in %s s.", error, ACCEPT_RETRY_DELAY)
            self.pause(ACCEPT_RETRY_DELAY)
            return
        conn.setblocking(False)
        self.connecting += 1
        task = self.loop.create_task(self.loop.connect_accepted_socket(self.create_protocol, conn, ssl=self.ssl))
        task.add_done_callback(self.connected)
        if len(self.held) + self.connecting >= settings.DB_POOL_SIZE:
            self.pause(ACCEPT_PAUSE)

    def pause(self, seconds: float) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.loop.call_later(seconds, self.resume)

    def connected(self, task: asyncio.Task) -> None:
        self.connecting -= 1
        if task.cancelled() or task.exception() is not None:
            return  # the client left before its connection was set up
        if self.closed:  # set up after shutdown went through the open connections: close it too
            task.result()[1].shutdown()

    def resume(self) -> None:
        if not self.closed:
            self.loop.add_reader(self.sock.fileno(), self.accept)

    def close(self) -> None:
        self.closed = True
        self.loop.remove_reader(self.sock.fileno())

    async def wait_closed(self) -> None:
        return None
