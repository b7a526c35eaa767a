"""AdGem postback v2 through the production application: GET, `verifier` = HMAC-SHA256 of the full URL without it.
Formula: github AdGem/adgem-integrations-documentation, docs/_partials/security-code-samples.mdx ("Postback Hashing
(v2 - GET Requests)": hash_hmac('sha256', $postback_url, $postback_secret_key))."""

import hashlib
import hmac
from decimal import Decimal
from urllib.parse import quote, urlencode

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from catalog.tests.factories import StoreAppFactory
from ledger.models import LedgerEntry
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferConversion, OfferDelivery
from postbacks.offers.networks.adgem import NETWORK as ADGEM
from postbacks.offers.networks.base import CallbackRequest
from postbacks.tests.offer_factories import BASE_URL, USER_ID, integration
from rewardhub.testing import Client
from rewardhub.tests.test_properties import PROPERTY, one_char_changed, secrets_, text

pytestmark = pytest.mark.django_db(transaction=True)
SLUG = "ag2-test-slug"
SECRET = "adgem-postback-key"


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def adgem(app):
    return integration(app, "adgem", SLUG, SECRET)


@pytest.fixture
def user(app):
    return RewardUserFactory(id=USER_ID, store_app=app)


def signed_path(query: str, secret=SECRET) -> str:
    """`query` as AdGem sends it (request_id included); the verifier appended last, as AdGem appends it."""
    path = f"/api/callbacks/{SLUG}?{query}"
    verifier = hmac.new(secret.encode(), f"{BASE_URL}{path}".encode(), hashlib.sha256).hexdigest()
    return f"{path}&verifier={verifier}"


def postback(transaction_id="ag-1", amount="100", user_id=USER_ID, **extra) -> str:
    params = {"player_id": user_id, "transaction_id": transaction_id, "amount": amount, **extra, "request_id": "r1"}
    return signed_path(urlencode(params, quote_via=quote))


def get(path):
    return Client().get(path)


def coins(user):
    user.refresh_from_db()
    return user.coins


def test_known_answer_credits_and_answers_ok(adgem, user):
    # printf '%s' 'https://rewards.example.com/api/callbacks/ag2-test-slug?player_id=3f2c8d1e-5a4b-4c6d-8e9f-0a1b2c3d4e5f&transaction_id=ag-1001&amount=150&payout=1.50&offer_name=Foo%20Bar&request_id=0f3c2b1a' | openssl dgst -sha256 -hmac adgem-postback-key  # noqa: E501
    path = (
        f"/api/callbacks/{SLUG}?player_id={USER_ID}&transaction_id=ag-1001&amount=150&payout=1.50"
        "&offer_name=Foo%20Bar&request_id=0f3c2b1a"
        "&verifier=46388151bb525ab86891cf5a8569e2644a8abba6897b6704515fe780184001e8"
    )

    response = get(path)

    assert (response.status_code, response["Content-Type"], response.content) == (200, "text/plain", b"OK")
    assert coins(user) == 150
    conversion = OfferConversion.objects.get()
    assert conversion.payout_usd == Decimal("1.50")
    assert conversion.details == {"offer_name": "Foo Bar", "request_id": "0f3c2b1a"}


def test_bad_verifier_is_403_in_text(adgem, user):
    path = postback(amount="100").replace("amount=100", "amount=1000")

    response = get(path)

    assert (response.status_code, response.content) == (403, b"ERROR: The signature does not match.")
    assert coins(user) == 0
    assert OfferDelivery.objects.get().verdict == "bad_signature"


def test_missing_or_repeated_verifier_is_a_bad_signature(adgem, user):
    path = postback()

    assert get(path.partition("&verifier=")[0]).status_code == 403
    assert get(path + "&verifier=00").status_code == 403
    assert coins(user) == 0


def test_a_parameter_after_the_verifier_is_covered_too(adgem, user):
    # The PHP, Node and Python samples remove `verifier` wherever it is and hash the rest.
    unsigned = f"/api/callbacks/{SLUG}?player_id={USER_ID}&transaction_id=ag-1&amount=100&request_id=r1"
    tail = "&nonpayable_install_goal=true"
    verifier = hmac.new(SECRET.encode(), f"{BASE_URL}{unsigned}{tail}".encode(), hashlib.sha256).hexdigest()

    covered = get(f"{unsigned}&verifier={verifier}{tail}")
    appended = get(postback("ag-2") + tail)  # signed without it, as the Ruby sample's split would accept

    assert (covered.status_code, appended.status_code) == (200, 403)


@pytest.mark.parametrize("change", [("ag-1", "ag-2"), ("amount=100", "amount=900"), ("request_id=r1", "request_id=r2")])
def test_a_captured_postback_replayed_with_other_values_is_refused(adgem, user, change):
    path = postback("ag-1", "100")
    get(path)

    response = get(path.replace(*change))

    assert response.status_code == 403
    assert coins(user) == 100


def test_the_signature_covers_the_path_so_another_integration_refuses_it(adgem, user, app):
    integration(app, "adgem", "ag2-other", SECRET)

    response = get(postback().replace(SLUG, "ag2-other"))

    assert response.status_code == 403


def test_retries_are_ok_and_credit_once(adgem, user):
    path = postback("ag-5", "100")

    replies = [get(path).content for _ in range(4)]

    assert replies == [b"OK"] * 4
    assert coins(user) == 100
    assert LedgerEntry.objects.count() == 1
    assert OfferDelivery.objects.order_by("id").last().verdict == "duplicate"


def test_an_install_is_ok_logged_and_moves_nothing(adgem, user):
    response = get(postback("ag-7", "", nonpayable_install_goal="true"))

    assert (response.status_code, response.content) == (200, b"OK")
    assert coins(user) == 0
    assert not OfferConversion.objects.exists()
    delivery = OfferDelivery.objects.get()
    assert (delivery.verdict, delivery.message) == (
        "accepted",
        "An install (a non-paying goal): verified and logged, no coins moved.",
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (postback(amount="-5"), "ERROR: A reward cannot have a negative 'amount'."),
        (postback(amount=""), "ERROR: Missing parameter 'amount'."),
        (postback(transaction_id=""), "ERROR: Missing parameter 'transaction_id'."),
        (postback(user_id=""), "ERROR: Missing parameter 'player_id'."),
    ],
)
def test_bad_parameters_are_400_in_text(adgem, user, path, message):
    response = get(path)

    assert (response.status_code, response.content.decode()) == (400, message)
    assert coins(user) == 0


def test_unknown_user_is_404(adgem, user):
    assert get(postback(user_id="0b7d3c5e-0000-4000-8000-000000000000")).status_code == 404


@pytest.mark.parametrize(("event", "credited"), [("reward", 40), ("install", 0)])
def test_examples_verify_and_go_through_the_app(adgem, user, event, credited):
    example = ADGEM.example_callback(
        callback_url=BASE_URL + f"/api/callbacks/{SLUG}", secret=SECRET, user_id=str(USER_ID),
        transaction_id="ex-1", event=event, amount="40", test=False,
    )  # fmt: skip

    assert ADGEM.verify(CallbackRequest.of(example.url, example.url.partition("?")[2]), SECRET)
    assert get(example.url.removeprefix(BASE_URL)).content == b"OK"
    assert coins(user) == credited


# --- properties: any signed URL verifies, any change to it fails ------------------------------------------------

params_ = st.dictionaries(text.filter(lambda name: name != "verifier"), text, min_size=1, max_size=6)


def signed_url(params: dict[str, str], secret: str) -> str:
    url = f"{BASE_URL}/api/callbacks/{SLUG}?{urlencode(params, quote_via=quote)}"
    return f"{url}&verifier={hmac.new(secret.encode(), url.encode(), hashlib.sha256).hexdigest()}"


def property_request(url: str) -> CallbackRequest:
    return CallbackRequest.of(url, url.partition("?")[2])


@PROPERTY
@given(params=params_, secret=secrets_)
def test_any_signed_url_verifies(params, secret):
    assert ADGEM.verify(property_request(signed_url(params, secret)), secret)


@PROPERTY
@given(params=params_, secret=secrets_, data=st.data())
def test_any_single_character_change_of_the_signed_url_fails(params, secret, data):
    unsigned, _, verifier = signed_url(params, secret).rpartition("&verifier=")
    tampered = one_char_changed(unsigned, data)
    assume("verifier=" not in tampered)

    assert not ADGEM.verify(property_request(f"{tampered}&verifier={verifier}"), secret)
