"""Example callbacks the console sends to an integration: signed by the network's adapter as the network signs, with
the integration's secret, and sent through the callback path the network calls (rewardhub.hot_paths.loopback),
so the reply and the delivery it logs are what a callback from the network would get."""

import secrets
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse

from ledger.models import RewardUser
from postbacks.models import OfferDelivery, OfferwallIntegration
from postbacks.offers.networks import get_network
from rewardhub.hot_paths import loopback
from rewardhub.ip_allowlist import parse_allowlist


@dataclass(frozen=True)
class SentExample:
    source_ip: str
    status: int
    body: str
    delivery: OfferDelivery | None  # None when nothing was logged (an address throttled for failed authentications)


def callback_url(integration: OfferwallIntegration) -> str:
    return settings.PUBLIC_BASE_URL + reverse("offer-callback", args=[integration.slug])


def new_example_transaction_id() -> str:
    return f"console-{secrets.token_hex(6)}"


def send_example_callback(
    *, integration: OfferwallIntegration, user: RewardUser, event: str, amount: Decimal, transaction_id: str, test: bool
) -> SentExample:
    """Raises rewardhub.hot_paths.LoopbackUnavailable or TimeoutError when it could not be sent."""
    callback = get_network(integration.provider).example_callback(
        callback_url=callback_url(integration),
        secret=integration.secret,
        user_id=str(user.pk),
        transaction_id=transaction_id,
        event=event,
        amount=f"{amount:f}",  # as typed: 1.50 stays 1.50, never 1.5E+0
        test=test,
    )
    source_ip = example_source_ip(integration)
    response = loopback(
        callback.url, source_ip=source_ip, method=callback.method, headers=callback.headers, body=callback.body
    )
    # Its query and body (one holds the signature) make it this callback's delivery, found through the (integration,
    # transaction) index.
    delivery = integration.deliveries.filter(
        transaction_id=callback.transaction_id or transaction_id,
        query=urlsplit(callback.url).query,
        body=callback.body.decode(),
    ).first()
    return SentExample(source_ip, response.status, response.body.decode(errors="replace"), delivery)


def example_source_ip(integration: OfferwallIntegration) -> str:
    """The first address the integration's IP allowlist admits, as if the network's server sent it, so the example
    passes the allowlist as the network's callbacks do; this machine's loopback address without an allowlist."""
    allowed = parse_allowlist(integration.ip_allowlist)
    return str(allowed[0].network_address) if allowed else "127.0.0.1"
