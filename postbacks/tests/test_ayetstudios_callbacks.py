"""ayeT-Studios callbacks through the production application: GET, HMAC-SHA256 of the sorted query in the
X-Ayetstudios-Security-Hash header. Formula: docs.ayetstudios.com, "HMAC Security Hash" (PHP: ksort, then
hash_hmac('sha256', http_build_query($params), $api_key)); reversals: "Offerwall Callbacks" (`r-` ids)."""

import hashlib
import hmac
import string
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.urls import reverse
from hypothesis import assume, given
from hypothesis import strategies as st

from catalog.tests.factories import StoreAppFactory
from ledger.models import LedgerEntry
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferConversion, OfferDelivery
from postbacks.offers.networks.ayetstudios import NETWORK as AYET
from postbacks.offers.networks.ayetstudios import security_hash
from postbacks.offers.networks.base import CallbackRequest
from postbacks.tests.offer_factories import BASE_URL, USER_ID, integration
from postbacks.tests.test_offer_example_callbacks import console
from rewardhub.testing import Client, run_concurrently
from rewardhub.tests.test_properties import PROPERTY, one_char_changed, secrets_, text

pytestmark = pytest.mark.django_db(transaction=True)
SLUG = "ay-test-slug"
SECRET = "ayet-api-key"
HEADER = "X-Ayetstudios-Security-Hash"


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def ayet(app):
    return integration(app, "ayetstudios", SLUG, SECRET)


@pytest.fixture
def user(app):
    return RewardUserFactory(id=USER_ID, store_app=app)


def php_urlencode(value: str) -> str:
    """PHP's urlencode() as its manual states it: letters, digits and -_. kept, space as +, other bytes %XX."""
    kept = string.ascii_letters + string.digits + "-_."
    return "".join(
        char if char in kept else "+" if char == " " else "".join(f"%{byte:02X}" for byte in char.encode())
        for char in value
    )


def signed(params: dict[str, str], secret=SECRET) -> str:
    query = "&".join(f"{php_urlencode(k)}={php_urlencode(v)}" for k, v in sorted(params.items()))
    return hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


def callback(transaction_id="ayet-1", currency_amount="100", is_chargeback="0", user_id=USER_ID, **extra):
    return {
        "transaction_id": transaction_id,
        "external_identifier": str(user_id),
        "currency_amount": currency_amount,
        "is_chargeback": is_chargeback,
        **extra,
    }


def get(params: dict[str, str], signature=None):
    signature = signed(params) if signature is None else signature
    return Client().get(f"/api/callbacks/{SLUG}?{urlencode(params)}", headers={HEADER: signature})


def coins(user):
    user.refresh_from_db()
    return user.coins


def test_the_docs_example_hashes_to_the_openssl_answer():
    # The worked example of docs.ayetstudios.com "HMAC Security Hash", computed with:
    # printf '%s' 'amount=0.10&click_id=1234abcd5678021&payout=1.50&transaction_id=8ee08f32ae611231b0a49d1bd66e9bf193132561&user_id=testuser123456' | openssl dgst -sha256 -hmac 9f2228fea0d8e7ce10b2ac36053db14c  # noqa: E501
    pairs = [
        ("transaction_id", "8ee08f32ae611231b0a49d1bd66e9bf193132561"),
        ("amount", "0.10"),
        ("payout", "1.50"),
        ("user_id", "testuser123456"),
        ("click_id", "1234abcd5678021"),
    ]

    digest = security_hash("9f2228fea0d8e7ce10b2ac36053db14c", pairs)

    assert digest == "3191f052846df1beee6c1d42030fee7448ff8fc47a417bf714c2e0a1308fc010"


def test_known_answer_credits_and_answers_ok(ayet, user):
    # Sent in template order, a space as %20, ~ and * unencoded; signed over the keys sorted and encoded as PHP's
    # http_build_query encodes them (space +, ~ %7E, * %2A), computed with:
    # printf '%s' 'currency_amount=150&external_identifier=3f2c8d1e-5a4b-4c6d-8e9f-0a1b2c3d4e5f&is_chargeback=0&offer_name=Foo+Bar%7E%2A%C3%A9&payout_usd=0.15&transaction_id=ayet-1001' | openssl dgst -sha256 -hmac ayet-api-key  # noqa: E501
    path = (
        f"/api/callbacks/{SLUG}?transaction_id=ayet-1001&external_identifier={USER_ID}&currency_amount=150"
        "&payout_usd=0.15&is_chargeback=0&offer_name=Foo%20Bar~*%C3%A9"
    )

    response = Client().get(path, headers={HEADER: "d7e6b849e6b187ea89aae2afeeeeb5077f51b7c24e25bfd9996371c22f6368ae"})

    assert (response.status_code, response["Content-Type"], response.content) == (200, "text/plain", b"OK")
    assert coins(user) == 150
    conversion = OfferConversion.objects.get()
    assert (conversion.payout_usd, conversion.details) == (Decimal("0.15"), {"offer_name": "Foo Bar~*é"})


def test_known_answer_reversal_with_the_r_prefix_reverses_the_conversion(ayet, user):
    get(callback("ayet-1001", "150", payout_usd="0.15"))
    # printf '%s' 'currency_amount=-150&external_identifier=3f2c8d1e-5a4b-4c6d-8e9f-0a1b2c3d4e5f&is_chargeback=1&payout_usd=-0.15&transaction_id=r-ayet-1001' | openssl dgst -sha256 -hmac ayet-api-key  # noqa: E501
    params = callback("r-ayet-1001", "-150", "1", payout_usd="-0.15")

    response = get(params, signature="ebb9acadcbfef242ca1885a877364abdc76758bd61dd83cf1aee528fc735c146")

    assert response.content == b"OK"
    assert coins(user) == 0
    credit, reversal = LedgerEntry.objects.order_by("id")
    assert (reversal.amount, reversal.reverses) == (-150, credit)
    chargeback = OfferConversion.objects.get(state="chargeback")
    assert (chargeback.transaction_id, chargeback.original_transaction_id) == ("r-ayet-1001", "ayet-1001")


def test_either_reversal_signal_alone_reverses(ayet, user):
    get(callback("ayet-1", "100"))
    get(callback("ayet-2", "100"))

    get(callback("ayet-1", "-100", "1"))  # is_chargeback without the prefix
    get({k: v for k, v in callback("r-ayet-2", "-100").items() if k != "is_chargeback"})  # the prefix alone

    assert coins(user) == 0


def test_bad_signature_is_403_in_text(ayet, user):
    params = callback(currency_amount="100")

    response = get({**params, "currency_amount": "1000"}, signature=signed(params))

    assert (response.status_code, response.content) == (403, b"ERROR: The signature does not match.")
    assert coins(user) == 0
    assert OfferDelivery.objects.get().verdict == "bad_signature"


def test_missing_header_is_a_bad_signature(ayet, user):
    response = Client().get(f"/api/callbacks/{SLUG}?{urlencode(callback())}")

    assert response.status_code == 403


def test_uppercase_hex_is_accepted(ayet, user):
    params = callback()

    assert get(params, signature=signed(params).upper()).content == b"OK"


@pytest.mark.parametrize(
    "change", [{"transaction_id": "ayet-2"}, {"is_chargeback": "1"}, {"external_identifier": "someone-else"}]
)
def test_a_captured_callback_replayed_with_other_values_is_refused(ayet, user, change):
    params = callback(transaction_id="ayet-1")
    get(params)

    response = get({**params, **change}, signature=signed(params))

    assert response.status_code == 403
    assert coins(user) == 100


def test_a_form_body_the_hash_does_not_cover_is_refused(ayet, user):
    params = callback()

    response = Client().post(
        f"/api/callbacks/{SLUG}?{urlencode(params)}", "extra=1", "application/x-www-form-urlencoded",
        headers={HEADER: signed({**params, "extra": "1"})},
    )  # fmt: skip

    assert response.status_code == 403
    assert coins(user) == 0


def test_retries_are_ok_and_credit_once(ayet, user):
    replies = [get(callback("ayet-5", "100")).content for _ in range(3)]
    replies += [get(callback("r-ayet-5", "-100", "1")).content for _ in range(3)]

    assert replies == [b"OK"] * 6
    assert coins(user) == 0
    assert LedgerEntry.objects.count() == 2
    assert list(OfferDelivery.objects.order_by("id").values_list("verdict", flat=True)) == [
        "accepted", "duplicate", "duplicate", "accepted", "duplicate", "duplicate",
    ]  # fmt: skip


def test_a_chargeback_before_its_conversion_leaves_the_conversion_uncredited(ayet, user):
    get(callback("r-ayet-6", "-100", "1"))

    assert get(callback("ayet-6", "100")).content == b"OK"
    assert coins(user) == 0


@pytest.mark.parametrize("round_", range(3))
def test_a_conversion_racing_its_chargeback_nets_to_zero(ayet, user, round_):
    conversion = callback(f"ayet-race-{round_}", "100")
    chargeback = callback(f"r-ayet-race-{round_}", "-100", "1")

    replies = run_concurrently([lambda params=params: get(params) for params in (conversion, chargeback) * 2])

    assert [r.content for r in replies] == [b"OK"] * 4
    assert coins(user) == 0
    assert OfferConversion.objects.count() == 2
    call_command("ledger_audit")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (callback(currency_amount="-5"), "ERROR: A conversion cannot have a negative 'currency_amount'."),
        (callback(is_chargeback="yes"), "ERROR: Parameter 'is_chargeback' must be 0 or 1, got 'yes'."),
        (
            callback(transaction_id="r-", is_chargeback="1"),
            "ERROR: A chargeback's transaction id names no conversion: 'r-'.",
        ),
        (callback(currency_amount="lots"), "ERROR: Parameter 'currency_amount' must be a number, got 'lots'."),
        (callback(user_id=""), "ERROR: Missing parameter 'external_identifier'."),
    ],
)
def test_bad_parameters_are_400_in_text(ayet, user, params, message):
    response = get(params)

    assert (response.status_code, response.content.decode()) == (400, message)
    assert coins(user) == 0


def test_unknown_user_is_404(ayet, user):
    response = get(callback(user_id="0b7d3c5e-0000-4000-8000-000000000000"))

    assert response.status_code == 404


def test_examples_verify_and_credit_then_reverse_through_the_app(ayet, user):
    examples = [
        AYET.example_callback(
            callback_url=BASE_URL + f"/api/callbacks/{SLUG}", secret=SECRET, user_id=str(USER_ID),
            transaction_id="ex-1", event=event, amount="40", test=False,
        )
        for event in AYET.example_events
    ]  # fmt: skip

    replies = []
    for example in examples:
        request = CallbackRequest.of(example.url, example.url.partition("?")[2], meta={
            "HTTP_X_AYETSTUDIOS_SECURITY_HASH": example.headers[HEADER]
        })  # fmt: skip
        assert AYET.verify(request, SECRET)
        replies.append(Client().get(example.url.removeprefix(BASE_URL), headers=example.headers).content)
        if example is examples[0]:
            assert coins(user) == 40

    assert replies == [b"OK", b"OK"]
    assert coins(user) == 0
    assert examples[1].transaction_id == "r-ex-1"


def test_the_consoles_chargeback_shows_the_delivery_it_logged(ayet, user):
    client = console(superuser=True)
    tool = reverse("admin:postbacks_offerwallintegration_test_callback", args=[ayet.pk])
    fields = {"user": str(user.pk), "amount": "50", "send_as": "real"}
    client.post(tool, {**fields, "event": "conversion", "transaction_id": "console-1"})

    sent = client.post(tool, {**fields, "event": "chargeback", "transaction_id": "console-1"})

    delivery = OfferDelivery.objects.get(transaction_id="r-console-1")
    assert sent["Location"].endswith(f"&delivery={delivery.pk}")
    assert coins(user) == 0


# --- properties: any signed callback verifies, any change to a signed parameter fails --------------------------

params_ = st.dictionaries(text, text, min_size=1, max_size=6)


def property_request(params: dict[str, str], signature: str) -> CallbackRequest:
    return CallbackRequest.of(BASE_URL, urlencode(params), meta={"HTTP_X_AYETSTUDIOS_SECURITY_HASH": signature})


@PROPERTY
@given(params=params_, secret=secrets_)
def test_any_signed_callback_verifies(params, secret):
    assert AYET.verify(property_request(params, signed(params, secret)), secret)


@PROPERTY
@given(params=params_, secret=secrets_, data=st.data())
def test_any_change_to_a_parameter_fails(params, secret, data):
    name = data.draw(st.sampled_from(sorted(params)), label="name")
    assume(params[name])
    changed = {**params, name: one_char_changed(params[name], data)}

    assert not AYET.verify(property_request(changed, signed(params, secret)), secret)


@PROPERTY
@given(params=params_, secret=secrets_, data=st.data())
def test_any_added_or_removed_parameter_fails(params, secret, data):
    name = data.draw(st.sampled_from(sorted(params)), label="name")
    added = data.draw(text.filter(lambda key: key not in params), label="added")

    assert not AYET.verify(
        property_request({k: v for k, v in params.items() if k != name}, signed(params, secret)), secret
    )
    assert not AYET.verify(property_request({**params, added: ""}, signed(params, secret)), secret)
