import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from ledger.models import LedgerEntry, RewardUser
from ledger.services import post_entry
from ledger.tests.factories import RewardUserFactory

pytestmark = pytest.mark.django_db

HELD = LedgerEntry.Bucket.HELD


def test_a_held_entry_moves_only_the_held_balance():
    user = RewardUserFactory()

    entry = post_entry(user_id=user.pk, amount=40, kind="offer_hold", key="h1", reference="t", bucket=HELD)

    user.refresh_from_db()
    assert (user.coins, user.held_coins) == (0, 40)
    assert (entry.bucket, entry.balance_after) == ("held", 40)


def test_entries_default_to_the_available_balance():
    user = RewardUserFactory()

    entry = post_entry(user_id=user.pk, amount=7, kind="adjustment", key="a1", reference="t")

    user.refresh_from_db()
    assert (user.coins, user.held_coins, entry.bucket) == (7, 0, "available")


def test_moving_a_hold_to_available_is_two_entries_in_one_transaction():
    user = RewardUserFactory()
    post_entry(user_id=user.pk, amount=40, kind="offer_hold", key="h1", reference="t", bucket=HELD)

    with transaction.atomic():
        post_entry(user_id=user.pk, amount=-40, kind="offer_hold_release", key="h1-", reference="t", bucket=HELD)
        post_entry(user_id=user.pk, amount=40, kind="offer_credit", key="c1", reference="t")

    user.refresh_from_db()
    assert (user.coins, user.held_coins) == (40, 0)
    assert user.entries.count() == 3


def test_audit_passes_when_both_balances_match(capsys):
    user = RewardUserFactory()
    post_entry(user_id=user.pk, amount=5, kind="offer_hold", key="h1", reference="t", bucket=HELD)
    post_entry(user_id=user.pk, amount=3, kind="adjustment", key="a1", reference="t")

    call_command("ledger_audit")

    assert "All 1 user balances match" in capsys.readouterr().out


def test_audit_reports_a_held_balance_that_drifted(capsys):
    user = RewardUserFactory()
    post_entry(user_id=user.pk, amount=5, kind="offer_hold", key="h1", reference="t", bucket=HELD)
    RewardUser.objects.filter(pk=user.pk).update(held_coins=9)

    with pytest.raises(CommandError, match="1 user"):
        call_command("ledger_audit")

    assert f"{user.id}: cached held balance 9, held entries sum to 5 (off by +4)" in capsys.readouterr().out


def test_audit_does_not_count_held_entries_towards_the_available_balance(capsys):
    user = RewardUserFactory()
    post_entry(user_id=user.pk, amount=5, kind="offer_hold", key="h1", reference="t", bucket=HELD)
    RewardUser.objects.filter(pk=user.pk).update(coins=5, held_coins=0)

    with pytest.raises(CommandError):
        call_command("ledger_audit")

    out = capsys.readouterr().out
    assert "cached balance 5, entries sum to 0" in out
    assert "cached held balance 0, held entries sum to 5" in out
