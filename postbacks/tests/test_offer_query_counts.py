"""Round trips per offer-network callback, counted as production sends them (BEGIN and COMMIT included).
Each test first sends one callback to the integration: a process learns each callback URL's network once."""

import pytest
from django.db import connection

from catalog.tests.factories import StoreAppFactory
from ledger.tests.factories import RewardUserFactory
from postbacks.offers import services as offers
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


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    monkeypatch.setattr(offers, "_integrations", {})


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def user(app):
    return RewardUserFactory(id=USER_ID, store_app=app)


@pytest.fixture
def bitlabs(app):
    integration(app, "bitlabs", "bl", BITLABS_SECRET)
    Client().get(bitlabs_offer("bl", "warm-up", "1", offer_state="COMPLETED"))


@pytest.fixture
def wannads(app):
    integration(app, "wannads", "wn", WANNADS_SECRET)
    Client().get(wannads_path("wn", transaction_id="warm-up"))


# The first event of an offer: one statement checks the cached integration, the user and the offer's empty
# chain, and writes the signature binding, the conversion with its delivery's log, the balance and the entry.
CREDIT_QUERIES = 1


def test_bitlabs_completed_credit_query_count(bitlabs, user, assert_num_statements):
    with assert_num_statements(CREDIT_QUERIES):
        assert Client().get(bitlabs_offer("bl", "o-1", "10", offer_state="COMPLETED")).status_code == 200


def test_later_event_of_an_offer_query_count(bitlabs, user, assert_num_statements):
    Client().get(bitlabs_offer("bl", "o-1", "10", offer_state="COMPLETED"))
    # The first-event statement finds the offer's chain started and writes nothing; read; write.
    with assert_num_statements(3):
        assert Client().get(bitlabs_offer("bl", "o-1", "10", offer_state="RECONCILED")).status_code == 200


def test_bitlabs_duplicate_query_count(bitlabs, user, assert_num_statements):
    path = bitlabs_offer("bl", "o-1", "10", offer_state="COMPLETED")
    Client().get(path)
    # The first-event statement finds the key taken and writes nothing; read; log the delivery.
    with assert_num_statements(3):
        assert Client().get(path).json()["result"] == "duplicate"


def test_refused_callback_query_count(bitlabs, user, assert_num_statements):
    path = bitlabs_offer("bl", "o-1", "10", offer_state="COMPLETED").rsplit("=", 1)[0] + "=" + "0" * 40
    with assert_num_statements(2):  # read; log the delivery
        assert Client().get(path).status_code == 403


def test_wannads_credit_query_count(wannads, user, assert_num_statements):
    with assert_num_statements(CREDIT_QUERIES):
        assert Client().get(wannads_path("wn")).content == b"OK"


def test_first_callback_of_a_url_in_a_process_reads_once_more(app, user, assert_num_statements):
    integration(app, "bitlabs", "bl", BITLABS_SECRET)
    # It reads the integration, then the user and offer the way its network names them, then writes.
    with assert_num_statements(3):
        assert Client().get(bitlabs_offer("bl", "o-1", "10", offer_state="COMPLETED")).status_code == 200


def test_a_conversion_takes_its_delivery_number_from_the_sequence_behind_delivery_ids():
    # The recording statement leaves delivery_id to the column's default (migration 0017).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_serial_sequence('offer_deliveries_without_conversion', 'id')::regclass::text, "
            "pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
            "ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
            "WHERE d.adrelid = 'offer_conversions'::regclass AND a.attname = 'delivery_id'"
        )
        sequence, default = cursor.fetchone()
    assert default == f"nextval('{sequence}'::regclass)"
    assert "delivery_id" not in offers._RECORD_SQL
