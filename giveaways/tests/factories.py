import hashlib
import secrets
from datetime import timedelta

import factory
from django.utils import timezone

from giveaways import services
from giveaways.models import Giveaway, GiveawayProject, GiveawayReward, GiveawayTask, Participant, TaskProgress


class GiveawayProjectFactory(factory.django.DjangoModelFactory):
    """Pass `api_key=` to fix the key (signature vectors); otherwise the service issues a random one."""

    class Meta:
        model = GiveawayProject

    name = factory.Sequence(lambda n: f"Host {n}")

    @classmethod
    def _create(cls, model_class, *args, api_key=None, **kwargs):
        project = services.create_project(**kwargs)
        if api_key is not None:
            project.api_key, project.api_key_hash = api_key, hashlib.sha256(api_key.encode()).hexdigest()
            project.save(update_fields=["api_key", "api_key_hash"])
        return project


class GiveawayFactory(factory.django.DjangoModelFactory):
    """A running giveaway (started a day ago, ends in a day); the service generates its seed."""

    class Meta:
        model = Giveaway

    project = factory.SubFactory(GiveawayProjectFactory)
    slug = factory.Sequence(lambda n: f"giveaway-{n}")
    title = factory.Sequence(lambda n: f"Giveaway {n}")
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    status = Giveaway.Status.LIVE

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.create_giveaway(**kwargs)


class GiveawayTaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GiveawayTask

    giveaway = factory.SubFactory(GiveawayFactory)
    kind = GiveawayTask.Kind.SIGN_UP
    name = "Sign up on our website"
    event = factory.Sequence(lambda n: f"event_{n}")
    website_url = "https://host.example.com/signup?ref=gw"


class GiveawayRewardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GiveawayReward

    giveaway = factory.SubFactory(GiveawayFactory)
    name = "$50 coupon"
    winners = 1
    image = factory.django.ImageField(filename="coupon.png", width=8, height=8)
    tag = factory.Sequence(lambda n: f"reward{n}")
    reward_url = "https://host.example.com/claim?lang=en"


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participant

    giveaway = factory.SubFactory(GiveawayFactory)
    email = factory.Sequence(lambda n: f"player{n}@example.com")
    track_id = factory.LazyFunction(lambda: secrets.token_urlsafe(16))


def complete_all_tasks(participant: Participant) -> None:
    for task in participant.giveaway.tasks.all():
        TaskProgress.objects.update_or_create(
            participant=participant, task=task, defaults={"amount": task.required, "completed_at": timezone.now()}
        )
