"""Re-encrypt every value stored with EncryptedTextField under the first key of FIELD_ENCRYPTION_KEYS."""

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.db.models.functions import Cast

from rewardhub.crypto import EncryptedTextField, reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column (giveaway API keys and seeds, offer-network secrets, …) under the "
        "first key of FIELD_ENCRYPTION_KEYS, in one transaction. Run it after prepending a new key; once it "
        "has finished, the old keys can be removed."
    )

    def handle(self, *args, **options):
        if not settings.FIELD_ENCRYPTION_KEYS:
            raise CommandError("FIELD_ENCRYPTION_KEYS is not set: put the new key first, then the old ones.")
        counts = []
        with transaction.atomic():
            for model, field in encrypted_fields():
                counts.append((f"{model._meta.label}.{field.name}", rotate_column(model, field)))
        for column, count in counts:
            self.stdout.write(f"{column}: {count} re-encrypted")
        total = sum(count for _, count in counts)
        self.stdout.write(self.style.SUCCESS(f"{total} values now encrypted under the first key."))


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedTextField]]:
    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]


def rotate_column(model: type[models.Model], field: EncryptedTextField) -> int:
    """Rows are locked while they are rewritten, so a concurrent change to one is not overwritten."""
    # Cast to plain text: the stored Fernet token as it is, without the field's decryption.
    rows = (
        model._base_manager.select_for_update()
        .exclude(**{f"{field.name}__isnull": True})
        .annotate(_token=Cast(field.name, models.TextField()))
        .exclude(_token="")
        .values_list("pk", "_token")
        .order_by("pk")
    )
    rotated = 0
    for pk, token in rows:
        try:
            new_token = reencrypt(token)
        except InvalidToken:
            raise CommandError(
                f"{model._meta.label}.{field.name} of row {pk} cannot be decrypted with any key in "
                "FIELD_ENCRYPTION_KEYS; nothing was changed."
            ) from None
        # A plain-text Value: the field would otherwise encrypt the token a second time.
        model._base_manager.filter(pk=pk).update(**{field.name: models.Value(new_token, models.TextField())})
        rotated += 1
    return rotated
