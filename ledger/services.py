"""The only code that changes a balance: each change is an immutable LedgerEntry plus the cached balance,
written in one transaction."""

import uuid

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from ledger.models import BanRecord, LedgerEntry, RewardUser


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
    never pay twice."""
    # No savepoint: a failure here must fail the caller's whole transaction, never be swallowed.
    with transaction.atomic(savepoint=False):
        balance_after = _add_to_balance(user_id, amount, _BALANCE_COLUMNS[bucket])
        return LedgerEntry.objects.create(
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
        )


_BALANCE_COLUMNS = {LedgerEntry.Bucket.AVAILABLE: "coins", LedgerEntry.Bucket.HELD: "held_coins"}


def _add_to_balance(user_id: uuid.UUID, amount: int, column: str) -> int:
    """One statement: the row lock, the increment and the new balance (UPDATE … RETURNING)."""
    pk = RewardUser._meta.pk.get_db_prep_value(user_id, connection)
    # `column` comes from _BALANCE_COLUMNS, never from input.
    sql = f"UPDATE users SET {column} = {column} + %s WHERE id = %s RETURNING {column}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [amount, pk])
        row = cursor.fetchone()
    if row is None:
        raise RewardUser.DoesNotExist(f"No reward user {user_id}")
    return row[0]


def adjust_balance(*, user: RewardUser, amount: int, reason: str, staff: AbstractBaseUser) -> LedgerEntry:
    """A staff correction: audited by who made it and why."""
    if not reason.strip():
        raise ValueError("An adjustment needs a reason.")
    return post_entry(
        user_id=user.pk,
        amount=amount,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        key=f"adjustment:{uuid.uuid4()}",
        reference=f"staff:{staff.pk}",
        created_by=staff,
        note=reason.strip(),
    )


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
