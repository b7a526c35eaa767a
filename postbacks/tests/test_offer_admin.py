import hashlib

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse

from catalog.tests.factories import StoreAppFactory
from ledger.models import RewardUser
from ledger.services import set_ban
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferConversion, OfferDelivery, OfferwallIntegration
from postbacks.offers.networks import get_network
from postbacks.tests.offer_factories import USER_ID, WANNADS_SECRET, integration, wannads_path
from rewardhub.management.commands.seed_demo import seed_demo
from rewardhub.testing import Client as ApiClient

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff():
    return get_user_model().objects.create_superuser("support", "support@example.com", "pw")


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def wannads(app):
    return integration(app, "wannads", "wn-admin", WANNADS_SECRET)


@pytest.fixture
def user(app):
    return RewardUserFactory(id=USER_ID, store_app=app)


def reverse_a_credit(tx, reward="100"):
    ApiClient().get(wannads_path("wn-admin", transaction_id=tx, reward=reward))
    ApiClient().get(wannads_path("wn-admin", transaction_id=tx, reward=reward, status="rejected"))
    return OfferConversion.objects.get(transaction_id=tx, state="rejected")


def test_integration_page_shows_the_callback_url_template_with_every_parameter(admin_client, wannads, settings):
    settings.PUBLIC_BASE_URL = "https://rewards.example.com"

    page = admin_client.get(reverse("admin:postbacks_offerwallintegration_change", args=[wannads.pk])).content.decode()

    assert "https://rewards.example.com/api/callbacks/wn-admin?user_id={user_id}&amp;reward={reward}" in page
    for parameter in ("status", "transaction_id", "offer_id", "goal_id", "aff_sub4", "ip", "payout", "signature"):
        assert f"{parameter}={{{parameter}}}" in page
    assert WANNADS_SECRET not in page


def test_bitlabs_integration_page_shows_the_offer_and_ban_templates(admin_client, app):
    bitlabs = integration(app, "bitlabs", "bl-admin", "s")

    page = admin_client.get(reverse("admin:postbacks_offerwallintegration_change", args=[bitlabs.pk])).content.decode()

    assert "/api/callbacks/bl-admin?uid=[%UID%]&amp;tx=[%TX%]&amp;val=[%VAL%]" in page
    assert "offer_state=[%OFFER_STATE%]" in page
    assert "/api/callbacks/bl-admin?uid=[%UID%]&amp;ban_reason=[%BAN_REASON%]&amp;ban_state=[%BAN_STATE%]" in page


def test_adding_an_integration_stores_the_secret_encrypted_with_an_unguessable_slug(admin_client, app):
    response = admin_client.post(
        reverse("admin:postbacks_offerwallintegration_add"),
        {
            "name": "BitLabs Android",
            "provider": "bitlabs",
            "store_app": app.pk,
            "secret": "s3cr3t-value",
            "ip_allowlist": "203.0.113.0/24",
            "coin_rate": "2.5",
        },
    )

    assert response.status_code == 302
    created = OfferwallIntegration.objects.get()
    assert created.secret == "s3cr3t-value"
    assert len(created.slug) >= 32
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM offerwall_integrations")
        assert "s3cr3t-value" not in cursor.fetchone()[0]


def test_a_new_integration_starts_with_the_networks_published_addresses(admin_client, app, monkeypatch):
    monkeypatch.setattr(get_network("bitlabs"), "server_ips", ("198.51.100.7", "2001:db8::7"), raising=False)
    form = {"name": "x", "provider": "bitlabs", "store_app": app.pk, "secret": "s", "coin_rate": "1"}

    admin_client.post(reverse("admin:postbacks_offerwallintegration_add"), {**form, "ip_allowlist": ""})
    added = OfferwallIntegration.objects.get()
    admin_client.post(
        reverse("admin:postbacks_offerwallintegration_change", args=[added.pk]), {**form, "ip_allowlist": ""}
    )

    assert OfferwallIntegration.objects.get().ip_allowlist == ""  # cleared by the operator afterwards: stays so
    assert added.ip_allowlist == "198.51.100.7\n2001:db8::7"


def test_editing_an_integration_with_a_blank_secret_keeps_it(admin_client, wannads, app):
    admin_client.post(
        reverse("admin:postbacks_offerwallintegration_change", args=[wannads.pk]),
        {"name": "Renamed", "store_app": app.pk, "secret": "", "ip_allowlist": "203.0.113.7", "coin_rate": "1"},
    )

    wannads.refresh_from_db()
    assert (wannads.name, wannads.secret) == ("Renamed", WANNADS_SECRET)


def test_an_invalid_allowlist_is_refused_in_the_admin(admin_client, app):
    response = admin_client.post(
        reverse("admin:postbacks_offerwallintegration_add"),
        {
            "name": "x",
            "provider": "wannads",
            "store_app": app.pk,
            "secret": "s",
            "ip_allowlist": "not-an-ip",
            "coin_rate": "1",
        },
    )

    assert "&#x27;not-an-ip&#x27; is not an IP address or CIDR range." in response.content.decode()
    assert not OfferwallIntegration.objects.exists()


def test_delivery_log_can_be_searched_by_transaction_id(admin_client, wannads, user):
    ApiClient().get(wannads_path("wn-admin", transaction_id="wn-findme"))
    ApiClient().get(wannads_path("wn-admin", transaction_id="wn-other"))

    page = admin_client.get(reverse("admin:postbacks_offerdelivery_changelist"), {"q": "wn-findme"}).content.decode()

    assert "wn-findme" in page
    assert "wn-other" not in page


def test_delivery_log_can_be_filtered_by_verdict(admin_client, wannads, user):
    ApiClient().get(wannads_path("wn-admin", transaction_id="wn-good"))
    ApiClient().get(wannads_path("wn-admin", transaction_id="wn-bad").replace("signature=", "signature=0"))

    page = admin_client.get(reverse("admin:postbacks_offerdelivery_changelist"), {"verdict": "bad_signature"})

    assert page.context["cl"].result_count == 1


def test_review_queue_lists_reversals_but_not_credits(admin_client, wannads, user):
    reversal = reverse_a_credit("wn-1")

    changelist = admin_client.get(reverse("admin:postbacks_offerreversal_changelist")).context["cl"]

    assert list(changelist.result_list) == [reversal]


def test_review_queue_filters_users_left_with_a_negative_balance(admin_client, wannads, user):
    reverse_a_credit("wn-1")
    RewardUser.objects.filter(pk=user.pk).update(coins=-30)
    other = RewardUserFactory(store_app=user.store_app)
    ApiClient().get(wannads_path("wn-admin", user_id=other.id, transaction_id="wn-2", status="rejected"))

    changelist = admin_client.get(
        reverse("admin:postbacks_offerreversal_changelist"), {"user_balance": "negative"}
    ).context["cl"]

    assert [c.user_id for c in changelist.result_list] == [user.id]


def test_review_queue_links_to_the_operator_ban_page(admin_client, wannads, user):
    reverse_a_credit("wn-1")

    page = admin_client.get(reverse("admin:postbacks_offerreversal_changelist")).content.decode()

    assert reverse("admin:ledger_rewarduser_ban", args=[user.id]) in page


def test_marking_reversals_reviewed_records_the_note_and_the_staff_user(admin_client, staff, wannads, user):
    reversal = reverse_a_credit("wn-1")
    url = reverse("admin:postbacks_offerreversal_changelist")

    confirm = admin_client.post(url, {"action": "mark_reviewed_action", "_selected_action": [reversal.pk]})
    done = admin_client.post(
        url,
        {"action": "mark_reviewed_action", "_selected_action": [reversal.pk], "apply": "1", "note": "Chargeback ok"},
    )

    assert b"Mark reversals reviewed" in confirm.content
    assert done.status_code == 302
    reversal.refresh_from_db()
    assert (reversal.review_note, reversal.reviewed_by, reversal.reviewed_at is not None) == (
        "Chargeback ok",
        staff,
        True,
    )


def test_reviewed_reversals_leave_the_not_yet_reviewed_list(admin_client, staff, wannads, user):
    reviewed = reverse_a_credit("wn-1")
    pending = reverse_a_credit("wn-2")
    admin_client.post(
        reverse("admin:postbacks_offerreversal_changelist"),
        {"action": "mark_reviewed_action", "_selected_action": [reviewed.pk], "apply": "1", "note": "done"},
    )

    changelist = admin_client.get(reverse("admin:postbacks_offerreversal_changelist"), {"reviewed": "no"}).context["cl"]

    assert list(changelist.result_list) == [pending]


def test_user_admin_filters_negative_balances(admin_client, user):
    RewardUser.objects.filter(pk=user.pk).update(coins=-5)
    RewardUserFactory(store_app=user.store_app)

    changelist = admin_client.get(reverse("admin:ledger_rewarduser_changelist"), {"balance": "negative"}).context["cl"]

    assert [u.id for u in changelist.result_list] == [user.id]


def test_operator_ban_shows_in_the_review_queue(admin_client, staff, wannads, user):
    reverse_a_credit("wn-1")
    set_ban(user=user, banned=True, reason="Chargebacks", staff=staff)

    page = admin_client.get(reverse("admin:postbacks_offerreversal_changelist")).content.decode()

    assert "banned (<a" in page
    assert ">Unban</a>" in page


def test_seed_demo_adds_working_offerwall_integrations():
    demo = seed_demo()
    user_id, secret = demo["user"]["id"], demo["wannads"]["secret"]
    signature = hashlib.md5(f"{user_id}demo-15{secret}".encode(), usedforsecurity=False).hexdigest()
    query = f"user_id={user_id}&transaction_id=demo-1&reward=5&status=credited&signature={signature}"

    response = ApiClient().get(f"{demo['wannads']['callback_path']}?{query}")

    assert response.content == b"OK"
    assert RewardUser.objects.get(pk=user_id).coins == 5
    assert demo["bitlabs"]["callback_path"].startswith("/api/callbacks/")


def test_seed_demo_reuses_its_integrations():
    first = seed_demo()

    second = seed_demo()

    assert (second["bitlabs"], second["wannads"]) == (first["bitlabs"], first["wannads"])
    assert OfferwallIntegration.objects.count() == 2


def test_every_offer_admin_page_renders(admin_client, wannads, user):
    reversal = reverse_a_credit("wn-1")
    delivery = reversal.delivery
    pages = [
        reverse("admin:postbacks_offerwallintegration_add"),
        reverse("admin:postbacks_offerwallintegration_changelist"),
        reverse("admin:postbacks_offerdelivery_changelist"),
        reverse("admin:postbacks_offerdelivery_change", args=[delivery.pk]),
        reverse("admin:postbacks_offerconversion_changelist"),
        reverse("admin:postbacks_offerconversion_change", args=[reversal.pk]),
        reverse("admin:postbacks_offerreversal_change", args=[reversal.pk]),
        reverse("admin:ledger_rewarduser_change", args=[user.pk]),
    ]

    assert [admin_client.get(page).status_code for page in pages] == [200] * len(pages)


def test_delivery_page_lists_the_ledger_entries_it_produced(admin_client, wannads, user):
    reversal = reverse_a_credit("wn-1", reward="70")

    page = admin_client.get(reverse("admin:postbacks_offerdelivery_change", args=[reversal.delivery.pk]))

    assert "-70 Offer reversed → 0" in page.content.decode()


def test_refused_delivery_page_lists_no_ledger_entries(admin_client, wannads, user):
    ApiClient().get(wannads_path("wn-admin", transaction_id="wn-1"))  # credited: its entry belongs to that delivery
    ApiClient().get(wannads_path("wn-admin", transaction_id="wn-2").replace("signature=", "signature=0"))
    credited, refused = (OfferDelivery.objects.get(verdict=verdict) for verdict in ("accepted", "bad_signature"))

    pages = [
        admin_client.get(reverse("admin:postbacks_offerdelivery_change", args=[delivery.pk])).content.decode()
        for delivery in (credited, refused)
    ]

    assert ["Offer completed" in page for page in pages] == [True, False]
    assert list(refused.ledger_entries()) == []


@pytest.mark.parametrize("model", ["offerconversion", "offerreversal"])
def test_conversion_lists_take_no_filters_on_the_request_they_carry(admin_client, model):
    """The raw query (a signature in it) is read on the delivery's page, by who may view deliveries: not probed
    through a conversion list's URL filters."""
    changelist = reverse(f"admin:postbacks_{model}_changelist")

    assert admin_client.get(changelist, {"query__startswith": "uid="}).status_code == 400
    assert admin_client.get(changelist, {"response_body__contains": "ok"}).status_code == 400
    assert admin_client.get(changelist, {"outcome__exact": "reversed"}).status_code == 200
