import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from ledger.models import LedgerEntry
from ledger.services import post_entry
from ledger.tests.factories import RewardUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_users_are_searchable_by_their_whole_device_id(admin_client):
    """Exact match: an indexed lookup among a million users, where a substring search reads them all."""
    RewardUserFactory(device_id="pixel-7-abc")
    RewardUserFactory(device_id="iphone-xyz")
    page = admin_client.get("/admin/ledger/rewarduser/", {"q": "pixel-7-abc"}).content.decode()
    assert "pixel-7-abc" in page and "iphone-xyz" not in page


def test_users_are_searchable_by_id(admin_client):
    user = RewardUserFactory()
    page = admin_client.get("/admin/ledger/rewarduser/", {"q": str(user.id)}).content.decode()
    assert user.device_id in page


def test_user_page_shows_balance_and_entries(admin_client):
    user = RewardUserFactory()
    post_entry(user_id=user.pk, amount=25, kind="partner_postback", key="k", reference="user_postbacks:1")
    page = admin_client.get(f"/admin/ledger/rewarduser/{user.pk}/change/").content.decode()
    assert "user_postbacks:1" in page
    assert "Adjust balance" in page


def test_adjust_balance_writes_an_audited_entry(admin_client):
    user = RewardUserFactory()
    response = admin_client.post(f"/admin/ledger/rewarduser/{user.pk}/adjust/", {"amount": "-3", "reason": "typo"})
    assert response.status_code == 302
    entry = LedgerEntry.objects.get()
    assert (entry.amount, entry.note, entry.created_by.username) == (-3, "typo", "root")
    user.refresh_from_db()
    assert user.coins == -3


def test_adjust_balance_requires_a_reason(admin_client):
    user = RewardUserFactory()
    response = admin_client.post(f"/admin/ledger/rewarduser/{user.pk}/adjust/", {"amount": "5", "reason": ""})
    assert response.status_code == 200  # the form again, with its error
    assert not LedgerEntry.objects.exists()


def test_entries_cannot_be_edited_or_deleted_in_the_admin(admin_client):
    user = RewardUserFactory()
    entry = post_entry(user_id=user.pk, amount=25, kind="adjustment", key="k", reference="test")
    assert admin_client.get(f"/admin/ledger/ledgerentry/{entry.pk}/change/").status_code == 200  # viewable
    admin_client.post(f"/admin/ledger/ledgerentry/{entry.pk}/change/", {"amount": "999"})
    assert admin_client.post(f"/admin/ledger/ledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert entry.amount == 25


def test_ban_from_the_admin_records_reason_and_staff(admin_client):
    user = RewardUserFactory()
    admin_client.post(f"/admin/ledger/rewarduser/{user.pk}/ban/", {"reason": "chargebacks"})
    user.refresh_from_db()
    assert user.is_banned
    assert user.ban_records.get().staff.username == "root"
