"""The only code that changes a balance: each change is an immutable LedgerEntry plus the cached balance,
written in one transaction."""

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from psycopg.errors import NoDataFound

from catalog.models import StoreApp
from catalog.services import SECRET_PREFIX_LENGTH, hash_secret
from ledger.models import AppToken, BanRecord, LedgerEntry, RewardUser
from rewardhub import metrics
from rewardhub.db import Database
from rewardhub.errors import Refused


def post_entry(
    *,
    user_id: uuid.UUID,
    amount: int,
    kind: str,
    key: str,
    reference: str,
    reverses: LedgerEntry | None = None,
    created_by: AbstractBaseUser | None = None,
    note: str = "",
    bucket: str = LedgerEntry.Bucket.AVAILABLE,
) -> LedgerEntry:
    """Move `amount` coins in one of the user's balances (available by default, or held). `key` is unique:
    posting the same key twice raises IntegrityError and rolls the balance back with it, so a caller bug can
    never pay twice. The rule itself is the database function ledger_post (migration 0009), which the hot paths
    call inside their own statements."""
    params = {
        "user_id": user_id,
        "amount": amount,
        "kind": kind,
        "bucket": bucket,
        "key": key,
        "reference": reference,
        "reverses_id": reverses.pk if reverses else None,
        "created_by_id": created_by.pk if created_by else None,
        "note": note,
    }
    with connection.cursor() as cursor:
        try:
            cursor.execute(_POST_SQL, params)
        except DatabaseError as error:
            if isinstance(error.__cause__, NoDataFound):
                raise RewardUser.DoesNotExist(f"No reward user {user_id}") from error
            raise
        entry_id, balance_after, created_at = cursor.fetchone()
    entry = LedgerEntry(
        id=entry_id,
        user_id=user_id,
        amount=amount,
        kind=kind,
        bucket=bucket,
        key=key,
        reference=reference,
        balance_after=balance_after,
        reverses=reverses,
        created_by=created_by,
        note=note,
        created_at=created_at,
    )
    entry._state.adding, entry._state.db = False, connection.alias  # as Model.from_db marks a loaded row
    return entry


# One statement, so the balance and its entry are written together even outside a transaction.
_POST_SQL = """
SELECT entry_id, balance_after, created_at
FROM ledger_post(
    user_id => %(user_id)s, amount => %(amount)s, kind => %(kind)s, bucket => %(bucket)s, key => %(key)s,
    reference => %(reference)s, reverses_id => %(reverses_id)s, created_by_id => %(created_by_id)s, note => %(note)s
)
"""


def adjust_balance(*, user: RewardUser, amount: int, reason: str, staff: AbstractBaseUser) -> LedgerEntry:
    """A staff correction: audited by who made it and why."""
    if not reason.strip():
        raise ValueError("An adjustment needs a reason.")
    entry = post_entry(
        user_id=user.pk,
        amount=amount,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        key=f"adjustment:{uuid.uuid4()}",
        reference=f"staff:{staff.pk}",
        created_by=staff,
        note=reason.strip(),
    )
    transaction.on_commit(lambda: metrics.coins_moved("adjustment", amount))
    return entry


@transaction.atomic
def set_ban(*, user: RewardUser, banned: bool, reason: str, staff: AbstractBaseUser) -> bool:
    """An operator's ban or unban, recorded with who and why. Returns False when nothing changed."""
    if not reason.strip():
        raise ValueError("A ban or unban needs a reason.")
    changed = RewardUser.objects.filter(pk=user.pk, banned_at__isnull=banned).update(
        banned_at=timezone.now() if banned else None, ban_reason=reason.strip() if banned else ""
    )
    if changed:
        BanRecord.objects.create(
            user=user,
            action=BanRecord.Action.BAN if banned else BanRecord.Action.UNBAN,
            reason=reason.strip(),
            staff=staff,
        )
    return bool(changed)


def user_banned() -> Refused:
    return Refused("user_banned", "This user has been banned by an operator; contact support.")


@dataclass(frozen=True)
class AppRegistration:
    user: RewardUser
    token: str  # plain text: returned once, only its hash is stored
    created: bool


class InstallNotVerified(Refused):
    """A registration for a device that is already registered, without proof that it comes from that install."""

    def __init__(self):
        super().__init__(
            "install_not_verified",
            "This device is already registered: send its install_secret, a valid app token of its user, or the "
            "reclaim_code support gave its owner.",
        )


def register_app_user(
    *, pid: str, device_id: str, install_secret: str = "", app_token: str = "", reclaim_code: str = ""
) -> AppRegistration:
    """The reward app's sign-up: one user per store app + device, with a new token each time. A device id is no
    secret (partner postback answers carry it), so getting an existing user back takes proof that the caller is
    that install: the install secret it registered with, a valid app token of the user, or the one-time code
    support gave its owner (release_install). A proven registration that brings an install secret the user has
    none of yet records it. Earlier tokens stay valid until an operator revokes them."""
    store_app = StoreApp.objects.filter(pid=pid).first()
    if store_app is None:
        raise Refused("unknown_pid", f"No store app is registered with pid '{pid}'.")
    secret_hash = hash_secret(install_secret) if install_secret else ""
    with transaction.atomic():
        # get_or_create inserts in a savepoint and re-reads on IntegrityError: when two first launches of the
        # same device race, the unique (store_app, device_id) picks one row, and the same install proves it.
        user, created = RewardUser.objects.get_or_create(
            store_app=store_app, device_id=device_id, defaults={"install_secret_hash": secret_hash}
        )
        proven = created or _is_same_install(user, secret_hash, app_token) or _reclaim(user, reclaim_code, secret_hash)
        if not proven:
            raise InstallNotVerified()
        if user.is_banned:
            raise user_banned()
        if secret_hash and not user.install_secret_hash:
            RewardUser.objects.filter(pk=user.pk, install_secret_hash="").update(install_secret_hash=secret_hash)
        _, token = issue_app_token(user=user)
    return AppRegistration(user=user, token=token, created=created)


def _is_same_install(user: RewardUser, secret_hash: str, app_token: str) -> bool:
    if secret_hash and user.install_secret_hash and hmac.compare_digest(secret_hash, user.install_secret_hash):
        return True
    # The token is looked up by its hash, as for every app call: no comparison of secrets in Python.
    return bool(app_token) and AppToken.objects.filter(
        user=user, token_hash=hash_secret(app_token), revoked_at=None
    ).exists()


def _reclaim(user: RewardUser, reclaim_code: str, secret_hash: str) -> bool:
    """Support's one-time code, within its window: one UPDATE consumes it, so of registrations racing with it
    exactly one wins; it records the install secret that registration brings."""
    if not reclaim_code:
        return False
    code_hash = hash_secret(reclaim_code.strip().upper())
    valid = RewardUser.objects.filter(pk=user.pk, reclaim_code_hash=code_hash, reclaimable_until__gt=timezone.now())
    return bool(valid.update(reclaim_code_hash="", reclaimable_until=None, install_secret_hash=secret_hash))


RECLAIM_WINDOW = timedelta(hours=24)
RECLAIM_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read out over chat or the phone
RECLAIM_CODE_LENGTH = 12  # 60 bits, against 20 failed tries per address and window (auth_throttle)


@transaction.atomic
def release_install(*, user: RewardUser, reason: str, staff: AbstractBaseUser) -> str:
    """Support's answer to a reinstall that lost both its install secret and its token: every token of the user is
    revoked, and a one-time code, valid for RECLAIM_WINDOW, lets one registration of the device take the user
    back. Returns the code, for support to give the owner; only its hash is stored. A device id is public, so the
    code, not the device, is the proof. The caller audits who did it and why."""
    if not reason.strip():
        raise ValueError("Releasing an install needs a reason.")
    code = "".join(secrets.choice(RECLAIM_CODE_ALPHABET) for _ in range(RECLAIM_CODE_LENGTH))
    AppToken.objects.filter(user=user, revoked_at=None).update(revoked_at=timezone.now(), revoked_by=staff)
    RewardUser.objects.filter(pk=user.pk).update(
        reclaim_code_hash=hash_secret(code), reclaimable_until=timezone.now() + RECLAIM_WINDOW
    )
    return code


def issue_app_token(*, user: RewardUser) -> tuple[AppToken, str]:
    """A new token and its plain text, which is never stored."""
    plain = "rha_" + secrets.token_urlsafe(32)
    token = AppToken.objects.create(user=user, prefix=plain[:SECRET_PREFIX_LENGTH], token_hash=hash_secret(plain))
    return token, plain


def revoke_app_token(*, token: AppToken, revoked_by: AbstractBaseUser | None = None) -> bool:
    """Revoke once; returns False when it was already revoked."""
    return bool(
        AppToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now(), revoked_by=revoked_by)
    )


APP_TOKEN_TOUCH_INTERVAL = 60  # seconds


def record_app_token_use(*, token: AppToken) -> None:
    """Last use is for people: write it at most once a minute per token, not on every request."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= APP_TOKEN_TOUCH_INTERVAL:
        AppToken.objects.filter(pk=token.pk).update(last_used_at=now)


@dataclass(frozen=True)
class TokenHolder:
    """The user an app token belongs to, as GET /api/app/me shows them."""

    user_id: uuid.UUID
    coins: int
    held_coins: int
    pid: str
    device_id: str
    banned: bool


# The token by its hash (a revoked one finds nothing), its user and store app, and the last-use stamp when it is
# older than APP_TOKEN_TOUCH_INTERVAL: one statement, one round trip. SKIP LOCKED: when concurrent requests all
# find the stamp stale, one writes it and none waits for another's row lock.
_TOKEN_HOLDER_SQL = b"""
WITH holder AS (
    SELECT t.id AS token_id, t.last_used_at IS NULL OR t.last_used_at < %(touch_cutoff)s AS stale_last_use,
           u.id AS user_id, u.coins, u.held_coins, a.pid, u.device_id, u.banned_at IS NOT NULL AS banned
    FROM app_tokens t
    JOIN users u ON u.id = t.user_id
    JOIN store_apps a ON a.id = u.store_app_id
    WHERE t.token_hash = %(token_hash)s AND t.revoked_at IS NULL
),
touched AS (
    UPDATE app_tokens SET last_used_at = now()
    WHERE id = (
        SELECT t.id FROM app_tokens t JOIN holder ON t.id = holder.token_id
        WHERE holder.stale_last_use FOR UPDATE OF t SKIP LOCKED
    )
)
SELECT user_id, coins, held_coins, pid, device_id, banned FROM holder
"""


async def token_holder(*, db: Database, token: str) -> TokenHolder | None:
    """Who holds this app token, None for an unknown or revoked one; records its use (record_app_token_use's
    rule, in SQL)."""
    params = {
        "token_hash": hash_secret(token),
        "touch_cutoff": timezone.now() - timedelta(seconds=APP_TOKEN_TOUCH_INTERVAL),
    }
    row = await db.fetchone(_TOKEN_HOLDER_SQL, params)
    return None if row is None else TokenHolder(*row)
