"""A captured Wannads callback cannot be re-split into new credits: its MD5 covers user_id . transaction_id .
reward without separators, so `curl-tx-17` + `1` signs exactly as `curl-tx-1` + `71` does. Sent through the
production ASGI application on PostgreSQL, as an attacker would send them."""

import importlib

import pytest
from django.apps import apps
from django.urls import reverse

from catalog.tests.factories import StoreAppFactory
from ledger.models import LedgerEntry
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferConversion, OfferDelivery, OfferSignature
from postbacks.tests.offer_factories import USER_ID, WANNADS_SECRET, integration, wannads_path
from rewardhub import auth_throttle
from rewardhub.testing import Client, run_concurrently
from rewardhub.tests.test_asgi import serve

pytestmark = pytest.mark.django_db(transaction=True)
SLUG = "wn-forgery"


@pytest.fixture
def user():
    app = StoreAppFactory(pid="cashgiraffe")
    integration(app, "wannads", SLUG, WANNADS_SECRET)
    return RewardUserFactory(id=USER_ID, store_app=app)


def genuine(transaction_id="curl-tx-17", reward="1", status="credited") -> str:
    return wannads_path(SLUG, transaction_id=transaction_id, reward=reward, status=status)


def resplit(path: str, transaction_id: str, reward: str) -> str:
    """The captured callback's signature on another split of the same characters: no secret needed."""
    signature = path.rpartition("signature=")[2]
    return (
        f"/api/callbacks/{SLUG}?user_id={USER_ID}&transaction_id={transaction_id}&reward={reward}"
        f"&status=credited&signature={signature}"
    )


def get(path: str):
    return ("GET", path), {}


def coins(user) -> int:
    user.refresh_from_db()
    return user.coins


def test_a_captured_signature_re_split_into_new_credits_is_refused_as_forged(user):
    captured = genuine()

    answers = serve(get(captured), get(resplit(captured, "curl-tx-1", "71")), get(resplit(captured, "curl-tx-", "171")))

    assert [answer.status_code for answer in answers] == [200, 403, 403]
    assert answers[1].content.startswith(b"ERROR: ") and answers[2].content.startswith(b"ERROR: ")
    assert coins(user) == 1
    assert list(OfferConversion.objects.values_list("transaction_id", flat=True)) == ["curl-tx-17"]
    verdicts = OfferDelivery.objects.order_by("id").values_list("transaction_id", "verdict")
    assert list(verdicts) == [("curl-tx-17", "accepted"), ("curl-tx-1", "forged"), ("curl-tx-", "forged")]


def test_the_genuine_callback_repeated_is_still_a_duplicate(user):
    captured = genuine()

    answers = serve(get(captured), get(captured))

    assert [(answer.status_code, answer.content) for answer in answers] == [(200, b"OK"), (200, b"OK")]
    assert OfferDelivery.objects.filter(verdict="duplicate").count() == 1
    assert coins(user) == 1


def test_forgeries_do_not_get_the_networks_address_blocked(user, settings):
    # Two genuine Wannads callbacks can share a signature (`tx-12` + `34` signs as `tx-123` + `4`): the second is
    # refused, but the network's address must keep working for every other callback.
    settings.AUTH_FAILURE_LIMIT = 2
    captured = genuine()
    forgeries = [get(resplit(captured, "curl-tx-1", "71")), get(resplit(captured, "curl-tx-", "171"))]

    answers = serve(get(captured), *forgeries, get(genuine("curl-tx-99")))

    assert [answer.status_code for answer in answers] == [200, 403, 403, 200]
    assert not auth_throttle.is_blocked("offer", "127.0.0.1")


def test_a_genuine_rejection_of_the_same_transaction_is_not_a_forgery(user):
    # Wannads sends a rejection with the transaction's id and a negative reward: its own signature.
    answers = serve(get(genuine()), get(genuine(reward="-1", status="rejected")))

    assert [answer.content for answer in answers] == [b"OK", b"OK"]
    assert coins(user) == 0


def test_a_genuine_callback_and_its_forgery_at_once_credit_one_of_them(user):
    captured = genuine("race-tx-17")
    forged = resplit(captured, "race-tx-1", "71")
    Client().get(genuine("warm-up"))  # the process has read the integration: both take the one-statement path

    answers = run_concurrently([lambda: Client().get(captured), lambda: Client().get(forged)])

    assert sorted(answer.status_code for answer in answers) == [200, 403]
    assert OfferConversion.objects.exclude(transaction_id="warm-up").count() == 1
    assert sorted(OfferDelivery.objects.exclude(transaction_id="warm-up").values_list("verdict", flat=True)) == [
        "accepted",
        "forged",
    ]
    assert coins(user) in (1 + 1, 1 + 71)  # the warm-up's 1, and whichever copy won
    assert LedgerEntry.objects.count() == 2


def test_support_sees_forgeries_in_the_review_queue_and_the_delivery_log(user, admin_client):
    captured = genuine()
    serve(get(captured), get(resplit(captured, "curl-tx-1", "71")))

    queue = admin_client.get(reverse("admin:postbacks_offerreversal_changelist")).content.decode()
    log = admin_client.get(reverse("admin:postbacks_offerdelivery_changelist") + "?verdict=forged").content.decode()

    notice = " ".join(queue.split())
    assert "1 callback in the last 30 days reused an accepted callback's signature" in notice
    assert "was refused as forged" in notice
    assert "?verdict=forged" in queue
    assert "curl-tx-1" in log and "curl-tx-17" not in log


def test_callbacks_accepted_before_signatures_were_bound_cannot_be_re_split_either(user):
    migration = importlib.import_module("postbacks.migrations.0012_bind_signatures_of_earlier_conversions")
    captured = genuine("wn-2001250", reward="100")
    serve(get(captured))
    OfferSignature.objects.all().delete()  # as before offer_signatures existed

    migration.bind_earlier_signatures(apps, None)
    (answer,) = serve(get(resplit(captured, "wn-", "2001250100")))

    assert answer.status_code == 403
    assert coins(user) == 100
