"""Ready signed curl commands for the demo's BitLabs and Wannads integrations and its giveaway API, signed as each
network or host signs (the README's Offer-network callbacks and Giveaways sections), for PUBLIC_BASE_URL.

Each run uses new transaction ids, so the offer callbacks credit the demo user every time, as a new offer would.
"""

import hashlib
import hmac
import json
import secrets
import shlex
from urllib.parse import urlencode

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse

from catalog.models import StoreApp
from giveaways.demo import seed_giveaway_demo
from giveaways.signing import sign, task_callback_strings
from ledger.models import RewardUser
from postbacks.demo import seed_offerwall_demo
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
        self.stdout.write(
            "\n\n".join(
                [
                    "# BitLabs: an offer completed (100 coins at the demo rate); HMAC-SHA1 of the whole URL\n"
                    + bitlabs_curl(networks["bitlabs"], user_id=str(user.id), transaction_id=f"demo-bl-{run}"),
                    "# Wannads: a credited offer; MD5 of user_id . transaction_id . reward . secret\n"
                    + wannads_curl(networks["wannads"], user_id=str(user.id), transaction_id=f"demo-wn-{run}"),
                    "# Giveaway API: the demo participant signed up on the host's site; HMAC-SHA256 with the API key\n"
                    + giveaway_curl(seed_giveaway_demo()),
                ]
            )
            + "\n"
        )


def bitlabs_curl(network: dict, *, user_id: str, transaction_id: str) -> str:
    query = urlencode({"uid": user_id, "tx": transaction_id, "val": "100", "type": "COMPLETE", "offer_state": "NONE"})
    url = f"{settings.PUBLIC_BASE_URL}{network['callback_path']}?{query}"
    digest = hmac.new(network["secret"].encode(), url.encode(), hashlib.sha1).hexdigest()
    return f"curl {shlex.quote(f'{url}&hash={digest}')}"


def wannads_curl(network: dict, *, user_id: str, transaction_id: str) -> str:
    reward = "100"
    signed = f"{user_id}{transaction_id}{reward}{network['secret']}"
    signature = hashlib.md5(signed.encode(), usedforsecurity=False).hexdigest()  # the network's choice
    params = {"user_id": user_id, "transaction_id": transaction_id, "reward": reward, "status": "credited"}
    query = urlencode({**params, "signature": signature})
    return f"curl {shlex.quote(settings.PUBLIC_BASE_URL + network['callback_path'] + '?' + query)}"


def giveaway_curl(giveaway: dict) -> str:
    event = giveaway["events"][0]
    signed = task_callback_strings(track_id=giveaway["track_id"], event=event, value=None, remark=None)[0]
    body = {"track_id": giveaway["track_id"], "event": event, "sign": sign(giveaway["api_key"], signed)}
    url = settings.PUBLIC_BASE_URL + reverse("giveaway-task-callback")
    return (
        f"curl -X POST {shlex.quote(url)} \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(json.dumps(body))}"
    )
