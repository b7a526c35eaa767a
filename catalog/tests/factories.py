import factory

from catalog.models import RewardGame, StoreApp
from catalog.services import issue_partner_secret


class StoreAppFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StoreApp
        django_get_or_create = ["pid"]

    pid = factory.Sequence(lambda n: f"app{n}")
    name = factory.LazyAttribute(lambda app: app.pid.title())


class RewardGameFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RewardGame
        django_get_or_create = ["gid"]

    gid = factory.Sequence(lambda n: f"game_{n}")
    name = factory.LazyAttribute(lambda game: game.gid.replace("_", " ").title())
    play_package = factory.Sequence(lambda n: f"com.example.game{n}")


def partner_secret_for(store_app: StoreApp) -> str:
    """A fresh plain secret for the app (only the hash is stored, so tests keep the plain text)."""
    return issue_partner_secret(store_app=store_app, label="test")[1]
