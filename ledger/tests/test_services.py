import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from ledger.models import BanRecord, LedgerEntry, RewardUser
from ledger.services import adjust_balance, post_entry, set_ban
from ledger.tests.factories import RewardUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("support", password="x", is_staff=True)


def test_post_entry_moves_the_balance_and_records_it():
    user = RewardUserFactory()
    post_entry(user_id=user.pk, amount=30, kind="adjustment", key="k1", reference="test")
    entry = post_entry(user_id=user.pk, amount=-50, kind="adjustment", key="k2", reference="test")

    user.refresh_from_db()
    assert user.coins == -20  # reversals may go negative; never clamped
    assert entry.balance_after == -20


def test_post_entry_returns_the_entry_as_stored(staff):
    user = RewardUserFactory()
    hold = post_entry(user_id=user.pk, amount=40, kind="offer_hold", key="h", reference="test", bucket="held")
    entry = post_entry(
        user_id=user.pk,
        amount=-40,
        kind="offer_hold_release",
        key="r",
        reference="test",
        bucket="held",
        reverses=hold,
        created_by=staff,
        note="why",
    )

    stored = LedgerEntry.objects.values().get(pk=entry.pk)
    assert stored == {field.attname: getattr(entry, field.attname) for field in LedgerEntry._meta.concrete_fields}
    assert (stored["balance_after"], stored["reverses_id"], stored["created_by_id"]) == (0, hold.pk, staff.pk)


def test_post_entry_for_an_unknown_user_writes_nothing():
    with pytest.raises(RewardUser.DoesNotExist), transaction.atomic():
        post_entry(user_id=uuid.uuid4(), amount=5, kind="adjustment", key="k", reference="test")
    assert not LedgerEntry.objects.exists()


def test_same_key_twice_raises_and_leaves_the_balance_alone():
    user = RewardUserFactory()
    post_entry(user_id=user.pk, amount=30, kind="adjustment", key="once", reference="test")

    with pytest.raises(IntegrityError), transaction.atomic():
        post_entry(user_id=user.pk, amount=30, kind="adjustment", key="once", reference="test")

    user.refresh_from_db()
    assert user.coins == 30


def test_adjustment_records_staff_and_reason(staff):
    user = RewardUserFactory()
    entry = adjust_balance(user=user, amount=7, reason="goodwill after outage", staff=staff)
    assert (entry.created_by, entry.note, entry.kind) == (staff, "goodwill after outage", "adjustment")


def test_adjustment_without_reason_is_refused(staff):
    with pytest.raises(ValueError):
        adjust_balance(user=RewardUserFactory(), amount=7, reason="  ", staff=staff)
    assert not LedgerEntry.objects.exists()


def test_ban_and_unban_are_recorded(staff):
    user = RewardUserFactory()
    assert set_ban(user=user, banned=True, reason="fraud ring", staff=staff)
    assert not set_ban(user=user, banned=True, reason="again", staff=staff)  # already banned: nothing changes
    user.refresh_from_db()
    assert user.is_banned and user.ban_reason == "fraud ring"
    assert set_ban(user=user, banned=False, reason="appeal accepted", staff=staff)
    user.refresh_from_db()
    assert not user.is_banned
    assert list(BanRecord.objects.order_by("id").values_list("action", "reason")) == [
        ("ban", "fraud ring"),
        ("unban", "appeal accepted"),
    ]


def test_ledger_audit_passes_when_balances_match(capsys):
    user = RewardUserFactory()
    post_entry(user_id=user.pk, amount=5, kind="adjustment", key="a", reference="test")
    call_command("ledger_audit")
    assert "match" in capsys.readouterr().out


def test_ledger_audit_reports_a_tampered_balance(capsys):
    user = RewardUserFactory()
    post_entry(user_id=user.pk, amount=5, kind="adjustment", key="a", reference="test")
    type(user).objects.filter(pk=user.pk).update(coins=500)

    with pytest.raises(CommandError):
        call_command("ledger_audit")
    assert f"{user.id}: cached balance 500, entries sum to 5" in capsys.readouterr().out
