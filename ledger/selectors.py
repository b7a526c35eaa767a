from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from ledger.models import LedgerEntry, RewardUser


def users_out_of_balance() -> QuerySet[RewardUser]:
    """Users whose cached balance differs from the sum of their entries (should always be empty)."""
    return (
        RewardUser.objects.annotate(entries_total=Coalesce(Sum("entries__amount"), 0))
        .filter(~Q(coins=F("entries_total")))
        .order_by("id")
    )


def user_entries(user_id) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(user_id=user_id)
