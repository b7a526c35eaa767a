"""The running demo giveaway of `seed_demo --json` (its "giveaway" section)."""

import io
from datetime import timedelta

from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from giveaways import services
from giveaways.models import Giveaway, GiveawayProject, GiveawayReward, GiveawayTask, Participant

DEMO_SLUG = "demo-giveaway"
DEMO_EMAIL = "player@example.com"
DEMO_CUSTOM_EVENT = "like_articles"
DEMO_CUSTOM_REQUIRED = 3


def _demo_image() -> ContentFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (47, 128, 237)).save(buffer, format="PNG")
    return ContentFile(buffer.getvalue(), name="demo-coupon.png")


def seed_giveaway_demo() -> dict:
    project = GiveawayProject.objects.filter(name="Demo host").first() or services.create_project(
        name="Demo host", website_links="https://host.example.com"
    )
    now = timezone.now()
    giveaway = Giveaway.objects.filter(slug=DEMO_SLUG).first() or services.create_giveaway(
        project=project,
        slug=DEMO_SLUG,
        title="Demo giveaway: a $50 coupon",
        description="Sign up, make a deposit and like 3 articles on the host's website.",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30),
        status=Giveaway.Status.LIVE,
    )
    if not hasattr(giveaway, "draw") and giveaway.ends_at < now + timedelta(days=1):
        Giveaway.objects.filter(pk=giveaway.pk).update(ends_at=now + timedelta(days=30))  # keep it running
    tasks = [
        (GiveawayTask.Kind.SIGN_UP, "Sign up on the host's website", "sign_up", None),
        (GiveawayTask.Kind.DEPOSIT, "Make a first deposit", "deposit", None),
        (GiveawayTask.Kind.CUSTOM, "Like 3 articles", DEMO_CUSTOM_EVENT, DEMO_CUSTOM_REQUIRED),
    ]
    for position, (kind, name, event, amount) in enumerate(tasks):
        GiveawayTask.objects.get_or_create(
            giveaway=giveaway,
            event=event,
            defaults={
                "kind": kind,
                "name": name,
                "website_url": f"https://host.example.com/{event.replace('_', '-')}?ref=giveaway",
                "required_amount": amount,
                "position": position,
            },
        )
    if not giveaway.rewards.exists():
        GiveawayReward.objects.create(
            giveaway=giveaway,
            name="$50 coupon",
            winners=1,
            image=_demo_image(),
            tag="coupon50",
            reward_url="https://host.example.com/claim",
        )
    participant = Participant.objects.filter(giveaway=giveaway, email=DEMO_EMAIL).first()
    if participant is None:
        participant, _ = services.join_giveaway(giveaway=giveaway, email=DEMO_EMAIL)
    return {
        "slug": giveaway.slug,
        "api_key": project.api_key,
        "track_id": participant.track_id,
        "events": [event for _, _, event, _ in tasks],
        "custom_event": DEMO_CUSTOM_EVENT,
        "custom_required": DEMO_CUSTOM_REQUIRED,
    }
