import hashlib
import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from catalog.models import PartnerSecret, StoreApp

SECRET_PREFIX_LENGTH = 10


def hash_secret(plain: str) -> str:
    """Secrets are 256-bit random tokens, so one SHA-256 is enough (no password stretching needed)."""
    return hashlib.sha256(plain.encode()).hexdigest()


def issue_partner_secret(
    *, store_app: StoreApp, label: str = "", created_by: AbstractBaseUser | None = None
) -> tuple[PartnerSecret, str]:
    """Create a secret and return it with its plain text, which is never stored and never shown again."""
    plain = "rh_" + secrets.token_urlsafe(32)
    secret = PartnerSecret.objects.create(
        store_app=store_app,
        label=label,
        prefix=plain[:SECRET_PREFIX_LENGTH],
        secret_hash=hash_secret(plain),
        created_by=created_by,
    )
    return secret, plain


def revoke_partner_secret(*, secret: PartnerSecret, revoked_by: AbstractBaseUser | None = None) -> bool:
    """Revoke once; returns False when it was already revoked."""
    return bool(
        PartnerSecret.objects.filter(pk=secret.pk, revoked_at=None).update(
            revoked_at=timezone.now(), revoked_by=revoked_by
        )
    )
