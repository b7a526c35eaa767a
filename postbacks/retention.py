"""The offer delivery log's retention: every callback adds a row, so rows older than OFFER_DELIVERY_RETENTION_DAYS
are deleted (`manage.py prune_logs`), except a delivery that recorded a conversion: its conversion names it and
ledger entries name the conversion, and nothing the ledger points to is ever deleted."""

from collections.abc import Iterator
from datetime import datetime, timedelta

from rewardhub.retention import prune_in_batches

# Among the next PRUNE_BATCH deliveries from an id on, those older than the cutoff that no conversion records
# (one probe of the conversions' unique delivery index each; rewardhub.retention).
_PRUNE_SQL = """
WITH batch AS (
    SELECT id, received_at FROM offer_deliveries WHERE id >= %(from_id)s ORDER BY id LIMIT %(batch)s
),
deleted AS (
    DELETE FROM offer_deliveries d USING batch
    WHERE d.id = batch.id AND batch.received_at < %(cutoff)s
      AND NOT EXISTS (SELECT FROM offer_conversions c WHERE c.delivery_id = d.id)
    RETURNING d.id
)
SELECT (SELECT count(*) FROM deleted), (SELECT max(id) FROM batch),
       (SELECT count(*) = %(batch)s AND bool_and(received_at < %(cutoff)s) FROM batch)
"""


def prune_offer_deliveries(*, older_than: timedelta, now: datetime) -> Iterator[int]:
    return prune_in_batches(_PRUNE_SQL, cutoff=now - older_than)
