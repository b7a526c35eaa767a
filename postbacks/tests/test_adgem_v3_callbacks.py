"""AdGem postback v3 through the production application: POST, a JSON body signed in the Signature header.
Formula: github AdGem/adgem-integrations-documentation, docs/_partials/security-code-samples.mdx ("Signature
Verification (v3 - POST Requests)": hash_hmac('sha256', request()->getContent(), env('ADGEM_POSTBACK_KEY')))."""

import hashlib
import hmac
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.tests.factories import StoreAppFactory
from ledger.models import LedgerEntry
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferConversion, OfferDelivery
from postbacks.offers.networks.adgem_v3 import NETWORK as ADGEM_V3
from postbacks.offers.networks.base import CallbackRequest
from postbacks.tests.offer_factories import BASE_URL, USER_ID, integration
from rewardhub.testing import Client
from rewardhub.tests.test_properties import PROPERTY, secrets_

pytestmark = pytest.mark.django_db(transaction=True)
SLUG = "ag3-test-slug"
SECRET = "adgem-postback-key"
# The docs' example body, cut to the fields RewardHub reads, player_id a user of the test app. Its signature,
# computed with: openssl dgst -sha256 -hmac adgem-postback-key body.json (this exact text, no trailing newline)
KNOWN_BODY = (
    '{"request_id":"01786456-b959-404a-baa7-05ef8a2e0290","timestamp":1720727170,"data":{"player_id":'
    '"3f2c8d1e-5a4b-4c6d-8e9f-0a1b2c3d4e5f","amount":150,"payout":1.5,"conversion_id":'
    '"c5eb2a9d-41a4-4088-80bb-ebc87bd1bb62","offer_name":"Foo Bar","conversion_type":"reward"}}'
)
KNOWN_SIGNATURE = "c115c59061c60f300214a805acbf5b3dfa36bcf8e913902b374c7443c0276829"


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def adgem(app):
    return integration(app, "adgem_v3", SLUG, SECRET)


@pytest.fixture
def user(app):
    return RewardUserFactory(id=USER_ID, store_app=app)


def body(conversion_id="c-1", amount=100, user_id=USER_ID, **data) -> bytes:
    data = {"player_id": str(user_id), "conversion_id": conversion_id, "amount": amount, **data}
    return json.dumps({"request_id": "r-1", "timestamp": 1720727170, "data": data}).encode()


def sign(raw: bytes, secret=SECRET) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def post(raw: bytes, signature=None):
    signature = sign(raw) if signature is None else signature
    return Client().post(f"/api/callbacks/{SLUG}", raw, "application/json", headers={"Signature": signature})


def coins(user):
    user.refresh_from_db()
    return user.coins


def test_known_answer_credits_and_answers_ok(adgem, user):
    response = post(KNOWN_BODY.encode(), KNOWN_SIGNATURE)

    assert (response.status_code, response["Content-Type"], response.content) == (200, "text/plain", b"OK")
    assert coins(user) == 150
    conversion = OfferConversion.objects.get()
    assert (conversion.transaction_id, conversion.amount_received) == ("c5eb2a9d-41a4-4088-80bb-ebc87bd1bb62", "150")
    assert conversion.payout_usd == Decimal("1.5")
    assert conversion.details == {"offer_name": "Foo Bar", "request_id": "01786456-b959-404a-baa7-05ef8a2e0290"}


def test_numbers_are_kept_as_sent(adgem, user):
    post(b'{"data": {"player_id": "%s", "conversion_id": "c-1", "amount": 1.50}}' % str(USER_ID).encode())

    assert OfferConversion.objects.get().amount_received == "1.50"
    assert coins(user) == 2  # half-up


def test_bad_signature_is_403_in_text(adgem, user):
    raw = body(amount=100)

    response = post(body(amount=1000), sign(raw))

    assert (response.status_code, response.content) == (403, b"ERROR: The signature does not match.")
    assert coins(user) == 0
    assert OfferDelivery.objects.get().verdict == "bad_signature"


def test_a_body_reformatted_after_signing_is_refused(adgem, user):
    raw = body()

    response = post(json.dumps(json.loads(raw), indent=1).encode(), sign(raw))

    assert response.status_code == 403


def test_missing_signature_is_refused(adgem, user):
    response = Client().post(f"/api/callbacks/{SLUG}", body(), "application/json")

    assert response.status_code == 403


def test_retries_are_ok_and_credit_once(adgem, user):
    raw = body("c-5", 100)

    replies = [post(raw).content for _ in range(4)]

    assert replies == [b"OK"] * 4
    assert coins(user) == 100
    assert LedgerEntry.objects.count() == 1
    assert OfferDelivery.objects.order_by("id").last().verdict == "duplicate"


def test_an_install_is_ok_logged_and_moves_nothing(adgem, user):
    response = post(body("c-7", 0, conversion_type="install"))

    assert (response.status_code, response.content) == (200, b"OK")
    assert not OfferConversion.objects.exists()
    assert OfferDelivery.objects.get().verdict == "accepted"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "ERROR: The body must be a JSON object."),
        (b"[" * 16000, "ERROR: The body must be a JSON object."),
        (b'{"data": {"amount": NaN}}', "ERROR: The body must be a JSON object."),
        (b"\xff{}", "ERROR: The body must be a JSON object."),
        (b'{"data": []}', "ERROR: The body must carry the conversion in a 'data' object."),
        (body(amount=-5), "ERROR: A reward cannot have a negative 'amount'."),
        (body(amount=True), "ERROR: Missing parameter 'amount'."),
        (body(conversion_id=""), "ERROR: Missing parameter 'conversion_id'."),
        (body(conversion_id="a\x00b"), "ERROR: Fields must be UTF-8 text without NUL characters."),
        (body(conversion_id="\ud800"), "ERROR: Fields must be UTF-8 text without NUL characters."),
    ],
)
def test_signed_bodies_it_cannot_read_are_400_in_text(adgem, user, raw, message):
    response = post(raw)

    assert (response.status_code, response.content.decode()) == (400, message)
    assert coins(user) == 0


def test_unknown_user_is_404(adgem, user):
    assert post(body(user_id="0b7d3c5e-0000-4000-8000-000000000000")).status_code == 404


@pytest.mark.parametrize(("event", "credited"), [("reward", 40), ("install", 0)])
def test_examples_verify_and_go_through_the_app(adgem, user, event, credited):
    example = ADGEM_V3.example_callback(
        callback_url=BASE_URL + f"/api/callbacks/{SLUG}", secret=SECRET, user_id=str(USER_ID),
        transaction_id="ex-1", event=event, amount="40", test=False,
    )  # fmt: skip

    request = CallbackRequest.of(example.url, "", example.body, {"HTTP_SIGNATURE": example.headers["Signature"]})
    assert (example.method, ADGEM_V3.verify(request, SECRET)) == ("POST", True)
    response = Client().post(
        example.url.removeprefix(BASE_URL), example.body, example.headers["Content-Type"], headers=example.headers
    )
    assert response.content == b"OK"
    assert coins(user) == credited


# --- properties: any signed body verifies, any change to it fails -----------------------------------------------


def property_request(raw: bytes, signature: str) -> CallbackRequest:
    return CallbackRequest.of(BASE_URL, "", raw, {"HTTP_SIGNATURE": signature})


@PROPERTY
@given(raw=st.binary(max_size=200), secret=secrets_)
def test_any_signed_body_verifies(raw, secret):
    assert ADGEM_V3.verify(property_request(raw, sign(raw, secret)), secret)


@PROPERTY
@given(raw=st.binary(min_size=1, max_size=200), secret=secrets_, data=st.data())
def test_any_change_to_the_body_fails(raw, secret, data):
    index = data.draw(st.integers(min_value=0, max_value=len(raw) - 1), label="index")
    byte = data.draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != raw[index]), label="byte")
    tampered = raw[:index] + bytes([byte]) + raw[index + 1 :]

    assert not ADGEM_V3.verify(property_request(tampered, sign(raw, secret)), secret)
