"""Kiwiwall postbacks through the production application on PostgreSQL. The formula is the one
kiwiwall.com/postback-documentation gives: md5(sub_id . ':' . amount . ':' . secret), read from `$_REQUEST`."""

import hashlib
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from catalog.tests.factories import StoreAppFactory
from ledger.models import LedgerEntry
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferConversion, OfferDelivery
from postbacks.offers.networks.base import FORM_CONTENT_TYPE, CallbackRequest
from postbacks.offers.networks.kiwiwall import NETWORK as KIWIWALL
from postbacks.tests.offer_factories import KIWIWALL_SECRET, USER_ID, integration, kiwiwall_path, kiwiwall_query
from rewardhub.testing import Client
from rewardhub.tests.test_properties import PROPERTY, one_char_changed, secrets_, text

api = pytest.mark.django_db(transaction=True)
SLUG = "kw-test-slug"
KIWIWALL_IP = "34.193.235.172"


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def kiwiwall(app):
    return integration(app, "kiwiwall", SLUG, KIWIWALL_SECRET)


@pytest.fixture
def user(app):
    return RewardUserFactory(id=USER_ID, store_app=app)


def get(path, source_ip="127.0.0.1"):
    return Client(REMOTE_ADDR=source_ip).get(path)


def coins(user):
    user.refresh_from_db()
    return user.coins


@api
def test_known_answer_signature_credits_and_answers_1(kiwiwall, user):
    # printf '%s' '3f2c8d1e-5a4b-4c6d-8e9f-0a1b2c3d4e5f:100:kiwiwall-secret' | openssl md5
    path = (
        f"/api/callbacks/{SLUG}?status=1&trans_id=kw-2001&sub_id={USER_ID}&gross=0.25&amount=100&offer_id=77"
        "&offer_name=Some%20Game&signature=e7de14c9982f10294a16c5b2bff360fd"
    )

    response = get(path)

    assert (response.status_code, response["Content-Type"], response.content) == (200, "text/plain", b"1")
    assert coins(user) == 100
    conversion = OfferConversion.objects.get()
    assert conversion.payout_usd == Decimal("0.25")
    assert conversion.details == {"offer_id": "77", "offer_name": "Some Game", "gross": "0.25"}


@api
def test_a_postback_posted_as_a_form_credits_like_a_get(kiwiwall, user):
    response = Client().post(f"/api/callbacks/{SLUG}", kiwiwall_query(trans_id="kw-form"), FORM_CONTENT_TYPE)

    assert response.content == b"1"
    assert coins(user) == 100
    assert OfferDelivery.objects.get().body == kiwiwall_query(trans_id="kw-form")


@api
def test_bad_signature_is_refused_with_0(kiwiwall, user):
    response = get(kiwiwall_path(SLUG, amount="100").replace("amount=100", "amount=1000"))

    assert (response.status_code, response.content) == (403, b"0")
    assert OfferDelivery.objects.get().verdict == "bad_signature"
    assert coins(user) == 0


@api
def test_missing_signature_is_refused(kiwiwall, user):
    response = get(f"/api/callbacks/{SLUG}?status=1&trans_id=kw-1&sub_id={USER_ID}&amount=100")

    assert (response.status_code, response.content) == (403, b"0")


@api
def test_a_reversal_with_its_negative_amount_reverses_exactly_the_credit(kiwiwall, user):
    get(kiwiwall_path(SLUG, trans_id="kw-5", amount="100"))

    response = get(kiwiwall_path(SLUG, trans_id="kw-5", amount="-100", status="2"))

    assert response.content == b"1"
    assert coins(user) == 0
    credit, reversal = LedgerEntry.objects.order_by("id")
    assert (reversal.amount, reversal.reverses) == (-100, credit)


@api
def test_a_retried_postback_answers_1_and_credits_once(kiwiwall, user):
    path = kiwiwall_path(SLUG, trans_id="kw-5")

    replies = [get(path).content for _ in range(3)]

    assert replies == [b"1"] * 3
    assert coins(user) == 100
    assert list(OfferDelivery.objects.order_by("id").values_list("verdict", flat=True)) == [
        "accepted",
        "duplicate",
        "duplicate",
    ]


@api
def test_two_offers_of_the_same_amount_share_a_signature_and_both_credit(kiwiwall, user):
    # The signature covers sub_id and amount only: a genuine second offer of 100 carries the first one's signature.
    first, second = kiwiwall_path(SLUG, trans_id="kw-a"), kiwiwall_path(SLUG, trans_id="kw-b")
    assert first.rpartition("signature=")[2] == second.rpartition("signature=")[2]

    assert [get(first).content, get(second).content] == [b"1", b"1"]
    assert coins(user) == 200


@api
def test_a_captured_postback_replays_as_another_transaction_or_a_reversal_unless_an_allowlist_stops_it(app, user):
    # What the signature leaves out (trans_id, status) is the allowlist's to guard: without one a replay moves
    # coins, which is why production refuses a Kiwiwall integration without an allowlist (postbacks.E001).
    assert KIWIWALL.unsigned_coin_parameters == ("trans_id", "status")
    open_ = integration(app, "kiwiwall", "kw-open", KIWIWALL_SECRET)
    guarded = integration(app, "kiwiwall", "kw-guarded", KIWIWALL_SECRET, ip_allowlist="\n".join(KIWIWALL.server_ips))
    assert get(kiwiwall_path("kw-open", trans_id="kw-1")).content == b"1"
    assert get(kiwiwall_path("kw-guarded", trans_id="kw-1"), KIWIWALL_IP).content == b"1"

    replays = [kiwiwall_path(slug, trans_id="kw-replayed") for slug in ("kw-open", "kw-guarded")]
    reversals = [kiwiwall_path(slug, trans_id="kw-1", status="2") for slug in ("kw-open", "kw-guarded")]

    assert [get(path).status_code for path in replays + reversals] == [200, 403, 200, 403]
    assert guarded.deliveries.filter(verdict="ip_refused").count() == 2
    assert list(open_.conversions.order_by("id").values_list("transaction_id", "outcome")) == [
        ("kw-1", "credited"),
        ("kw-replayed", "credited"),
        ("kw-1", "reversed"),
    ]
    assert coins(user) == 200  # each integration's credit; the open one's replay, less its reversal


@api
@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"status": "3"}, 400),
        ({"status": ""}, 400),
        ({"trans_id": ""}, 400),
        ({"amount": "lots"}, 400),
        ({"amount": "-5"}, 400),
        ({"sub_id": "0b7d3c5e-0000-4000-8000-000000000000"}, 404),
    ],
)
def test_unusable_postbacks_answer_0_with_a_4xx(kiwiwall, user, params, status):
    response = get(kiwiwall_path(SLUG, **params))

    assert (response.status_code, response.content) == (status, b"0")
    assert coins(user) == 0


@api
def test_examples_sign_as_kiwiwall_and_credit_then_reverse_through_the_app(kiwiwall, user):
    def example(event):
        return KIWIWALL.example_callback(
            callback_url=f"https://rewards.example.com/api/callbacks/{SLUG}", secret=KIWIWALL_SECRET,
            user_id=str(USER_ID), transaction_id="kw-example", event=event, amount="40", test=False,
        )  # fmt: skip

    credit, reversal = example("1"), example("2")

    assert credit.url.endswith(f"&signature={md5(f'{USER_ID}:40:{KIWIWALL_SECRET}')}")
    assert "amount=-40" in reversal.url
    assert KIWIWALL.verify(CallbackRequest.of(credit.url, credit.url.split("?", 1)[1]), KIWIWALL_SECRET)
    assert get(credit.url.removeprefix("https://rewards.example.com")).content == b"1"
    assert coins(user) == 40
    assert get(reversal.url.removeprefix("https://rewards.example.com")).content == b"1"
    assert coins(user) == 0
    assert not KIWIWALL.has_test_flag


# --- properties: md5(sub_id:amount:secret) -------------------------------------------------------------------


def md5(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


def request(sub_id: str, amount: str, signature: str, **extra) -> CallbackRequest:
    query = urlencode({"sub_id": sub_id, "amount": amount, "signature": signature, **extra})
    return CallbackRequest.of(f"https://rewards.example.com/api/callbacks/kw?{query}", query)


@PROPERTY
@given(sub_id=text, amount=text, secret=secrets_, trans_id=text, status=text)
def test_any_signed_postback_verifies_whatever_its_unsigned_fields(sub_id, amount, secret, trans_id, status):
    signature = md5(f"{sub_id}:{amount}:{secret}")
    assert KIWIWALL.verify(request(sub_id, amount, signature, trans_id=trans_id, status=status), secret)
    assert KIWIWALL.verify(request(sub_id, amount, signature.upper()), secret)


@PROPERTY
@given(fields=st.tuples(text, text), secret=secrets_, which=st.integers(0, 2), data=st.data())
def test_any_change_to_a_signed_field_or_the_signature_fails(fields, secret, which, data):
    sub_id, amount = fields
    signature = md5(f"{sub_id}:{amount}:{secret}")
    changed = [sub_id, amount, signature]
    assume(changed[which])
    changed[which] = one_char_changed(changed[which], data)
    assume(changed[2].lower() != signature or which != 2)
    assert not KIWIWALL.verify(request(*changed), secret)
