"""Ready signed curl commands for the demo's BitLabs and Wannads integrations and its giveaway API, signed as each
network or host signs (the README's Offer-network callbacks and Giveaways sections), for PUBLIC_BASE_URL.

Each run uses new transaction ids, so the offer callbacks credit the demo user every time, as a new offer would.
"""

import json
import secrets
import shlex

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse

from catalog.models import StoreApp
from giveaways.demo import seed_giveaway_demo
from giveaways.signing import sign, task_callback_strings
from ledger.models import RewardUser
from postbacks.demo import seed_offerwall_demo
from postbacks.offers.networks import get_network
from postbacks.offers.networks.base import OfferNetwork
from rewardhub.management.commands.seed_demo import DEMO_DEVICE_ID, DEMO_PID


class Command(BaseCommand):
    help = "Print signed curl commands for the demo's BitLabs, Wannads and giveaway API (run seed_demo first)."

    @transaction.atomic
    def handle(self, *args, **options):
        user = RewardUser.objects.filter(store_app__pid=DEMO_PID, device_id=DEMO_DEVICE_ID).first()
        if user is None:
            raise CommandError("No demo data yet: run `make run` or `python manage.py seed_demo` first.")
        networks = seed_offerwall_demo(StoreApp.objects.get(pid=DEMO_PID))  # finds the demo integrations
        run = secrets.token_hex(4)
        examples = [
            offer_curl(get_network(provider), demo, user_id=str(user.id), transaction_id=f"demo-{provider}-{run}")
            for provider, demo in networks.items()
        ]
        giveaway = (
            "# Giveaway API: the demo participant signed up on the host's site; HMAC-SHA256 with the API key\n"
            + giveaway_curl(seed_giveaway_demo())
        )
        self.stdout.write("\n\n".join([*examples, giveaway]) + "\n")


def offer_curl(network: OfferNetwork, integration: dict, *, user_id: str, transaction_id: str) -> str:
    """The network's usual credit of 100 (coins, at the demo's rate), signed by its adapter as the network signs."""
    event = next(iter(network.example_events))
    callback = network.example_callback(
        callback_url=settings.PUBLIC_BASE_URL + integration["callback_path"],
        secret=integration["secret"],
        user_id=user_id,
        transaction_id=transaction_id,
        event=event,
        amount="100",
        test=False,
    )
    comment = f"# {network.label}: {network.example_events[event]}; signed over {network.signature_covers}"
    return f"{comment}\n{curl(callback.url, callback.method, callback.headers, callback.body)}"


def curl(url: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes = b"") -> str:
    parts = [f"curl {'' if method == 'GET' else f'-X {method} '}{shlex.quote(url)}"]
    parts += [f"-H {shlex.quote(f'{name}: {value}')}" for name, value in (headers or {}).items()]
    parts += [f"-d {shlex.quote(body.decode())}"] if body else []
    return " \\\n  ".join(parts)


def giveaway_curl(giveaway: dict) -> str:
    event = giveaway["events"][0]
    signed = task_callback_strings(track_id=giveaway["track_id"], event=event, value=None, remark=None)[0]
    body = {"track_id": giveaway["track_id"], "event": event, "sign": sign(giveaway["api_key"], signed)}
    url = settings.PUBLIC_BASE_URL + reverse("giveaway-task-callback")
    return curl(url, "POST", {"Content-Type": "application/json"}, json.dumps(body).encode())
