"""Round trips per offer-network callback, counted as production sends them (BEGIN and COMMIT included)."""

import pytest
from django.test import Client

from catalog.tests.factories import StoreAppFactory
from ledger.tests.factories import RewardUserFactory
from postbacks.tests.offer_factories import (
    BASE_URL,
    BITLABS_SECRET,
    USER_ID,
    WANNADS_SECRET,
    bitlabs_offer,
    integration,
    wannads_path,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def public_base_url(settings):
    settings.PUBLIC_BASE_URL = BASE_URL


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def user(app):
    return RewardUserFactory(id=USER_ID, store_app=app)


def test_bitlabs_completed_credit_query_count(app, user, django_assert_num_queries):
    integration(app, "bitlabs", "bl", BITLABS_SECRET)
    with django_assert_num_queries(13):
        assert Client().get(bitlabs_offer("bl", "o-1", "10", offer_state="COMPLETED")).status_code == 200


def test_bitlabs_duplicate_query_count(app, user, django_assert_num_queries):
    integration(app, "bitlabs", "bl", BITLABS_SECRET)
    path = bitlabs_offer("bl", "o-1", "10", offer_state="COMPLETED")
    Client().get(path)
    with django_assert_num_queries(7):
        assert Client().get(path).json()["result"] == "duplicate"


def test_wannads_credit_query_count(app, user, django_assert_num_queries):
    integration(app, "wannads", "wn", WANNADS_SECRET)
    with django_assert_num_queries(13):
        assert Client().get(wannads_path("wn")).content == b"OK"
