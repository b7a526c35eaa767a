"""Refused partner postbacks and giveaway callbacks, kept so support can answer "why are our calls failing?".

What is kept (one row per refused call, one INSERT, on the refusal path only; an accepted call sends nothing more):
- A partner postback refused with any stable code (401, 400, 404, 413): refusals of a valid secret are the partner's
  own traffic, and every 401 counts as a failed authentication in rewardhub.auth_throttle, so one IP writes at most
  AUTH_FAILURE_LIMIT of them per AUTH_FAILURE_WINDOW before it is locked out.
- A giveaway callback refused for a participant that exists (a bad signature, an unknown event, a giveaway not
  running, not a winner): a callback naming no participant (a scanner guessing track_ids) is not kept.
- Nothing while the caller's IP is locked out (the 429 answers before any of this), nor for a wrong method, nor
  any unauthenticated refusal while the throttle's cache is unavailable (nothing would bound them then).

Never kept: the secret, the signature or the body; only the identifiers a call names, cut to their columns'
lengths. Rows older than REFUSED_CALL_RETENTION_DAYS are deleted by `manage.py prune_logs`.
"""

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db import DatabaseError, connection
from django.db.models import Count, Max
from django.db.models.functions import Trunc

from rewardhub import auth_throttle
from rewardhub.db import Database
from rewardhub.errors import Refused
from rewardhub.models import RefusedCall
from rewardhub.retention import prune_in_batches

logger = logging.getLogger(__name__)

_TEXT_COLUMNS = ("code", "message", "path", "pid", "user_id", "gid", "event")
_LENGTHS = {name: RefusedCall._meta.get_field(name).max_length for name in _TEXT_COLUMNS}

_RECORD_SQL = """
INSERT INTO refused_calls
    (source, code, message, status, source_ip, path, pid, giveaway_id, user_id, gid, level_number, event)
VALUES (%(source)s, %(code)s, %(message)s, %(status)s, %(source_ip)s, %(path)s, %(pid)s, %(giveaway_id)s,
        %(user_id)s, %(gid)s, %(level_number)s, %(event)s)
"""


def storable(text: str, max_length: int) -> str:
    """Cut to the column, without what PostgreSQL text cannot hold (NUL, unpaired surrogates): refused input is
    anything at all, and recording it must never fail."""
    text = text[:max_length].replace("\x00", "\N{REPLACEMENT CHARACTER}")
    return text.encode("utf-8", "replace").decode()


async def record_refused_call(
    db: Database,
    *,
    source: RefusedCall.Source,
    refused: Refused,
    status: int,
    source_ip: str | None,
    path: str,
    pid: str = "",
    giveaway_id: int | None = None,
    user_id: str = "",
    gid: str = "",
    level_number: int | None = None,
    event: str = "",
    unauthenticated: bool,
) -> None:
    """One INSERT. A failure is logged and swallowed: the caller still gets its refusal. `unauthenticated`: the
    refusal counted as a failed authentication (rewardhub.auth_throttle), the only bound on how many there are."""
    if unauthenticated and auth_throttle.outage.ongoing():
        return
    texts = {
        "code": refused.code,
        "message": refused.message,
        "path": path,
        "pid": pid,
        "user_id": user_id,
        "gid": gid,
        "event": event,
    }
    params = {name: storable(value, _LENGTHS[name]) for name, value in texts.items()}
    params.update(source=source, status=status, source_ip=source_ip, giveaway_id=giveaway_id, level_number=level_number)
    try:
        await db.execute(_RECORD_SQL, params)
    except DatabaseError as error:
        logger.warning("A refused %s call was not recorded (%s).", source, type(error).__name__)


def refused_partner_calls(since: datetime, until: datetime) -> list[dict]:
    """Refused partner postbacks per pid per hour (`pid`, `hour`, `refused`, `last`), from the created_at BRIN."""
    return list(
        RefusedCall.objects.filter(
            source=RefusedCall.Source.PARTNER_POSTBACK, created_at__gte=since, created_at__lte=until
        )
        .exclude(pid="")
        .annotate(hour=Trunc("created_at", "hour"))
        .values("pid", "hour")
        .annotate(refused=Count("id"), last=Max("created_at"))
        .order_by()
    )


# The codes recorded, each found by one descent of the (code, id) index: a filter's choices without a DISTINCT over
# millions of rows.
_RECORDED_CODES_SQL = """
WITH RECURSIVE codes AS (
    (SELECT code FROM refused_calls ORDER BY code LIMIT 1)
    UNION ALL
    SELECT (SELECT r.code FROM refused_calls r WHERE r.code > codes.code ORDER BY r.code LIMIT 1)
    FROM codes WHERE codes.code IS NOT NULL
)
SELECT code FROM codes WHERE code IS NOT NULL
"""


def recorded_codes() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(_RECORDED_CODES_SQL)
        return [code for (code,) in cursor.fetchall()]


# Among the next PRUNE_BATCH rows from an id on, those older than the cutoff (rewardhub.retention).
_PRUNE_SQL = """
WITH batch AS (
    SELECT id, created_at FROM refused_calls WHERE id >= %(from_id)s ORDER BY id LIMIT %(batch)s
),
deleted AS (
    DELETE FROM refused_calls r USING batch
    WHERE r.id = batch.id AND batch.created_at < %(cutoff)s
    RETURNING r.id
)
SELECT (SELECT count(*) FROM deleted), (SELECT max(id) FROM batch),
       (SELECT count(*) = %(batch)s AND bool_and(created_at < %(cutoff)s) FROM batch)
"""


def prune_refused_calls(*, older_than: timedelta, now: datetime) -> Iterator[int]:
    """Delete the rows recorded before `now - older_than`, a batch at a time; yields each batch's count."""
    return prune_in_batches(_PRUNE_SQL, cutoff=now - older_than)
