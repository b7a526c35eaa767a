"""Partner postbacks for a user an operator banned: stored, never credited, and the partner is told."""

import json

import pytest
from django.contrib.auth import get_user_model

from catalog.tests.factories import RewardGameFactory, StoreAppFactory, partner_secret_for
from ledger.models import LedgerEntry
from ledger.services import set_ban
from ledger.tests.factories import RewardUserFactory
from postbacks.models import UserPostback
from rewardhub.testing import Client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def secret():
    app = StoreAppFactory(pid="cashgiraffe")
    RewardGameFactory(gid="my_game")
    return partner_secret_for(app)


@pytest.fixture
def banned_user(secret):
    user = RewardUserFactory(store_app__pid="cashgiraffe", device_id="device-1")
    staff = get_user_model().objects.create_user("operator", is_staff=True)
    set_ban(user=user, banned=True, reason="fraud", staff=staff)
    return user


def post(user, level, secret):
    body = {"pid": "cashgiraffe", "uid": str(user.id), "gid": "my_game", "level_number": level}
    return Client().post(
        "/api/postback",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )


def test_milestone_for_a_banned_user_is_stored_without_credit_and_says_so(banned_user, secret):
    response = post(banned_user, 10, secret)

    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "awarded": False,
        "milestone": True,
        "pid": "cashgiraffe",
        "gid": "my_game",
        "game_id": "my_game",
        "level_number": 10,
        "coinDelta": 0,
        "user": {"id": str(banned_user.id), "coins": 0, "appId": "cashgiraffe", "deviceId": "device-1"},
        "banned": True,
        "message": "The user is banned: the level was recorded without coins",
    }
    stored = UserPostback.objects.get()
    assert (stored.awarded, stored.coin_delta, stored.metadata) == (False, 0, {"banned": True})
    assert not LedgerEntry.objects.exists()
    banned_user.refresh_from_db()
    assert banned_user.coins == 0


def test_non_milestone_for_a_banned_user_is_stored_and_flagged(banned_user, secret):
    response = post(banned_user, 3, secret)
    assert response.json()["banned"] is True
    assert UserPostback.objects.count() == 1


def test_banned_users_duplicate_is_still_a_duplicate(banned_user, secret):
    post(banned_user, 10, secret)
    response = post(banned_user, 10, secret)
    assert response.json()["duplicate"] is True
    assert UserPostback.objects.count() == 1


def test_postbacks_for_users_not_banned_do_not_mention_bans(secret):
    user = RewardUserFactory(store_app__pid="cashgiraffe")
    body = post(user, 10, secret).json()
    assert "banned" not in body
    assert body["coinDelta"] == 25


@pytest.mark.django_db(transaction=True)
def test_banned_user_postback_costs_no_extra_query(banned_user, secret, assert_num_statements):
    post(banned_user, 1, secret)  # the secret's last-use write happens at most once a minute
    with assert_num_statements(1):  # the statement reads the ban
        post(banned_user, 5, secret)
