"""CPX Research postbacks through the production application on PostgreSQL. CPX publishes no postback page; the
formula is the one five public integrations agree on (e.g. github IvanWasHere/simple-reward-offerwall,
plugin/Providers/Schemas/): secure_hash = md5(trans_id . '-' . the app's secure hash)."""

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
from postbacks.offers.networks.cpx import NETWORK as CPX
from postbacks.tests.offer_factories import USER_ID, integration
from rewardhub.testing import Client
from rewardhub.tests.test_properties import PROPERTY, one_char_changed, secrets_, text

api = pytest.mark.django_db(transaction=True)
SLUG = "cpx-test-slug"
SECRET = "cpx-secret"
OTHER_USER_ID = "0b7d3c5e-0000-4000-8000-000000000001"


def md5(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


def cpx_path(user_id=USER_ID, trans_id="cpx-1", amount="120", status="1", **extra) -> str:
    params = {"status": status, "trans_id": trans_id, "user_id": user_id, "amount_local": amount, **extra}
    return f"/api/callbacks/{SLUG}?{urlencode({**params, 'secure_hash': md5(f'{trans_id}-{SECRET}')})}"


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def cpx(app):
    return integration(app, "cpx", SLUG, SECRET)


@pytest.fixture
def user(app):
    return RewardUserFactory(id=USER_ID, store_app=app)


def get(path, source_ip="127.0.0.1"):
    return Client(REMOTE_ADDR=source_ip).get(path)


def coins(user):
    user.refresh_from_db()
    return user.coins


@api
def test_known_answer_hash_credits_and_answers_1(cpx, user):
    # printf '%s' 'cpx-1001-cpx-secret' | openssl md5
    path = (
        f"/api/callbacks/{SLUG}?status=1&trans_id=cpx-1001&user_id={USER_ID}&amount_local=120&amount_usd=0.60"
        "&offer_id=55&type=complete&ip_click=203.0.113.7&secure_hash=76fe43af5429cc66251a0f46d9d9d628"
    )

    response = get(path)

    assert (response.status_code, response["Content-Type"], response.content) == (200, "text/plain", b"1")
    assert coins(user) == 120
    conversion = OfferConversion.objects.get()
    assert conversion.payout_usd == Decimal("0.6")
    assert conversion.details == {"type": "complete", "offer_id": "55", "amount_usd": "0.60", "ip_click": "203.0.113.7"}


@api
def test_bad_hash_is_refused_with_0(cpx, user):
    response = get(cpx_path(trans_id="cpx-1").replace("trans_id=cpx-1", "trans_id=cpx-2"))

    assert (response.status_code, response.content) == (403, b"0")
    assert OfferDelivery.objects.get().verdict == "bad_signature"
    assert coins(user) == 0


@api
def test_missing_hash_is_refused(cpx, user):
    response = get(f"/api/callbacks/{SLUG}?status=1&trans_id=cpx-1&user_id={USER_ID}&amount_local=120")

    assert (response.status_code, response.content) == (403, b"0")


@api
@pytest.mark.parametrize(
    "cancellation",
    [
        {"amount": "120", "type": "complete"},  # on the main postback URL, with the completion's amounts
        {"amount": "0", "type": "canceled", "amount_usd": "0"},  # on the "event canceled" URL, fixed values
    ],
)
def test_a_cancellation_of_the_same_trans_id_reverses_exactly_the_credit(cpx, user, cancellation):
    get(cpx_path(trans_id="cpx-5", amount="120", type="complete"))

    response = get(cpx_path(trans_id="cpx-5", status="2", **cancellation))

    assert (response.status_code, response.content) == (200, b"1")
    assert coins(user) == 0
    credit, reversal = LedgerEntry.objects.order_by("id")
    assert (reversal.amount, reversal.reverses) == (-120, credit)


@api
def test_a_retried_postback_answers_1_and_credits_once(cpx, user):
    assert [get(cpx_path(trans_id="cpx-5")).content for _ in range(3)] == [b"1"] * 3
    assert coins(user) == 120
    assert OfferDelivery.objects.filter(verdict="duplicate").count() == 2


@api
def test_a_captured_postback_replays_as_a_cancellation_unless_an_allowlist_stops_it(cpx, user, app):
    # The hash covers only trans_id: another user or amount for it is a duplicate of its key, but its cancellation
    # verifies, so production requires the allowlist; a new integration starts with CPX's three addresses.
    other = RewardUserFactory(id=OTHER_USER_ID, store_app=app)
    assert CPX.unsigned_coin_parameters == ("user_id", "amount_local", "status")
    get(cpx_path(trans_id="cpx-1"))

    replies = [get(cpx_path(trans_id="cpx-1", user_id=OTHER_USER_ID, amount="9999")), get(cpx_path(status="2"))]

    assert [reply.content for reply in replies] == [b"1", b"1"]
    assert (coins(user), coins(other)) == (0, 0)
    assert list(OfferDelivery.objects.order_by("id").values_list("verdict", flat=True)) == [
        "accepted",
        "duplicate",
        "accepted",
    ]
    cpx.ip_allowlist = "\n".join(CPX.server_ips)
    cpx.save()
    assert get(cpx_path(trans_id="cpx-2")).status_code == 403
    assert get(cpx_path(trans_id="cpx-2"), "2a01:4f8:d0a:30ff::2").content == b"1"


@api
@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"status": "3"}, 400),
        ({"trans_id": ""}, 400),
        ({"amount": ""}, 400),
        ({"amount": "-1"}, 400),
        ({"user_id": "0b7d3c5e-0000-4000-8000-000000000000"}, 404),
    ],
)
def test_unusable_postbacks_answer_0_with_a_4xx(cpx, user, params, status):
    response = get(cpx_path(**params))

    assert (response.status_code, response.content) == (status, b"0")
    assert coins(user) == 0


@api
def test_examples_sign_as_cpx_and_credit_then_cancel_through_the_app(cpx, user):
    def example(event):
        return CPX.example_callback(
            callback_url=f"https://rewards.example.com/api/callbacks/{SLUG}", secret=SECRET,
            user_id=str(USER_ID), transaction_id="cpx-example", event=event, amount="40", test=False,
        )  # fmt: skip

    credit, cancellation = example("1"), example("2")

    assert credit.url.endswith(f"&secure_hash={md5(f'cpx-example-{SECRET}')}")
    assert CPX.verify(CallbackRequest.of(credit.url, credit.url.split("?", 1)[1]), SECRET)
    assert get(credit.url.removeprefix("https://rewards.example.com")).content == b"1"
    assert coins(user) == 40
    assert get(cancellation.url.removeprefix("https://rewards.example.com")).content == b"1"
    assert coins(user) == 0


# --- properties: md5(trans_id + "-" + secret) -------------------------------------------------------------------


def request(trans_id: str, signature: str, **extra) -> CallbackRequest:
    query = urlencode({"trans_id": trans_id, "secure_hash": signature, **extra})
    return CallbackRequest.of(f"https://rewards.example.com/api/callbacks/cpx?{query}", query)


@PROPERTY
@given(trans_id=text, secret=secrets_, unsigned=st.dictionaries(st.sampled_from(["user_id", "amount_local"]), text))
def test_any_signed_postback_verifies_whatever_its_unsigned_fields(trans_id, secret, unsigned):
    signature = md5(f"{trans_id}-{secret}")
    assert CPX.verify(request(trans_id, signature, **unsigned), secret)
    assert CPX.verify(request(trans_id, signature.upper()), secret)


@PROPERTY
@given(trans_id=text, secret=secrets_, which=st.integers(0, 1), data=st.data())
def test_any_change_to_the_trans_id_or_the_hash_fails(trans_id, secret, which, data):
    signature = md5(f"{trans_id}-{secret}")
    changed = [trans_id, signature]
    assume(changed[which])
    changed[which] = one_char_changed(changed[which], data)
    assume(which != 1 or changed[1].lower() != signature)
    assert not CPX.verify(request(*changed), secret)
