from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from ledger.models import LedgerEntry, RewardUser


def users_out_of_balance() -> QuerySet[RewardUser]:
    """Users whose cached balances (available and held) differ from the sums of their entries in each
    bucket (should always be empty)."""
    return (
        RewardUser.objects.annotate(
            entries_total=Coalesce(Sum("entries__amount", filter=Q(entries__bucket=LedgerEntry.Bucket.AVAILABLE)), 0),
            held_entries_total=Coalesce(Sum("entries__amount", filter=Q(entries__bucket=LedgerEntry.Bucket.HELD)), 0),
        )
        .filter(~Q(coins=F("entries_total")) | ~Q(held_coins=F("held_entries_total")))
        .order_by("id")
    )


def user_entries(user_id) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(user_id=user_id)
