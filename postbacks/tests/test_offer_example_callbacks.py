"""The integration page's "Send a test callback": signed as the network signs, sent through the production
application's callback path, the reply and its delivery shown; a real one moves coins once, only for staff who may
adjust balances, and is recorded in the integration's history."""

import hashlib
import hmac
import html
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from catalog.tests.factories import StoreAppFactory
from ledger.models import LedgerEntry
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferDelivery
from postbacks.offers.networks import get_network
from postbacks.tests.offer_factories import BITLABS_SECRET, WANNADS_SECRET, integration
from rewardhub.testing import Client as ApiClient

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def user(app):
    return RewardUserFactory(store_app=app, device_id="pixel-7-abc")


@pytest.fixture
def bitlabs(app):
    return integration(app, "bitlabs", "bl-tool", BITLABS_SECRET, coin_rate="2")


@pytest.fixture
def wannads(app):
    return integration(app, "wannads", "wn-tool", WANNADS_SECRET, ip_allowlist="203.0.113.0/24")


def console(*permissions: str, superuser: bool = False) -> Client:
    staff = get_user_model().objects.create_user("operator", password="x" * 20, is_staff=True, is_superuser=superuser)
    for permission in permissions:
        app_label, codename = permission.split(".")
        staff.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = Client()
    client.force_login(staff)
    return client


def tool(integration_) -> str:
    return reverse("admin:postbacks_offerwallintegration_test_callback", args=[integration_.pk])


def send(client, integration_, **fields):
    data = {"user": "pixel-7-abc", "event": "COMPLETE", "amount": "50", "transaction_id": "", "send_as": "test"}
    return client.post(tool(integration_), {**data, **fields})


def text(response) -> str:
    """The page as read: tags removed, entities decoded, whitespace collapsed."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode())))


def test_a_test_callback_is_accepted_through_the_callback_path_and_its_verdict_shown(bitlabs, user):
    client = console(superuser=True)

    sent = send(client, bitlabs)

    assert sent.status_code == 302
    delivery = OfferDelivery.objects.get()
    assert sent["Location"] == f"{tool(bitlabs)}?user={user.pk}&delivery={delivery.pk}"
    assert (delivery.verdict, delivery.response_status, delivery.user_id) == ("accepted", 200, None)
    assert dict(parse_qsl(delivery.query))["debug"] == "true"
    page = client.get(sent["Location"])
    assert "Accepted: Debug callback: verified and logged, no coins moved." in text(page)
    assert 'answered 200: {"ok": true, "result": "accepted"' in text(page)
    assert reverse("admin:postbacks_offerdelivery_change", args=[delivery.pk]) in page.content.decode()


def test_a_test_callback_moves_no_coins(bitlabs, user):
    send(console(superuser=True), bitlabs, event="COMPLETED", amount="500")

    user.refresh_from_db()
    assert user.coins == 0 and not LedgerEntry.objects.exists()


def test_a_real_callback_credits_once_and_is_recorded_in_the_integrations_history(bitlabs, user):
    client = console(superuser=True)

    send(client, bitlabs, send_as="real", transaction_id="tx-real")
    again = send(client, bitlabs, send_as="real", transaction_id="tx-real")

    user.refresh_from_db()
    assert user.coins == 100  # 50 at the integration's rate of 2, once
    assert list(OfferDelivery.objects.order_by("id").values_list("verdict", flat=True)) == ["accepted", "duplicate"]
    assert "Already received COMPLETE" in text(client.get(again["Location"]))
    first, second = LogEntry.objects.filter(object_id=str(bitlabs.pk)).order_by("id")
    assert first.user.username == "operator"
    message = first.get_change_message()
    assert f"Sent a real COMPLETE callback: user {user.pk}, transaction tx-real, amount 50" in message
    assert "answered 200" in second.get_change_message()
    assert BITLABS_SECRET not in message


def test_a_wannads_callback_is_sent_as_from_its_allowlist_and_signed_as_wannads_signs(wannads, user):
    send(console(superuser=True), wannads, event="credited", send_as="real", user=str(user.pk), amount="7.50")

    delivery = OfferDelivery.objects.get()
    assert (delivery.verdict, delivery.response_body, delivery.source_ip) == ("accepted", "OK", "203.0.113.0")
    user.refresh_from_db()
    assert user.coins == 8  # 7.50 at the rate of 1, rounded half-up


def test_staff_who_may_not_adjust_balances_cannot_send_a_real_callback(bitlabs, user):
    client = console("postbacks.change_offerwallintegration", "postbacks.view_offerwallintegration")

    refused = send(client, bitlabs, send_as="real")
    test = send(client, bitlabs)

    assert refused.status_code == 200 and "Select a valid choice" in text(refused)
    assert test.status_code == 302
    assert list(OfferDelivery.objects.values_list("verdict", flat=True)) == ["accepted"]  # the test one only
    user.refresh_from_db()
    assert user.coins == 0


def test_without_a_test_flag_staff_who_may_not_adjust_balances_are_offered_nothing_to_send(wannads, user):
    client = console("postbacks.change_offerwallintegration", "postbacks.view_offerwallintegration")

    page = client.get(tool(wannads))
    refused = send(client, wannads, event="credited", send_as="real")

    for response in (page, refused):
        assert "Wannads has no test flag" in text(response) and '<form method="post"' not in response.content.decode()
    assert not OfferDelivery.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"user": "nobody"},
        {"user": "3f2c8d1e-5a4b-4c6d-8e9f-0a1b2c3d4e5f"},
        {"amount": "1e999"},
        {"amount": "-5"},
        {"amount": "NaN"},
        {"event": "BANNED"},
        {"send_as": "both"},
        {"transaction_id": "x" * 201},
    ],
)
def test_bad_input_is_shown_on_the_form_and_nothing_is_sent(bitlabs, user, fields):
    response = send(console(superuser=True), bitlabs, **fields)

    assert response.status_code == 200 and 'class="errorlist' in response.content.decode()
    assert not OfferDelivery.objects.exists() and not LogEntry.objects.exists()


@pytest.mark.parametrize("fields", [{"user": "pixel\x00"}, {"transaction_id": "tx\x00"}])
def test_a_nul_character_is_refused_before_anything_is_sent(bitlabs, user, fields):
    response = send(console(superuser=True), bitlabs, **fields)

    assert response.status_code == 400 and not OfferDelivery.objects.exists()


def test_a_user_of_another_app_cannot_be_named(bitlabs):
    stranger = RewardUserFactory()

    response = send(console(superuser=True), bitlabs, user=str(stranger.pk))

    assert "has no user with this id" in text(response) and not OfferDelivery.objects.exists()


def test_the_result_page_shows_only_this_integrations_deliveries(bitlabs, wannads, user):
    client = console(superuser=True)
    send(client, wannads, event="credited", send_as="real")
    other = OfferDelivery.objects.get()

    for delivery in (str(other.pk), "abc", "9" * 40, "\u00b2"):
        page = client.get(f"{tool(bitlabs)}?delivery={delivery}")
        assert page.status_code == 200 and "Last callback sent" not in text(page)


def test_the_production_application_refuses_a_post_without_its_csrf_token(bitlabs, user):
    session = console(superuser=True).cookies["sessionid"].value

    response = ApiClient().post(
        tool(bitlabs), {"user": "pixel-7-abc", "event": "COMPLETE", "amount": "1", "send_as": "real"},
        headers={"Cookie": f"sessionid={session}"},
    )  # fmt: skip

    assert response.status_code == 403 and not OfferDelivery.objects.exists()


def test_sent_from_a_page_the_production_application_serves_the_callback_goes_through_it_too(bitlabs, user):
    """As under gunicorn: the page runs in one of the application's Django threads, the callback on its loop."""
    session = console(superuser=True).cookies["sessionid"].value
    form = ApiClient().get(tool(bitlabs), headers={"Cookie": f"sessionid={session}"})
    csrf_cookie = re.search(r"csrftoken=(\w+)", form["Set-Cookie"])[1]
    token = re.search(r'name="csrfmiddlewaretoken" value="(\w+)"', form.content.decode())[1]

    sent = ApiClient().post(
        tool(bitlabs),
        {"csrfmiddlewaretoken": token, "user": "pixel-7-abc", "event": "COMPLETE", "amount": "5", "send_as": "real"},
        headers={"Cookie": f"sessionid={session}; csrftoken={csrf_cookie}"},
    )

    assert sent.status_code == 302
    assert OfferDelivery.objects.get().verdict == "accepted"
    user.refresh_from_db()
    assert user.coins == 10


def test_behind_proxies_the_callback_arrives_as_from_the_allowlisted_address(wannads, user, settings):
    settings.TRUSTED_PROXY_HOPS = 2

    send(console(superuser=True), wannads, event="credited", send_as="real")

    assert OfferDelivery.objects.values_list("verdict", "source_ip").get() == ("accepted", "203.0.113.0")


def test_the_integration_page_links_the_tool(bitlabs):
    page = console(superuser=True).get(reverse("admin:postbacks_offerwallintegration_change", args=[bitlabs.pk]))

    assert f'href="{tool(bitlabs)}"' in page.content.decode()


# The adapters sign as the networks document it (recipes computed here, not by the adapters).


def test_bitlabs_examples_carry_the_hmac_sha1_of_the_whole_url():
    url = get_network("bitlabs").example_callback(
        callback_url="https://rewards.example.com/api/callbacks/x", secret="s", user_id="u", transaction_id="t",
        event="PENDING", amount="1", test=False,
    ).url  # fmt: skip

    signed, digest = url.rsplit("&hash=", 1)
    assert digest == hmac.new(b"s", signed.encode(), hashlib.sha1).hexdigest()
    assert dict(parse_qsl(urlsplit(url).query))["offer_state"] == "PENDING"


def test_wannads_examples_carry_the_md5_of_user_transaction_reward_and_secret():
    url = get_network("wannads").example_callback(
        callback_url="https://rewards.example.com/api/callbacks/x", secret="s", user_id="u", transaction_id="t",
        event="rejected", amount="2.5", test=False,
    ).url  # fmt: skip

    params = dict(parse_qsl(urlsplit(url).query))
    assert params["signature"] == hashlib.md5(b"ut2.5s", usedforsecurity=False).hexdigest()
    assert params["status"] == "rejected"
