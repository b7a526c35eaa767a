"""Scheduled work (`draw_giveaways`, `roll_up_coin_flows`, `prune_logs`) runs from cron or a timer on every app node;
a lease makes one run do it at a time while the others skip. A row rather than a PostgreSQL advisory lock: a
session's lock would not survive a transaction-mode pooler (PgBouncer) giving its next statement another server
connection, and the lease's expiry frees it when a run dies without releasing it. The work itself stays safe to
repeat (each draw locks its giveaway, a day is rolled up once, pruning deletes what is old): the lease saves the
duplicate effort and keeps the output to one node's."""

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import connection

_TAKE_SQL = """
INSERT INTO scheduled_runs AS run (name, holder, started_at, expires_at)
VALUES (%(name)s, %(holder)s, now(), now() + %(ttl)s)
ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, started_at = now(), expires_at = EXCLUDED.expires_at
WHERE run.expires_at < now()
RETURNING holder
"""


@contextmanager
def lease(name: str, ttl: timedelta) -> Iterator[bool]:
    """Whether this run holds `name` (True) or another one does (False); released on leaving."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_SQL, {"name": name, "holder": holder, "ttl": ttl})
        held = cursor.fetchone() is not None
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM scheduled_runs WHERE name = %s AND holder = %s", [name, holder])


class ScheduledCommand(BaseCommand):
    """A command meant for cron on every node: `run` is done by one node at a time, named by the command."""

    lease_ttl = timedelta(hours=1)  # longer than any run takes: a run past it may overlap the next

    def handle(self, *args, **options):
        name = self.__module__.rpartition(".")[2]
        with lease(name, self.lease_ttl) as held:
            if not held:
                self.stdout.write(f"{name}: another run is under way; skipped.")
                return
            self.run(*args, **options)

    def run(self, *args, **options):
        raise NotImplementedError
