import pytest

from catalog.tests.factories import StoreAppFactory
from ledger.models import LedgerEntry
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferConversion, OfferDelivery, OfferReversal
from postbacks.tests.offer_factories import USER_ID, WANNADS_SECRET, integration, wannads_path
from rewardhub.testing import Client

pytestmark = pytest.mark.django_db(transaction=True)
SLUG = "wn-test-slug"


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def wannads(app):
    return integration(app, "wannads", SLUG, WANNADS_SECRET)


@pytest.fixture
def user(app):
    return RewardUserFactory(id=USER_ID, store_app=app)


def get(path):
    return Client().get(path)


def coins(user):
    user.refresh_from_db()
    return user.coins


def test_known_answer_signature_is_accepted_with_ok(wannads, user):
    # MD5 of "<user_id>wn-2001250wannads-secret", computed with `openssl md5`.
    path = (
        f"/api/callbacks/{SLUG}?user_id={USER_ID}&transaction_id=wn-2001&reward=250&status=credited"
        "&offer_id=77&offer_name=Some%20Game&signature=c6602c5f5df2dd32bdec45ae6d0657f4"
    )

    response = get(path)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain"
    assert response.content == b"OK"
    assert coins(user) == 250
    assert OfferConversion.objects.get().details == {"offer_id": "77", "offer_name": "Some Game"}


def test_bad_signature_is_403_with_an_error_text(wannads, user):
    path = wannads_path(SLUG, reward="100").replace("reward=100", "reward=1000")

    response = get(path)

    assert response.status_code == 403
    assert response["Content-Type"] == "text/plain"
    assert response.content == b"ERROR: The signature does not match."
    assert coins(user) == 0


def test_missing_signature_is_refused(wannads, user):
    response = get(f"/api/callbacks/{SLUG}?user_id={USER_ID}&transaction_id=wn-1&reward=100&status=credited")

    assert response.status_code == 403


def test_signature_is_over_the_reward_exactly_as_received(wannads, user):
    response = get(wannads_path(SLUG, reward="100.50"))

    assert response.content == b"OK"
    assert coins(user) == 101  # half-up


def test_rejected_with_a_negative_reward_reverses_exactly_the_credit(wannads, user):
    get(wannads_path(SLUG, transaction_id="wn-5", reward="100"))

    response = get(wannads_path(SLUG, transaction_id="wn-5", reward="-90", status="rejected"))

    assert response.content == b"OK"
    assert coins(user) == 0
    credit, reversal = LedgerEntry.objects.order_by("id")
    assert (reversal.amount, reversal.reverses) == (-100, credit)


def test_rejected_with_a_positive_reward_also_reverses(wannads, user):
    get(wannads_path(SLUG, transaction_id="wn-5", reward="100"))

    get(wannads_path(SLUG, transaction_id="wn-5", reward="100", status="rejected"))

    assert coins(user) == 0


def test_legacy_status_codes_credit_and_reject(wannads, user):
    get(wannads_path(SLUG, transaction_id="wn-5", reward="100", status="1"))
    assert coins(user) == 100

    get(wannads_path(SLUG, transaction_id="wn-5", reward="100", status="2"))
    assert coins(user) == 0


def test_legacy_status_repeats_the_modern_one_as_a_duplicate(wannads, user):
    get(wannads_path(SLUG, transaction_id="wn-5", reward="100", status="credited"))

    response = get(wannads_path(SLUG, transaction_id="wn-5", reward="100", status="1"))

    assert response.content == b"OK"
    assert coins(user) == 100
    assert OfferDelivery.objects.order_by("id").last().verdict == "duplicate"


def test_rejection_with_nothing_to_reverse_is_ok_logged_and_moves_nothing(wannads, user):
    response = get(wannads_path(SLUG, transaction_id="wn-9", reward="-100", status="rejected"))

    assert response.content == b"OK"
    assert coins(user) == 0
    assert OfferReversal.objects.get().outcome == "nothing_to_reverse"


def test_credit_after_its_rejection_credits_nothing(wannads, user):
    get(wannads_path(SLUG, transaction_id="wn-9", reward="-100", status="rejected"))

    get(wannads_path(SLUG, transaction_id="wn-9", reward="100"))

    assert coins(user) == 0


def test_retried_postback_is_ok_and_credits_once(wannads, user):
    path = wannads_path(SLUG, transaction_id="wn-5", reward="100")

    replies = [get(path).content for _ in range(5)]

    assert replies == [b"OK"] * 5
    assert coins(user) == 100
    assert LedgerEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": ""}, "ERROR: Missing parameter 'status'."),
        ({"status": "pending"}, "ERROR: Parameter 'status' must be credited, rejected, 1 or 2, got 'pending'."),
        ({"transaction_id": ""}, "ERROR: Missing parameter 'transaction_id'."),
        ({"reward": "lots"}, "ERROR: Parameter 'reward' must be a number, got 'lots'."),
        ({"reward": "-5"}, "ERROR: A credited postback cannot have a negative 'reward'."),
        ({"user_id": ""}, "ERROR: Missing parameter 'user_id'."),
    ],
)
def test_bad_or_missing_parameters_are_400_with_an_error_text(wannads, user, params, message):
    response = get(wannads_path(SLUG, **params))

    assert response.status_code == 400
    assert response.content.decode() == message
    assert coins(user) == 0
    assert OfferDelivery.objects.get().verdict == "invalid"


def test_unknown_user_is_404_with_an_error_text(wannads, user):
    response = get(wannads_path(SLUG, user_id="0b7d3c5e-0000-4000-8000-000000000000"))

    assert response.status_code == 404
    assert response.content == b"ERROR: No user '0b7d3c5e-0000-4000-8000-000000000000' in this app."
    assert not OfferConversion.objects.exists()
