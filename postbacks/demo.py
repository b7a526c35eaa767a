"""Demo offerwall integrations for `seed_demo`: one per network, no IP allowlist, stable across runs."""

import secrets

from django.urls import reverse

from catalog.models import StoreApp
from postbacks.models import OfferwallIntegration


def seed_offerwall_demo(store_app: StoreApp) -> dict:
    demo = {}
    for provider in ("bitlabs", "wannads"):
        integration, _ = OfferwallIntegration.objects.get_or_create(
            store_app=store_app,
            provider=provider,
            name=f"Demo {provider}",
            defaults={"secret": secrets.token_hex(16)},
        )
        demo[provider] = {
            "callback_path": reverse("offer-callback", args=[integration.slug]),
            "secret": integration.secret,
        }
    return demo
