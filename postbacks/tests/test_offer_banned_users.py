"""Offer-network callbacks for a user an operator banned: recorded, answered, nothing held or credited;
reversals still take back what the offer gave before the ban."""

import pytest
from django.contrib.auth import get_user_model

from catalog.tests.factories import StoreAppFactory
from ledger.models import LedgerEntry
from ledger.services import set_ban
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferConversion, OfferDelivery
from postbacks.tests.offer_factories import (
    BITLABS_SECRET,
    USER_ID,
    WANNADS_SECRET,
    bitlabs_offer,
    integration,
    wannads_path,
)
from rewardhub.testing import Client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def app():
    app = StoreAppFactory(pid="cashgiraffe")
    integration(app, "bitlabs", "bl", BITLABS_SECRET)
    integration(app, "wannads", "wn", WANNADS_SECRET)
    return app


@pytest.fixture
def user(app):
    return RewardUserFactory(id=USER_ID, store_app=app)


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("operator", is_staff=True)


def ban(user, staff, banned=True):
    set_ban(user=user, banned=banned, reason="fraud", staff=staff)


def offer(state, tx="o-1", val="40"):
    return Client().get(bitlabs_offer("bl", tx, val, offer_state=state))


def balances(user):
    user.refresh_from_db()
    return user.coins, user.held_coins


def test_completed_offer_for_a_banned_user_is_recorded_without_coins(user, staff):
    ban(user, staff)

    response = offer("COMPLETED")

    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "result": "accepted",
        "message": "The user is banned by an operator: recorded without coins.",
    }
    assert balances(user) == (0, 0)
    assert not LedgerEntry.objects.exists()
    assert OfferConversion.objects.get().outcome == "user_banned"
    assert OfferDelivery.objects.get().verdict == "accepted"


def test_wannads_credit_for_a_banned_user_is_answered_ok_without_coins(user, staff):
    ban(user, staff)

    response = Client().get(wannads_path("wn"))

    assert response.content == b"OK"
    assert balances(user) == (0, 0)
    assert OfferConversion.objects.get().outcome == "user_banned"


def test_pending_offer_for_a_banned_user_holds_nothing(user, staff):
    ban(user, staff)

    offer("PENDING")

    assert balances(user) == (0, 0)
    assert OfferConversion.objects.get().outcome == "user_banned"


def test_completion_while_banned_releases_an_earlier_hold_and_credits_nothing(user, staff):
    offer("PENDING")
    ban(user, staff)

    offer("COMPLETED")

    assert balances(user) == (0, 0)
    assert list(LedgerEntry.objects.order_by("id").values_list("kind", "amount")) == [
        ("offer_hold", 40),
        ("offer_hold_release", -40),
    ]


def test_reversal_after_the_ban_takes_back_a_credit_made_before_it(user, staff):
    offer("COMPLETED")
    ban(user, staff)

    offer("RECONCILED")

    assert balances(user) == (0, 0)
    assert OfferConversion.objects.get(state="RECONCILED").outcome == "reversed"


def test_credit_withheld_during_a_ban_is_not_paid_after_the_unban(user, staff):
    ban(user, staff)
    offer("COMPLETED")
    ban(user, staff, banned=False)

    response = Client().get(bitlabs_offer("bl", "o-1", "40", type_="COMPLETE"))  # another credit state, same offer

    assert response.json()["message"] == "No change"
    assert balances(user) == (0, 0)


def test_offers_after_the_unban_are_credited(user, staff):
    ban(user, staff)
    ban(user, staff, banned=False)

    offer("COMPLETED")

    assert balances(user) == (40, 0)
