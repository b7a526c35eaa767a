"""Partner postbacks (seed 004): record every valid level once, credit coins on milestones."""

import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone
from rest_framework import status

from catalog.models import PartnerSecret, StoreApp
from catalog.services import hash_secret
from ledger.models import LedgerEntry, RewardUser
from ledger.services import post_entry
from postbacks.models import UserPostback
from rewardhub.errors import ApiError, unauthorized

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


def record_partner_postback(
    *, secret: str, pid: str, uid: uuid.UUID, gid: str, level_number: int, reason: str | None = None
) -> PostbackOutcome:
    target = _authorize(secret=secret, pid=pid, gid=gid, uid=uid)
    coin_delta = 0 if target.banned else milestone_coins(level_number)
    metadata = {"reason": reason} if reason else {}
    if target.banned:
        metadata["banned"] = True  # tells support why a milestone paid nothing
    # A non-milestone is a single INSERT; only a credit needs the surrounding transaction.
    with transaction.atomic() if coin_delta else nullcontext():
        postback_id = _insert_postback(target, level_number, coin_delta, metadata)
        if postback_id is None:
            return PostbackOutcome(target, level_number, duplicate=True, coin_delta=0, coins=target.coins)
        coins = target.coins
        if coin_delta:
            coins = post_entry(
                user_id=target.user_id,
                amount=coin_delta,
                kind=LedgerEntry.Kind.PARTNER_POSTBACK,
                key=f"partner_postback:{postback_id}",
                reference=f"user_postbacks:{postback_id}",
            ).balance_after
    if target.stale_last_use:
        PartnerSecret.objects.filter(pk=target.secret_id).update(last_used_at=timezone.now())
    return PostbackOutcome(target, level_number, duplicate=False, coin_delta=coin_delta, coins=coins)


_AUTHORIZE_SQL = """
SELECT s.id, a.pid, g.id, g.active, u.coins, u.device_id,
       s.last_used_at IS NULL OR s.last_used_at < %s, u.banned_at IS NOT NULL
FROM partner_api_secrets s
JOIN store_apps a ON a.id = s.store_app_id
LEFT JOIN reward_games g ON g.gid = %s
LEFT JOIN users u ON u.id = %s AND u.store_app_id = a.id
WHERE s.secret_hash = %s AND s.revoked_at IS NULL
"""


def _authorize(*, secret: str, pid: str, gid: str, uid: uuid.UUID) -> PostbackTarget:
    """Authenticate the secret and resolve pid, gid and uid in one round trip; the error order is the
    contract's: secret (401), pid (400, or 401 for another partner's pid), gid (400), uid (404)."""
    with connection.cursor() as cursor:
        cursor.execute(_AUTHORIZE_SQL, [_touch_cutoff(), gid, _user_pk(uid), hash_secret(secret)])
        row = cursor.fetchone()
    if row is None:
        raise unauthorized()
    secret_id, secret_pid, game_pk, game_active, coins, device_id, stale_last_use, banned = row
    if secret_pid != pid:
        if StoreApp.objects.filter(pid=pid).exists():
            raise unauthorized(f"This API secret is not valid for pid '{pid}'.")
        raise ApiError("unknown_pid", f"No store app is registered with pid '{pid}'.")
    if game_pk is None:
        raise ApiError("unknown_gid", f"No reward game is registered with gid '{gid}'.")
    if not game_active:
        raise ApiError("game_inactive", f"The reward game '{gid}' is not accepting postbacks.")
    if coins is None:
        raise ApiError("unknown_uid", f"No user {uid} in store app '{pid}'.", status.HTTP_404_NOT_FOUND)
    return PostbackTarget(secret_id, pid, gid, game_pk, uid, coins, device_id, bool(stale_last_use), bool(banned))


_INSERT_POSTBACK_SQL = """
INSERT INTO user_postbacks (user_id, game_id, pid, level_number, awarded, coin_delta, metadata)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (user_id, game_id, level_number) DO NOTHING
RETURNING id
"""


def _insert_postback(target: PostbackTarget, level_number: int, coin_delta: int, metadata: dict) -> int | None:
    """The unique (user, game, level) decides who is first; returns None for a duplicate."""
    metadata_param = UserPostback._meta.get_field("metadata").get_db_prep_value(metadata, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_POSTBACK_SQL,
            [
                _user_pk(target.user_id),
                target.game_pk,
                target.pid,
                level_number,
                coin_delta > 0,
                coin_delta,
                metadata_param,
            ],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _user_pk(uid: uuid.UUID):
    return RewardUser._meta.pk.get_db_prep_value(uid, connection)


def _touch_cutoff():
    """Last use is for people: record it at most once a minute, not with a write per request."""
    cutoff = timezone.now() - timedelta(seconds=SECRET_TOUCH_INTERVAL)
    return PartnerSecret._meta.get_field("last_used_at").get_db_prep_value(cutoff, connection)


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
