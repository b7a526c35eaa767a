"""Support lists offer reversals newest first: a partial index holds only them (built CONCURRENTLY)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ledger", "0007_console_user_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="ledgerentry",
            index=models.Index(
                condition=models.Q(("kind", "offer_reversal")), fields=["id"], name="ledger_entry_offer_reversal"
            ),
        ),
    ]
