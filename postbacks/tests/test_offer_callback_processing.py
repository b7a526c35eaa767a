"""How an offer callback is processed: decided from one read (or, for the first event of an offer, from what the
process cached), written in one go, decided again when the offer changed in between; every delivery logged, a
failed one too."""

import dataclasses

import pytest
from django.db import connection

from catalog.tests.factories import StoreAppFactory
from ledger.models import LedgerEntry
from ledger.services import post_entry, set_ban
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferConversion, OfferDelivery, OfferwallIntegration, conversion_entry_key
from postbacks.offers import services as offers
from postbacks.tests.offer_factories import (
    BITLABS_SECRET,
    USER_ID,
    WANNADS_SECRET,
    bitlabs_offer,
    bitlabs_path,
    integration,
    wannads_path,
)
from rewardhub.testing import Client

pytestmark = pytest.mark.django_db(transaction=True)


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

    async def stale_first(db, slug, event):
        # The first read misses the credit, as if it had been committed just after the read.
        snapshot = await select(db, slug, event)
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

    response = Client().get(bitlabs_offer("bl", "o-1", "40", offer_state="COMPLETED"))

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


# A process that has read an integration writes the first event of an offer without reading again; these
# change what it read in between, as an operator or another worker would: in a transaction of their own.


def warmed(app, **fields):
    """An integration this process has read (one callback of another offer), then changed to `fields` alone
    (an UPDATE of those columns: a save() would also re-encrypt the secret, which the shortcut checks too)."""
    bitlabs = integration(app, "bitlabs", "bl", BITLABS_SECRET)
    Client().get(bitlabs_offer("bl", "warm-up", "1", offer_state="COMPLETED"))
    if fields:
        OfferwallIntegration.objects.filter(pk=bitlabs.pk).update(**fields)
    return bitlabs


@pytest.mark.django_db(transaction=True)
def test_a_callback_signed_with_a_rotated_secret_is_refused(app, user):
    warmed(app, secret="the-new-secret")

    response = Client().get(bitlabs_offer("bl", "o-1", "40", offer_state="COMPLETED"))

    assert response.status_code == 403
    assert balances(user) == (1, 0)  # the warm-up's coin only


@pytest.mark.django_db(transaction=True)
def test_a_callback_signed_with_the_new_secret_is_credited_at_the_new_rate(app, user):
    warmed(app, secret="the-new-secret", coin_rate="2.5")
    query = f"uid={USER_ID}&tx=o-1&val=40&type=COMPLETE&offer_state=COMPLETED"

    response = Client().get(bitlabs_path("bl", query, secret="the-new-secret"))

    assert response.json()["message"] == "Credited"
    assert balances(user) == (1 + 100, 0)


@pytest.mark.django_db(transaction=True)
def test_a_first_event_after_a_rate_change_is_credited_at_the_new_rate(app, user):
    warmed(app, coin_rate="2.5")

    response = Client().get(bitlabs_offer("bl", "o-1", "40", offer_state="COMPLETED"))

    assert response.json()["message"] == "Credited"
    assert balances(user) == (1 + 100, 0)


@pytest.mark.django_db(transaction=True)
def test_a_callback_from_an_address_removed_from_the_allowlist_is_refused(app, user):
    warmed(app, ip_allowlist="203.0.113.7")

    response = Client().get(bitlabs_offer("bl", "o-1", "40", offer_state="COMPLETED"))

    assert response.status_code == 403
    assert balances(user) == (1, 0)


def test_a_user_banned_since_the_last_callback_gets_no_coins(app, user, admin_user):
    warmed(app)
    set_ban(user=user, banned=True, reason="fraud", staff=admin_user)

    response = Client().get(bitlabs_offer("bl", "o-1", "40", offer_state="COMPLETED"))

    assert response.status_code == 200
    assert balances(user) == (1, 0)
    assert OfferConversion.objects.get(transaction_id="o-1").outcome == OfferConversion.Outcome.USER_BANNED


def test_a_user_of_another_app_is_unknown(app, user):
    warmed(app)
    stranger = RewardUserFactory(store_app=StoreAppFactory(pid="other"))

    response = Client().get(bitlabs_offer("bl", "o-1", "40", offer_state="COMPLETED", uid=stranger.id))

    assert response.status_code == 404
    assert balances(stranger) == (0, 0)


def test_a_completion_after_its_pending_releases_the_hold(app, user):
    warmed(app)
    Client().get(bitlabs_offer("bl", "o-1", "40", offer_state="PENDING"))
    assert balances(user) == (1, 40)

    response = Client().get(bitlabs_offer("bl", "o-1", "40", offer_state="COMPLETED"))

    assert response.json()["message"] == "Credited"
    assert balances(user) == (41, 0)


def test_a_completion_after_its_pending_records_each_balance_after_its_own_move(app, user):
    warmed(app)
    Client().get(bitlabs_offer("bl", "o-1", "40", offer_state="PENDING"))
    hold = LedgerEntry.objects.get(bucket="held")

    Client().get(bitlabs_offer("bl", "o-1", "40", offer_state="COMPLETED"))

    completion = OfferConversion.objects.get(transaction_id="o-1", outcome="credited")
    moved = {e.bucket: (e.amount, e.balance_after, e.reverses_id) for e in completion.ledger_entries()}
    assert moved == {"held": (-40, 0, hold.pk), "available": (40, 41, None)}


@pytest.mark.django_db(transaction=True)  # autocommit, as served: the failed statement rolls back alone
def test_a_ledger_key_already_taken_fails_the_whole_event(app, user):
    warmed(app)
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('offer_conversions', 'id'))")
        (taken,) = cursor.fetchone()
    post_entry(
        user_id=user.pk, amount=5, kind="adjustment", key=conversion_entry_key(taken + 1, "available"), reference="t"
    )
    conversions = OfferConversion.objects.count()

    response = Client(raise_request_exception=False).get(bitlabs_offer("bl", "o-1", "40", offer_state="COMPLETED"))

    assert response.status_code == 500
    assert OfferConversion.objects.count() == conversions
    assert balances(user) == (6, 0)
    assert OfferDelivery.objects.latest("id").verdict == "received"  # logged as failed: the network retries
