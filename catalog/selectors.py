from django.db.models import QuerySet

from catalog.models import PartnerSecret, RewardGame
from catalog.services import hash_secret


def is_valid_partner_secret(plain: str) -> bool:
    return PartnerSecret.objects.filter(secret_hash=hash_secret(plain), revoked_at=None).exists()


def installable_games() -> QuerySet[RewardGame]:
    """Active games that have a Play package: the ones a reward app can send a user to install."""
    return RewardGame.objects.filter(active=True).exclude(play_package="").order_by("name", "gid")
