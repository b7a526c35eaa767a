"""Partner postbacks (seed 004): record every valid level once, credit coins on milestones."""

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from catalog.models import StoreApp
from catalog.services import hash_secret
from postbacks.models import UserPostback
from rewardhub.db import Database
from rewardhub.errors import Refused, unauthorized

# (highest level of the band, coins per milestone in it); levels above the last band earn 1.
MILESTONE_BANDS = ((30, 25), (70, 15), (90, 10), (100, 5), (130, 2))
MILESTONE_EVERY = 5
SECRET_TOUCH_INTERVAL = 60  # seconds


def is_milestone(level_number: int) -> bool:
    return level_number % MILESTONE_EVERY == 0


def milestone_coins(level_number: int) -> int:
    if not is_milestone(level_number):
        return 0
    return next((coins for top, coins in MILESTONE_BANDS if level_number <= top), 1)


@dataclass(frozen=True)
class PostbackTarget:
    """What one authenticated postback is about, read in a single query."""

    secret_id: int
    pid: str
    gid: str
    game_pk: int
    user_id: uuid.UUID
    coins: int
    device_id: str
    stale_last_use: bool
    banned: bool  # an operator banned the user: record the level, credit nothing


@dataclass(frozen=True)
class PostbackOutcome:
    target: PostbackTarget
    level_number: int
    duplicate: bool
    coin_delta: int
    coins: int  # the user's balance after this postback

    @property
    def milestone(self) -> bool:
        return is_milestone(self.level_number)


async def record_partner_postback(
    *, db: Database, secret: str, pid: str, uid: uuid.UUID, gid: str, level_number: int, reason: str | None = None
) -> PostbackOutcome:
    """Authenticate, validate pid/gid/uid, record the level once and credit a milestone: one statement (one
    round trip, its own transaction)."""
    params = {
        **_lookup_params(secret, gid, uid),
        "pid": pid,
        "level": level_number,
        "coins": milestone_coins(level_number),
        "metadata": json.dumps({"reason": reason}) if reason else "{}",
    }
    row = await db.fetchone(_RECORD_SQL_BYTES, params)
    target = await _target(db, row and row[:-2], pid=pid, gid=gid, uid=uid)
    postback_id, balance_after = row[-2:]
    if postback_id is None:
        return PostbackOutcome(target, level_number, duplicate=True, coin_delta=0, coins=target.coins)
    coin_delta = 0 if target.banned else params["coins"]
    coins = target.coins if balance_after is None else balance_after
    return PostbackOutcome(target, level_number, duplicate=False, coin_delta=coin_delta, coins=coins)


# The target lookup (its columns, in this order, are what _target checks), the secret's last-use stamp, the postback
# insert and the credit, as one statement. The INSERT only runs for a valid request, ON CONFLICT makes the first of
# any number of copies the only one that reaches the credit, and ledger_post (the ledger's posting rule, ledger
# migration 0009) writes the balance and its entry, whose key makes a second credit of the postback impossible.
_RECORD_SQL = """
WITH target AS (
    SELECT s.id AS secret_id, a.pid AS secret_pid, g.id AS game_pk, g.active AS game_active,
           u.id AS user_id, u.coins, u.device_id, u.banned_at IS NOT NULL AS banned,
           s.last_used_at IS NULL OR s.last_used_at < %(touch_cutoff)s AS stale_last_use
    FROM partner_api_secrets s
    JOIN store_apps a ON a.id = s.store_app_id
    LEFT JOIN reward_games g ON g.gid = %(gid)s
    LEFT JOIN users u ON u.id = %(uid)s AND u.store_app_id = a.id
    WHERE s.secret_hash = %(secret_hash)s AND s.revoked_at IS NULL
),
touched AS (
    -- SKIP LOCKED: when concurrent postbacks all find the stamp stale, one writes it and none waits for
    -- another's row lock (waiting here, while holding the user's row, could deadlock two requests).
    UPDATE partner_api_secrets SET last_used_at = now()
    WHERE id = (
        SELECT s.id FROM partner_api_secrets s JOIN target ON s.id = target.secret_id
        WHERE target.stale_last_use FOR UPDATE OF s SKIP LOCKED
    )
),
posted AS (
    INSERT INTO user_postbacks (user_id, game_id, pid, level_number, awarded, coin_delta, metadata)
    SELECT user_id, game_pk, secret_pid, %(level)s, NOT banned AND %(coins)s > 0,
           CASE WHEN banned THEN 0 ELSE %(coins)s END,
           CASE WHEN banned THEN %(metadata)s::jsonb || '{"banned": true}' ELSE %(metadata)s::jsonb END
    FROM target
    WHERE secret_pid = %(pid)s AND game_active AND user_id IS NOT NULL
    ON CONFLICT (user_id, game_id, level_number) DO NOTHING
    RETURNING id, user_id, coin_delta
),
credit AS (
    -- Not a data-modifying CTE: it runs because the final SELECT reads it.
    SELECT entry.balance_after
    FROM posted CROSS JOIN LATERAL ledger_post(
        user_id => posted.user_id, amount => posted.coin_delta, kind => 'partner_postback', bucket => 'available',
        key => 'partner_postback:' || posted.id, reference => 'user_postbacks:' || posted.id
    ) AS entry
    WHERE posted.coin_delta > 0
)
SELECT target.*, posted.id, credit.balance_after
FROM target LEFT JOIN posted ON true LEFT JOIN credit ON true
"""


# Encoded once: psycopg would encode (and hash, for its statement cache) the 2 KB text on every call.
_RECORD_SQL_BYTES = _RECORD_SQL.encode()


def _lookup_params(secret: str, gid: str, uid: uuid.UUID) -> dict:
    """As psycopg takes them (UUID, aware datetime)."""
    return {
        "touch_cutoff": timezone.now() - timedelta(seconds=SECRET_TOUCH_INTERVAL),  # at most one write a minute
        "gid": gid,
        "uid": uid,
        "secret_hash": hash_secret(secret),
    }


async def _target(db: Database, row, *, pid: str, gid: str, uid: uuid.UUID) -> PostbackTarget:
    """The target lookup's row, checked in the contract's order: secret, pid (another partner's pid is refused as
    unauthorized), gid, uid."""
    if row is None:
        raise unauthorized()
    secret_id, secret_pid, game_pk, game_active, user_id, coins, device_id, banned, stale_last_use = row
    if secret_pid != pid:
        raise await db.orm(_pid_error, pid)
    if game_pk is None:
        raise Refused("unknown_gid", f"No reward game is registered with gid '{gid}'.")
    if not game_active:
        raise Refused("game_inactive", f"The reward game '{gid}' is not accepting postbacks.")
    if user_id is None:
        raise Refused("unknown_uid", f"No user {uid} in store app '{pid}'.")
    return PostbackTarget(secret_id, pid, gid, game_pk, uid, coins, device_id, bool(stale_last_use), bool(banned))


def _pid_error(pid: str) -> Refused:
    """Another partner's pid is unauthorized (the secret is not valid for it), an unknown one unknown."""
    if StoreApp.objects.filter(pid=pid).exists():
        return unauthorized(f"This API secret is not valid for pid '{pid}'.")
    return Refused("unknown_pid", f"No store app is registered with pid '{pid}'.")


@dataclass(frozen=True)
class AckResult:
    acked: list[int]  # marked applied by this call
    already_acked: list[int]  # applied earlier: nothing changed
    not_found: list[int]  # no such postback for this user (another user's ids land here too)


def ack_postbacks(*, user_id: uuid.UUID, ids: list[int]) -> AckResult:
    """The reward app applied these postbacks: mark them once. Only the user's own postbacks are touched."""
    ids = sorted(set(ids))
    with transaction.atomic():
        # Row locks in id order: a concurrent ack of the same ids waits, then sees them applied.
        applied_at = dict(
            UserPostback.objects.select_for_update()
            .filter(user_id=user_id, id__in=ids)
            .order_by("id")
            .values_list("id", "applied_at")
        )
        acked = [pk for pk in ids if pk in applied_at and applied_at[pk] is None]
        if acked:
            UserPostback.objects.filter(id__in=acked).update(applied_at=timezone.now())
    return AckResult(
        acked=acked,
        already_acked=[pk for pk in ids if applied_at.get(pk) is not None],
        not_found=[pk for pk in ids if pk not in applied_at],
    )
