"""The offer delivery log's retention: every callback that records no conversion adds a row, so rows older than
OFFER_DELIVERY_RETENTION_DAYS are deleted (`manage.py prune_logs`). An accepted delivery's log is its conversion's
own columns, and nothing the ledger points to is ever deleted."""

from collections.abc import Iterator
from datetime import datetime, timedelta

from rewardhub.retention import prune_in_batches

# Among the next PRUNE_BATCH deliveries from an id on, those older than the cutoff (rewardhub.retention).
_PRUNE_SQL = """
WITH batch AS (
    SELECT id, received_at FROM offer_deliveries_without_conversion WHERE id >= %(from_id)s ORDER BY id
    LIMIT %(batch)s
),
deleted AS (
    DELETE FROM offer_deliveries_without_conversion d USING batch
    WHERE d.id = batch.id AND batch.received_at < %(cutoff)s
    RETURNING d.id
)
SELECT (SELECT count(*) FROM deleted), (SELECT max(id) FROM batch),
       (SELECT count(*) = %(batch)s AND bool_and(received_at < %(cutoff)s) FROM batch)
"""


def prune_offer_deliveries(*, older_than: timedelta, now: datetime) -> Iterator[int]:
    return prune_in_batches(_PRUNE_SQL, cutoff=now - older_than)
