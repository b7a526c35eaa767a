"""How an offer callback is processed: decided from one read, written in one go, decided again when the offer
changed in between; every delivery logged, a failed one too."""

import dataclasses

import pytest
from django.test import Client

from catalog.tests.factories import StoreAppFactory
from ledger.tests.factories import RewardUserFactory
from postbacks import offers
from postbacks.models import OfferConversion, OfferDelivery, OfferwallIntegration
from postbacks.tests.offer_factories import (
    BITLABS_SECRET,
    USER_ID,
    WANNADS_SECRET,
    bitlabs_offer,
    integration,
    wannads_path,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def user(app):
    return RewardUserFactory(id=USER_ID, store_app=app)


def balances(user):
    user.refresh_from_db()
    return user.coins, user.held_coins


def test_event_decided_from_a_stale_read_is_decided_again(app, user, monkeypatch):
    integration(app, "bitlabs", "bl", BITLABS_SECRET)
    Client().get(bitlabs_offer("bl", "o-1", "40", offer_state="COMPLETED"))
    select = offers._select
    reads = []

    def stale_first(slug, event):
        # The first read misses the credit, as if it had been committed just after the read.
        snapshot = select(slug, event)
        reads.append(snapshot)
        if len(reads) == 1 and snapshot.chain:
            return dataclasses.replace(snapshot, chain=[])
        return snapshot

    monkeypatch.setattr(offers, "_select", stale_first)

    response = Client().get(bitlabs_offer("bl", "o-1", "40", offer_state="RECONCILED"))

    assert response.json()["message"] == "Credit reversed"
    assert balances(user) == (0, 0)
    assert OfferConversion.objects.count() == OfferDelivery.objects.count() == 2


def test_a_callback_url_whose_network_changed_is_processed_by_the_new_network(app, user):
    bitlabs = integration(app, "bitlabs", "shared", BITLABS_SECRET)
    Client().get(bitlabs_offer("shared", "o-1", "40", offer_state="COMPLETED"))
    OfferwallIntegration.objects.filter(pk=bitlabs.pk).update(provider="wannads", secret=WANNADS_SECRET)

    response = Client().get(wannads_path("shared", transaction_id="wn-1", reward="10"))

    assert response.content == b"OK"
    assert balances(user) == (50, 0)


def test_a_delivery_that_fails_while_processing_is_still_logged(app, user, monkeypatch):
    integration(app, "bitlabs", "bl", BITLABS_SECRET)

    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(offers, "_decide", broken)

    response = Client(raise_request_exception=False).get(bitlabs_offer("bl", "o-1", "40", offer_state="COMPLETED"))

    assert response.status_code == 500
    delivery = OfferDelivery.objects.get()
    assert (delivery.verdict, delivery.response_status) == ("received", 500)
    assert balances(user) == (0, 0)
    assert not OfferConversion.objects.exists()


def test_a_transaction_already_recorded_for_another_user_is_a_duplicate(app, user):
    integration(app, "bitlabs", "bl", BITLABS_SECRET)
    other = RewardUserFactory(store_app=app)
    Client().get(bitlabs_offer("bl", "o-1", "40", offer_state="COMPLETED"))

    response = Client().get(bitlabs_offer("bl", "o-1", "40", offer_state="COMPLETED", uid=other.id))

    assert response.json()["result"] == "duplicate"
    assert balances(other) == (0, 0)
    assert list(OfferDelivery.objects.order_by("id").values_list("verdict", flat=True)) == ["accepted", "duplicate"]
