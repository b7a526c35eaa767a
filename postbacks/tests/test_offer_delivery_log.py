"""The delivery log: an accepted callback's log is its conversion's own columns (one row, not two), every other
delivery has a row of its own, and support reads both, in the order they arrived, through OfferDelivery (a view)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from catalog.tests.factories import StoreAppFactory
from ledger.tests.factories import RewardUserFactory
from postbacks.models import DeliveryWithoutConversion, OfferConversion, OfferDelivery
from postbacks.tests.offer_factories import BITLABS_SECRET, USER_ID, bitlabs_offer, integration
from rewardhub.testing import Client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bitlabs():
    app = StoreAppFactory()
    RewardUserFactory(id=USER_ID, store_app=app)
    return integration(app, "bitlabs", "bl-log", BITLABS_SECRET)


def test_an_accepted_callback_is_logged_on_its_conversion(bitlabs):
    url = bitlabs_offer("bl-log", "tx-1", "10", offer_state="COMPLETED")
    response = Client().get(url, REMOTE_ADDR="198.51.100.7")

    conversion = OfferConversion.objects.get()
    delivery = OfferDelivery.objects.get()
    assert not DeliveryWithoutConversion.objects.exists()
    assert (delivery.pk, delivery.verdict, delivery.transaction_id, delivery.user_id) == (
        conversion.delivery_id,
        "accepted",
        "tx-1",
        USER_ID,
    )
    assert (delivery.method, delivery.path + "?" + delivery.query) == ("GET", url)
    assert (delivery.source_ip, delivery.response_status) == ("198.51.100.7", 200)
    assert delivery.response_body == response.content.decode()
    assert delivery.received_at == conversion.created_at
    assert conversion.delivery == delivery and delivery.conversion == conversion
    assert list(delivery.ledger_entries()) == list(conversion.ledger_entries())


def test_the_log_shows_every_delivery_in_the_order_it_arrived(bitlabs):
    credit = bitlabs_offer("bl-log", "tx-1", "10", offer_state="COMPLETED")
    for url in [credit, credit, credit.replace("hash=", "hash=0"), bitlabs_offer("bl-log", "tx-2", "5")]:
        Client().get(url)

    assert [d.verdict for d in OfferDelivery.objects.order_by("id")] == [
        "accepted",
        "duplicate",
        "bad_signature",
        "accepted",
    ]
    assert DeliveryWithoutConversion.objects.count() == 2
    assert OfferDelivery.objects.filter(verdict="accepted").count() == OfferConversion.objects.count() == 2


def test_the_migration_moves_accepted_deliveries_onto_their_conversions_and_keeps_their_ids(bitlabs):
    executor = MigrationExecutor(connection)
    executor.migrate([("postbacks", "0016_coin_flow_payout")])
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO offer_deliveries (integration_id, method, path, query, source_ip, verdict, message,
                                              transaction_id, user_id, response_status, response_body)
                VALUES (%(i)s, 'GET', '/api/callbacks/bl-log', 'tx=old', '203.0.113.9', 'accepted', 'Credited', 'old',
                        %(u)s, 200, '{"ok": true}'),
                       (%(i)s, 'GET', '/api/callbacks/bl-log', 'tx=bad', NULL, 'bad_signature', 'No.', 'bad', NULL,
                        403, '{}')
                RETURNING id
                """,
                {"i": bitlabs.pk, "u": USER_ID},
            )
            accepted_id, refused_id = (row[0] for row in cursor.fetchall())
            cursor.execute(
                """
                INSERT INTO offer_conversions (integration_id, transaction_id, state, user_id, delivery_id, action,
                    original_transaction_id, amount_received, coins, outcome, available_delta, held_delta, details,
                    chain_position, review_note)
                VALUES (%s, 'old', 'COMPLETED', %s, %s, 'credit', 'old', '10', 10, 'credited', 10, 0, '{}', 1, '')
                """,
                [bitlabs.pk, USER_ID, accepted_id],
            )
    finally:
        MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())

    log = {d.pk: d for d in OfferDelivery.objects.all()}
    assert set(log) == {accepted_id, refused_id}
    assert (log[accepted_id].verdict, log[accepted_id].query, str(log[accepted_id].source_ip)) == (
        "accepted",
        "tx=old",
        "203.0.113.9",
    )
    assert (log[accepted_id].message, log[accepted_id].response_body) == ("Credited", '{"ok": true}')
    assert list(DeliveryWithoutConversion.objects.values_list("pk", flat=True)) == [refused_id]
    assert OfferConversion.objects.get().delivery_id == accepted_id
    # The sequence goes on from the moved ids: a new delivery's id is never one the log already shows.
    Client().get(bitlabs_offer("bl-log", "tx-new", "10", offer_state="COMPLETED"))
    assert OfferDelivery.objects.order_by("-id").first().transaction_id == "tx-new"
