"""Deleting old rows of a log table that only grows, in short statements: each deletes among the next PRUNE_BATCH
rows by id, is its own transaction and locks only the rows it deletes, so the APIs writing new rows never wait."""

from collections.abc import Iterator
from datetime import datetime

from django.db import connection

PRUNE_BATCH = 5_000


def prune_in_batches(prune_sql: str, *, cutoff: datetime) -> Iterator[int]:
    """Run `prune_sql` batch after batch, yielding each batch's count. The statement takes %(from_id)s, %(batch)s
    and %(cutoff)s and returns (deleted, the batch's last id, whether to go on): ids grow with time, so a batch
    holding a row to keep, or fewer rows than asked, ends the pruning."""
    from_id = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(prune_sql, {"from_id": from_id, "batch": PRUNE_BATCH, "cutoff": cutoff})
            deleted, last_id, go_on = cursor.fetchone()
        yield deleted
        if not go_on:
            return
        from_id = last_id + 1
