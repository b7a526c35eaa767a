"""gunicorn's threaded worker, sharing new connections evenly with its sibling workers.

The workers accept from one listening socket, and a kept-alive connection stays with the worker that accepted
it. Whichever worker woke first used to take most of a burst of new connections (16 of 16, 15 of 16 seen under
`make bench`); a process's threads share one GIL, so that worker ran at its limit while the other idled, at
two thirds of the balanced throughput. Here a worker that already holds as many connections as it has threads
pauses accepting for a moment after each further one, so a less busy sibling takes the next; alone, it still
accepts them all, each at most ACCEPT_PAUSE later.
"""

import time

from gunicorn.workers.gthread import ThreadWorker

ACCEPT_PAUSE = 0.001  # seconds: short enough not to limit how fast a busy worker takes new connections


class BalancedThreadWorker(ThreadWorker):
    def __init__(self, *args, **kwargs):
        self.accept_paused_until = 0.0
        super().__init__(*args, **kwargs)

    @property
    def worker_connections(self) -> int:
        """gthread's cap on this worker's connections, checked before each poll: none while accepting pauses."""
        return 0 if time.monotonic() < self.accept_paused_until else self.connection_limit

    @worker_connections.setter
    def worker_connections(self, limit: int) -> None:
        self.connection_limit = limit

    def accept(self, listener):
        super().accept(listener)
        if self.nr_conns >= self.cfg.threads:
            self.accept_paused_until = time.monotonic() + ACCEPT_PAUSE

    def wait_for_and_dispatch_events(self, timeout):
        # Poll again when the pause ends rather than after gthread's usual second.
        remaining = self.accept_paused_until - time.monotonic()
        super().wait_for_and_dispatch_events(min(timeout, remaining) if remaining > 0 else timeout)
