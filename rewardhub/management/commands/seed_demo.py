import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from catalog.models import PartnerSecret, RewardGame, StoreApp
from catalog.services import issue_partner_secret, revoke_partner_secret
from giveaways.demo import seed_giveaway_demo
from ledger.demo import seed_app_demo
from ledger.models import RewardUser
from postbacks.demo import seed_offerwall_demo
from postbacks.models import UserPostback
from postbacks.partner.services import MILESTONE_EVERY

DEMO_PID = "cashgiraffe"
DEMO_GID = "my_game"
DEMO_DEVICE_ID = "demo-device-0001"
DEMO_ADMIN = "admin"
DEMO_ADMIN_PASSWORD = "rewardhub-demo"  # noqa: S105 - a local demo login, printed on purpose
DEMO_SECRET_LABEL = "seed_demo"  # noqa: S105 - the label of the demo's partner secrets, not a secret


class Command(BaseCommand):
    help = "Create (or reuse) demo data for integrators and issue a fresh partner secret."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object and nothing else.")

    @transaction.atomic
    def handle(self, *args, **options):
        demo = seed_demo()
        if options["json"]:
            self.stdout.write(json.dumps(demo))
        else:
            self.stdout.write(describe(demo))


def seed_demo() -> dict:
    app, _ = StoreApp.objects.get_or_create(pid=DEMO_PID, defaults={"name": "Cash Giraffe"})
    game, _ = RewardGame.objects.get_or_create(
        gid=DEMO_GID, defaults={"name": "My Game", "play_package": "com.example.mygame"}
    )
    user, _ = RewardUser.objects.get_or_create(store_app=app, device_id=DEMO_DEVICE_ID)
    return {
        "partner": {
            "pid": DEMO_PID,
            "gid": DEMO_GID,
            "api_secret": fresh_demo_secret(app),
            "next_milestone_level": next_milestone_level(user, game),
        },
        "user": {"id": str(user.id), "device_id": user.device_id},
        "admin": {"username": DEMO_ADMIN, "password": demo_admin_password()},
        **seed_app_demo(user),
        **seed_offerwall_demo(app),
        "giveaway": seed_giveaway_demo(),
    }


def fresh_demo_secret(app: StoreApp) -> str:
    """The printed secret is the only demo one that works: the previous runs' are revoked, not piled up."""
    for old in PartnerSecret.objects.filter(store_app=app, label=DEMO_SECRET_LABEL, revoked_at=None):
        revoke_partner_secret(secret=old)
    return issue_partner_secret(store_app=app, label=DEMO_SECRET_LABEL)[1]


def next_milestone_level(user: RewardUser, game: RewardGame) -> int:
    """The first milestone the demo user has not reached, so the printed postback credits coins on every run."""
    reached = UserPostback.objects.filter(user=user, game=game).order_by("-level_number").first()
    top = reached.level_number if reached else 0
    return (top // MILESTONE_EVERY + 1) * MILESTONE_EVERY


def demo_admin_password() -> str:
    """The demo login works with the printed password; it is set only when it does not already (a new
    password hash would end every open admin session). Never run this in production."""
    admin, _ = get_user_model().objects.get_or_create(
        username=DEMO_ADMIN, defaults={"email": "admin@example.com", "is_staff": True, "is_superuser": True}
    )
    if not admin.check_password(DEMO_ADMIN_PASSWORD):
        admin.set_password(DEMO_ADMIN_PASSWORD)
        admin.save(update_fields=["password"])
    return DEMO_ADMIN_PASSWORD


def describe(demo: dict) -> str:
    base = settings.PUBLIC_BASE_URL
    body = json.dumps(
        {"pid": demo["partner"]["pid"], "uid": demo["user"]["id"], "gid": demo["partner"]["gid"],
         "level_number": demo["partner"]["next_milestone_level"]}
    )
    return (
        f"Partner pid:     {demo['partner']['pid']}\n"
        f"Game gid:        {demo['partner']['gid']}\n"
        f"API secret:      {demo['partner']['api_secret']}  (new each run; only its hash is stored)\n"
        f"Reward user id:  {demo['user']['id']}\n"
        f"App token:       {demo['app']['token']}  (new each run; GET {base}/api/app/me with it)\n"
        f"Admin:           {base}/admin/  user {demo['admin']['username']}, "
        f"password {demo['admin']['password']}\n"
        f"API docs:        {base}/api/docs/\n"
        f"BitLabs:         {base}{demo['bitlabs']['callback_path']}  secret {demo['bitlabs']['secret']}\n"
        f"Wannads:         {base}{demo['wannads']['callback_path']}  secret {demo['wannads']['secret']}\n"
        f"Giveaway:        {base}/g/{demo['giveaway']['slug']}  API key {demo['giveaway']['api_key']}\n"
        f"                 participant track_id {demo['giveaway']['track_id']}, "
        f"events {', '.join(demo['giveaway']['events'])}\n\n"
        "Try a milestone postback (the next one the demo user has not reached; it credits coins):\n"
        f"curl -X POST {base}/api/postback \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -H 'Authorization: Bearer {demo['partner']['api_secret']}' \\\n"
        f"  -d '{body}'\n\n"
        "Signed BitLabs, Wannads and giveaway API calls: .venv/bin/python manage.py signed_examples\n"
    )
