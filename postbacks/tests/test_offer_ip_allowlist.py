import re

import pytest
from django.core.exceptions import ValidationError

from catalog.tests.factories import StoreAppFactory
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferDelivery
from postbacks.tests.offer_factories import USER_ID, WANNADS_SECRET, integration, wannads_path
from rewardhub.ip_allowlist import client_ip, ip_allowed, validate_allowlist
from rewardhub.testing import Client


@pytest.mark.parametrize(
    ("allowlist", "ip", "allowed"),
    [
        ("", "203.0.113.9", True),
        ("203.0.113.9", "203.0.113.9", True),
        ("203.0.113.9", "203.0.113.10", False),
        ("198.51.100.0/24\n203.0.113.0/28", "203.0.113.15", True),
        ("198.51.100.0/24, 203.0.113.0/28", "203.0.113.16", False),
        ("2001:db8::/32", "2001:db8::1", True),
        ("203.0.113.9", None, False),
    ],
)
def test_allowlist_accepts_addresses_and_cidr_ranges(allowlist, ip, allowed):
    assert ip_allowed(allowlist, ip) is allowed


def test_allowlist_validation_names_the_bad_entry():
    with pytest.raises(ValidationError, match=re.escape("'10.0.0.300' is not an IP address or CIDR range.")):
        validate_allowlist("10.0.0.1\n10.0.0.300")


@pytest.mark.parametrize(
    ("remote", "forwarded", "hops", "expected"),
    [
        ("10.0.0.2", "203.0.113.9", 0, "10.0.0.2"),
        ("10.0.0.2", "203.0.113.9", 1, "203.0.113.9"),
        ("10.0.0.2", "6.6.6.6, 203.0.113.9", 1, "203.0.113.9"),  # the client wrote 6.6.6.6 itself
        ("10.0.0.2", "6.6.6.6, 203.0.113.9, 10.0.0.3", 2, "203.0.113.9"),
        ("10.0.0.2", "", 1, None),
        ("10.0.0.2", "garbage", 1, None),
    ],
)
def test_client_ip_trusts_only_the_configured_proxy_hops(remote, forwarded, hops, expected):
    assert client_ip(remote, forwarded, hops) == expected


@pytest.fixture
def wannads(transactional_db):
    app = StoreAppFactory(pid="cashgiraffe")
    RewardUserFactory(id=USER_ID, store_app=app)
    return integration(app, "wannads", "wn-ip", WANNADS_SECRET, ip_allowlist="203.0.113.0/28")


def test_callback_from_outside_the_allowlist_is_refused_and_logged(wannads):
    response = Client(REMOTE_ADDR="198.51.100.1").get(wannads_path("wn-ip"))

    assert response.status_code == 403
    assert response.content == b"ERROR: Callbacks from 198.51.100.1 are not allowed."
    delivery = OfferDelivery.objects.get()
    assert (delivery.verdict, delivery.source_ip) == ("ip_refused", "198.51.100.1")


def test_callback_from_inside_the_allowlist_is_accepted(wannads):
    assert Client(REMOTE_ADDR="203.0.113.5").get(wannads_path("wn-ip")).content == b"OK"


def test_forwarded_address_is_ignored_without_trusted_proxies(wannads):
    response = Client(REMOTE_ADDR="198.51.100.1").get(wannads_path("wn-ip"), headers={"X-Forwarded-For": "203.0.113.5"})

    assert response.status_code == 403


def test_forwarded_address_is_used_behind_a_trusted_proxy(wannads, settings):
    settings.TRUSTED_PROXY_HOPS = 1

    response = Client(REMOTE_ADDR="10.0.0.2").get(wannads_path("wn-ip"), headers={"X-Forwarded-For": "203.0.113.5"})

    assert response.content == b"OK"
    assert OfferDelivery.objects.get().source_ip == "203.0.113.5"
