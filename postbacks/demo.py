"""Demo offerwall integrations for `seed_demo`: one per network, stable across runs. A network whose unsigned
parameters move coins (Wannads) accepts callbacks from this machine only, as production requires an allowlist."""

import secrets

from django.urls import reverse

from catalog.models import StoreApp
from postbacks.models import OfferwallIntegration
from postbacks.offers.networks import get_network


def seed_offerwall_demo(store_app: StoreApp) -> dict:
    demo = {}
    for provider in ("bitlabs", "wannads"):
        integration, _ = OfferwallIntegration.objects.get_or_create(
            store_app=store_app,
            provider=provider,
            name=f"Demo {provider}",
            defaults={
                "secret": secrets.token_hex(16),
                "ip_allowlist": "127.0.0.1\n::1" if get_network(provider).needs_ip_allowlist else "",
            },
        )
        demo[provider] = {
            "callback_path": reverse("offer-callback", args=[integration.slug]),
            "secret": integration.secret,
        }
    return demo
