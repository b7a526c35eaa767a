"""Lootably, Kiwiwall, Revlum and CPX Research sign only part of what moves coins: their integration pages say so,
start with the addresses the network publishes, and production refuses them without an IP allowlist."""

import html
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django.urls import reverse

from catalog.tests.factories import StoreAppFactory
from postbacks.models import OfferwallIntegration
from postbacks.offers.networks import get_network

pytestmark = pytest.mark.django_db(transaction=True)
WEAKLY_SIGNED = ("lootably", "kiwiwall", "revlum", "cpx")
PUBLISHED = {
    "lootably": "",  # single-source addresses: not pre-filled
    "kiwiwall": "34.193.235.172",
    "revlum": "",
    "cpx": "188.40.3.73\n2a01:4f8:d0a:30ff::2\n157.90.97.92",
}


@pytest.fixture
def console():
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("support", "support@example.com", "pw"))
    return client


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


def add(console, app, provider, allowlist=""):
    form = {"name": provider, "provider": provider, "store_app": app.pk, "secret": "s", "coin_rate": "1"}
    return console.post(reverse("admin:postbacks_offerwallintegration_add"), {**form, "ip_allowlist": allowlist})


def text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


@pytest.mark.parametrize("provider", WEAKLY_SIGNED)
def test_the_page_says_what_the_signature_leaves_out_and_gives_the_url_template(console, app, provider, settings):
    settings.DEBUG = True  # a local trial: no allowlist needed to add one
    add(console, app, provider)
    integration = OfferwallIntegration.objects.get()
    network = get_network(provider)

    page = text(console.get(reverse("admin:postbacks_offerwallintegration_change", args=[integration.pk])))

    assert integration.ip_allowlist == PUBLISHED[provider]
    assert f"The signature covers {network.signature_covers}." in page
    assert f"{network.label} does not sign {', '.join(network.unsigned_coin_parameters)}" in page
    templates = network.callback_templates(f"{settings.PUBLIC_BASE_URL}/api/callbacks/{integration.slug}")
    assert all(template in page for template in templates.values())


@pytest.mark.parametrize("provider", ["lootably", "revlum"])
def test_production_refuses_a_network_without_published_addresses_until_an_allowlist_is_entered(console, app, provider):
    refused = add(console, app, provider)

    assert "An IP allowlist is required in production." in text(refused)
    assert not OfferwallIntegration.objects.exists()
    add(console, app, provider, allowlist="198.51.100.7")
    assert OfferwallIntegration.objects.get().ip_allowlist == "198.51.100.7"


@pytest.mark.parametrize("provider", WEAKLY_SIGNED)
def test_the_deploy_check_flags_an_integration_without_an_allowlist(app, provider):
    OfferwallIntegration.objects.create(store_app=app, provider=provider, name="open", slug="open", secret="s")

    with pytest.raises(SystemCheckError, match=r"postbacks\.E001"):
        call_command("check", "--deploy", "--fail-level", "ERROR")
