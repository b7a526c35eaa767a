from catalog.models import PartnerSecret
from catalog.services import hash_secret


def is_valid_partner_secret(plain: str) -> bool:
    return PartnerSecret.objects.filter(secret_hash=hash_secret(plain), revoked_at=None).exists()
