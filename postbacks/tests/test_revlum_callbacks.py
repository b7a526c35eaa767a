"""Revlum postbacks through the production application on PostgreSQL, as a GET and as a POSTed form. The formula is
developer.revlum.com/docs/postback-security-1's: md5(subId . transId . reward . secret)."""

import hashlib
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

import pytest
from django.contrib.auth import get_user_model
from django.test import Client as DjangoClient
from django.urls import reverse
from hypothesis import assume, given
from hypothesis import strategies as st

from catalog.tests.factories import StoreAppFactory
from ledger.models import LedgerEntry
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferConversion, OfferDelivery
from postbacks.offers.networks.base import FORM_CONTENT_TYPE, CallbackRequest
from postbacks.offers.networks.revlum import NETWORK as REVLUM
from postbacks.tests.offer_factories import USER_ID, integration
from rewardhub.testing import Client
from rewardhub.tests.test_properties import PROPERTY, one_char_changed, secrets_, text

api = pytest.mark.django_db(transaction=True)
SLUG = "rv-test-slug"
SECRET = "revlum-secret"
URL = f"/api/callbacks/{SLUG}"


def md5(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


def revlum_query(sub_id=USER_ID, trans_id="REV-1", reward="25.0", status="1", **extra) -> str:
    params = {"subId": sub_id, "transId": trans_id, "reward": reward, "status": status, **extra}
    return urlencode({**params, "signature": md5(f"{sub_id}{trans_id}{reward}{SECRET}")})


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def revlum(app):
    return integration(app, "revlum", SLUG, SECRET)


@pytest.fixture
def user(app):
    return RewardUserFactory(id=USER_ID, store_app=app)


def get(query):
    return Client().get(f"{URL}?{query}")


def post(query):
    return Client().post(URL, query, FORM_CONTENT_TYPE)


def coins(user):
    user.refresh_from_db()
    return user.coins


@api
def test_known_answer_signature_credits_and_answers_ok(revlum, user):
    # printf '%s' '3f2c8d1e-5a4b-4c6d-8e9f-0a1b2c3d4e5fREV-35125.0revlum-secret' | openssl md5
    query = (
        f"subId={USER_ID}&transId=REV-351&offerName=Revlum%20-%20Sign%20up&offerId=1354&reward=25.0&payout=0.100000"
        "&userIp=192.168.1.1&country=US&status=1&debug=0&signature=8446682efe19229600c67fb42ff9cb24"
    )

    response = post(query)

    assert (response.status_code, response["Content-Type"], response.content) == (200, "text/plain", b"ok")
    assert coins(user) == 25
    conversion = OfferConversion.objects.get()
    assert conversion.payout_usd == Decimal("0.1")
    assert conversion.details["offerName"] == "Revlum - Sign up"


@api
def test_a_get_with_the_parameters_in_the_url_credits_like_the_post(revlum, user):
    assert get(revlum_query(trans_id="REV-get")).content == b"ok"
    assert coins(user) == 25


@api
@pytest.mark.parametrize("send", [get, post])
def test_bad_signature_is_refused_with_an_error_text(revlum, user, send):
    response = send(revlum_query(reward="25.0").replace("reward=25.0", "reward=250"))

    assert (response.status_code, response.content) == (403, b"ERROR: The signature does not match.")
    assert coins(user) == 0


@api
@pytest.mark.parametrize("send", [get, post])
def test_a_chargeback_with_its_absolute_reward_reverses_exactly_the_credit(revlum, user, send):
    send(revlum_query(trans_id="REV-5"))

    response = send(revlum_query(trans_id="REV-5", status="2"))

    assert response.content == b"ok"
    assert coins(user) == 0
    credit, reversal = LedgerEntry.objects.order_by("id")
    assert (reversal.amount, reversal.reverses) == (-25, credit)


@api
def test_a_retried_postback_answers_ok_and_credits_once(revlum, user):
    assert [post(revlum_query(trans_id="REV-5")).content for _ in range(3)] == [b"ok"] * 3
    assert coins(user) == 25
    assert OfferDelivery.objects.filter(verdict="duplicate").count() == 2


@api
def test_a_debug_postback_is_verified_and_logged_without_coins(revlum, user):
    response = post(revlum_query(debug="1"))

    assert response.content == b"ok"
    assert coins(user) == 0
    assert OfferDelivery.objects.get().message == "Debug callback: verified and logged, no coins moved."


@api
def test_a_captured_signature_re_split_into_another_transaction_is_refused_as_forged(revlum, user):
    # subId . transId . reward without separators: "REV-351" + "25.0" signs as "REV-3512" + "5.0" would.
    assert post(revlum_query(trans_id="REV-351", reward="25.0")).content == b"ok"
    signature = dict(parse_qsl(revlum_query(trans_id="REV-351", reward="25.0")))["signature"]

    forged = post(f"subId={USER_ID}&transId=REV-3512&reward=5.0&status=1&signature={signature}")

    assert (forged.status_code, forged.content) == (403, b"ERROR: This signature was already used with other values.")
    assert coins(user) == 25


@api
def test_a_captured_postback_replays_as_a_chargeback_without_an_allowlist(revlum, user):
    # `status` is not signed: production requires the IP allowlist (Revlum publishes no addresses to pre-fill).
    assert REVLUM.unsigned_coin_parameters == ("status", "debug")
    assert not REVLUM.server_ips
    post(revlum_query(trans_id="REV-1"))

    assert post(revlum_query(trans_id="REV-1", status="2")).content == b"ok"
    assert coins(user) == 0
    revlum.ip_allowlist = "198.51.100.7"
    revlum.save()
    assert post(revlum_query(trans_id="REV-2", status="1")).status_code == 403


@api
@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"status": "0"}, 400, "ERROR: Parameter 'status' must be 1 or 2, got '0'."),
        ({"trans_id": ""}, 400, "ERROR: Missing parameter 'transId'."),
        ({"reward": "-25"}, 400, "ERROR: Parameter 'reward' is always absolute; got a negative one."),
        ({"sub_id": "0b7d3c5e-0000-4000-8000-000000000000"}, 404, None),
    ],
)
def test_unusable_postbacks_answer_an_error_text_with_a_4xx(revlum, user, params, status, message):
    response = post(revlum_query(**params))

    assert response.status_code == status
    assert response.content.startswith(b"ERROR: ")
    assert message is None or response.content.decode() == message


@api
@pytest.mark.parametrize(("test", "credited"), [(True, 0), (False, 40)])
def test_examples_are_signed_forms_that_go_through_the_app(revlum, user, test, credited):
    example = REVLUM.example_callback(
        callback_url=f"https://rewards.example.com{URL}", secret=SECRET, user_id=str(USER_ID),
        transaction_id="REV-example", event="1", amount="40", test=test,
    )  # fmt: skip

    assert (example.method, example.headers) == ("POST", {"Content-Type": FORM_CONTENT_TYPE})
    fields = dict(parse_qsl(example.body.decode()))
    assert fields["signature"] == md5(f"{USER_ID}REV-example40{SECRET}")
    assert fields["debug"] == ("1" if test else "0")
    request = CallbackRequest.of(example.url, "", example.body, {"CONTENT_TYPE": FORM_CONTENT_TYPE})
    assert REVLUM.verify(request, SECRET)
    assert post(example.body.decode()).content == b"ok"
    assert coins(user) == credited


# --- properties: md5(subId + transId + reward + secret) ---------------------------------------------------------

SIGNED = ("subId", "transId", "reward")


def form(values, signature: str, **extra) -> CallbackRequest:
    body = urlencode({**dict(zip(SIGNED, values, strict=True)), "signature": signature, **extra}).encode()
    return CallbackRequest.of(f"https://rewards.example.com{URL}", "", body, {"CONTENT_TYPE": FORM_CONTENT_TYPE})


@PROPERTY
@given(values=st.tuples(text, text, text), secret=secrets_, status=text, debug=text)
def test_any_signed_postback_verifies_whatever_its_unsigned_fields(values, secret, status, debug):
    signature = md5("".join(values) + secret)
    assert REVLUM.verify(form(values, signature, status=status, debug=debug), secret)
    query = urlencode({**dict(zip(SIGNED, values, strict=True)), "signature": signature.upper()})
    assert REVLUM.verify(CallbackRequest.of(f"https://rewards.example.com/api/callbacks/rv?{query}", query), secret)


@PROPERTY
@given(values=st.tuples(text, text, text), secret=secrets_, which=st.integers(0, 3), data=st.data())
def test_any_change_to_a_signed_field_or_the_signature_fails(values, secret, which, data):
    signature = md5("".join(values) + secret)
    changed = [*values, signature]
    assume(changed[which])
    changed[which] = one_char_changed(changed[which], data)
    assume(which != 3 or changed[3].lower() != signature)
    assert not REVLUM.verify(form(changed[:3], changed[3]), secret)


@api
def test_the_consoles_test_callback_posts_a_debug_form_through_the_callback_path(revlum, user):
    staff = get_user_model().objects.create_superuser("operator", "operator@example.com", "pw")
    console = DjangoClient()
    console.force_login(staff)
    tool = reverse("admin:postbacks_offerwallintegration_test_callback", args=[revlum.pk])

    sent = console.post(tool, {"user": str(USER_ID), "event": "2", "amount": "30", "send_as": "test"})

    assert sent.status_code == 302
    delivery = OfferDelivery.objects.get()
    assert (delivery.method, delivery.query, delivery.verdict, delivery.response_body) == ("POST", "", "accepted", "ok")
    assert dict(parse_qsl(delivery.body))["debug"] == "1"
    assert coins(user) == 0
