"""Lootably postbacks through the production application on PostgreSQL. The formula is the official hash library's
(github Lootablycom/lootably-postback-hash, index.ts): sha256(userID + ip + revenue + currencyReward + secret)."""

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
from postbacks.offers.networks.base import CallbackRequest
from postbacks.offers.networks.lootably import NETWORK as LOOTABLY
from postbacks.tests.offer_factories import USER_ID, integration
from rewardhub.testing import Client
from rewardhub.tests.test_properties import PROPERTY, one_char_changed, secrets_, text

api = pytest.mark.django_db(transaction=True)
SLUG = "lt-test-slug"
SECRET = "lootably-secret"


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def lootably_path(slug=SLUG, user_id=USER_ID, transaction_id="lt-1", reward="450", status="1", **extra) -> str:
    params = {"userID": user_id, "transactionID": transaction_id, "ip": "203.0.113.7", "revenue": "0.45"}
    params |= {"currencyReward": reward, "status": status, **extra}
    params["hash"] = sha256(f"{params['userID']}{params['ip']}{params['revenue']}{params['currencyReward']}{SECRET}")
    return f"/api/callbacks/{slug}?{urlencode(params)}"


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def lootably(app):
    return integration(app, "lootably", SLUG, SECRET)


@pytest.fixture
def user(app):
    return RewardUserFactory(id=USER_ID, store_app=app)


def get(path, source_ip="127.0.0.1"):
    return Client(REMOTE_ADDR=source_ip).get(path)


def coins(user):
    user.refresh_from_db()
    return user.coins


@api
def test_known_answer_hash_credits_and_answers_1(lootably, user):
    # printf '%s' '3f2c8d1e-5a4b-4c6d-8e9f-0a1b2c3d4e5f203.0.113.70.45450lootably-secret' | openssl sha256
    path = (
        f"/api/callbacks/{SLUG}?userID={USER_ID}&transactionID=lt-2001&ip=203.0.113.7&offerName=Some%20Game"
        "&offerID=77&goalID=3&revenue=0.45&currencyReward=450&status=1"
        "&hash=31837e172c1cb6f4ef76070197c1086aa4bd745d802bcc9105b75b96c316f50e"
    )

    response = get(path)

    assert (response.status_code, response["Content-Type"], response.content) == (200, "text/plain", b"1")
    assert coins(user) == 450
    conversion = OfferConversion.objects.get()
    assert conversion.payout_usd == Decimal("0.45")
    assert conversion.details == {
        "offerName": "Some Game",
        "offerID": "77",
        "goalID": "3",
        "ip": "203.0.113.7",
        "revenue": "0.45",
    }


@api
def test_bad_hash_is_refused_with_0(lootably, user):
    response = get(lootably_path(reward="450").replace("currencyReward=450", "currencyReward=4500"))

    assert (response.status_code, response.content) == (403, b"0")
    assert OfferDelivery.objects.get().verdict == "bad_signature"
    assert coins(user) == 0


@api
def test_missing_hash_is_refused(lootably, user):
    response = get(f"/api/callbacks/{SLUG}?userID={USER_ID}&transactionID=lt-1&currencyReward=450&status=1")

    assert (response.status_code, response.content) == (403, b"0")


@api
def test_a_chargeback_reverses_exactly_the_credit(lootably, user):
    get(lootably_path(transaction_id="lt-5"))

    response = get(lootably_path(transaction_id="lt-5", status="0"))

    assert response.content == b"1"
    assert coins(user) == 0
    credit, reversal = LedgerEntry.objects.order_by("id")
    assert (reversal.amount, reversal.reverses) == (-450, credit)


@api
def test_a_retried_postback_answers_1_and_credits_once(lootably, user):
    replies = [get(lootably_path(transaction_id="lt-5")).content for _ in range(3)]

    assert replies == [b"1"] * 3
    assert coins(user) == 450
    assert OfferDelivery.objects.filter(verdict="duplicate").count() == 2


@api
def test_two_offers_with_the_same_signed_values_both_credit(lootably, user):
    # The hash leaves transactionID out: a second offer of the same reward from the same address repeats it.
    assert get(lootably_path(transaction_id="lt-a")).content == b"1"
    assert get(lootably_path(transaction_id="lt-b")).content == b"1"
    assert coins(user) == 900


@api
def test_a_captured_postback_replays_as_a_chargeback_or_new_transaction_without_an_allowlist(lootably, user):
    # What the hash leaves out (transactionID, status) needs the IP allowlist: production requires one.
    assert LOOTABLY.unsigned_coin_parameters == ("transactionID", "status")
    assert get(lootably_path(transaction_id="lt-1")).content == b"1"

    get(lootably_path(transaction_id="lt-replayed"))
    get(lootably_path(transaction_id="lt-1", status="0"))
    lootably.ip_allowlist = "198.51.100.7"
    lootably.save()
    refused = get(lootably_path(transaction_id="lt-replayed-again"))

    assert (refused.status_code, refused.content) == (403, b"0")
    assert list(lootably.conversions.order_by("id").values_list("transaction_id", "outcome")) == [
        ("lt-1", "credited"),
        ("lt-replayed", "credited"),
        ("lt-1", "reversed"),
    ]


def test_a_re_split_of_the_unseparated_fields_only_verifies_where_the_allowlist_admits_it(lootably, user):
    # ip + revenue + currencyReward without separators: "203.0.113.7" "0.45" "450" signs as "203.0.113.70" ".45"
    # "450" would. Only the user's address and the USD revenue move here (the hash pins the characters), and the
    # replay still needs a new transactionID, which the hash never covered: the allowlist is the guard.
    path = lootably_path(transaction_id="lt-1")
    resplit = path.replace("ip=203.0.113.7&revenue=0.45", "ip=203.0.113.70&revenue=.45")

    assert LOOTABLY.verify(CallbackRequest.of(resplit, resplit.split("?", 1)[1]), SECRET)


@api
@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"status": "2"}, 400),
        ({"transaction_id": ""}, 400),
        ({"reward": "lots"}, 400),
        ({"reward": "-5"}, 400),
        ({"user_id": "0b7d3c5e-0000-4000-8000-000000000000"}, 404),
    ],
)
def test_unusable_postbacks_answer_0_with_a_4xx(lootably, user, params, status):
    response = get(lootably_path(**params))

    assert (response.status_code, response.content) == (status, b"0")
    assert coins(user) == 0


@api
def test_examples_sign_as_lootably_and_credit_then_charge_back_through_the_app(lootably, user):
    def example(event):
        return LOOTABLY.example_callback(
            callback_url=f"https://rewards.example.com/api/callbacks/{SLUG}", secret=SECRET,
            user_id=str(USER_ID), transaction_id="lt-example", event=event, amount="40", test=False,
        )  # fmt: skip

    credit, chargeback = example("1"), example("0")

    assert credit.url.endswith(f"&hash={sha256(f'{USER_ID}192.0.2.140{SECRET}')}")
    assert LOOTABLY.verify(CallbackRequest.of(credit.url, credit.url.split("?", 1)[1]), SECRET)
    assert get(credit.url.removeprefix("https://rewards.example.com")).content == b"1"
    assert coins(user) == 40
    assert OfferConversion.objects.get().payout_usd is None  # an example is no revenue
    assert get(chargeback.url.removeprefix("https://rewards.example.com")).content == b"1"
    assert coins(user) == 0


# --- properties: sha256(userID + ip + revenue + currencyReward + secret) ------------------------------------------

SIGNED = ("userID", "ip", "revenue", "currencyReward")


def request(values, signature: str, **extra) -> CallbackRequest:
    query = urlencode({**dict(zip(SIGNED, values, strict=True)), "hash": signature, **extra})
    return CallbackRequest.of(f"https://rewards.example.com/api/callbacks/lt?{query}", query)


@PROPERTY
@given(values=st.tuples(text, text, text, text), secret=secrets_, transaction_id=text, status=text)
def test_any_signed_postback_verifies_whatever_its_unsigned_fields(values, secret, transaction_id, status):
    signature = sha256("".join(values) + secret)
    assert LOOTABLY.verify(request(values, signature, transactionID=transaction_id, status=status), secret)
    assert LOOTABLY.verify(request(values, signature.upper()), secret)


@PROPERTY
@given(values=st.tuples(text, text, text, text), secret=secrets_, which=st.integers(0, 4), data=st.data())
def test_any_change_to_a_signed_field_or_the_hash_fails(values, secret, which, data):
    signature = sha256("".join(values) + secret)
    changed = [*values, signature]
    assume(changed[which])
    changed[which] = one_char_changed(changed[which], data)
    assume(which != 4 or changed[4].lower() != signature)
    assert not LOOTABLY.verify(request(changed[:4], changed[4]), secret)
