from django.db.models import QuerySet

from catalog.models import PartnerSecret, RewardGame
from catalog.services import hash_secret


def partner_pid_of_secret(plain: str) -> str | None:
    """The pid of the store app an active secret belongs to, or None for an unknown or revoked secret."""
    secrets = PartnerSecret.objects.filter(secret_hash=hash_secret(plain), revoked_at=None)
    return secrets.values_list("store_app__pid", flat=True).first()


def installable_games() -> QuerySet[RewardGame]:
    """Active games that have a Play package: the ones a reward app can send a user to install."""
    return RewardGame.objects.filter(active=True).exclude(play_package="").order_by("name", "gid")
