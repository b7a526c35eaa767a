from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0004_lean_indexes"),
        ("postbacks", "0004_lean_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="offerconversion",
            name="chain_position",
            field=models.PositiveIntegerField(
                default=1,
                editable=False,
                help_text="1 for the offer's first event, 2 for the next, …: unique per offer, so two events of one offer decided from the same history cannot both be recorded (the later one is decided again).",
            ),
            preserve_default=False,
        ),
        # Existing events are numbered in the order they were recorded, per offer (portable SQL).
        migrations.RunSQL(
            """
            UPDATE offer_conversions SET chain_position = (
                SELECT COUNT(*) FROM offer_conversions earlier
                WHERE earlier.integration_id = offer_conversions.integration_id
                  AND earlier.user_id = offer_conversions.user_id
                  AND earlier.original_transaction_id = offer_conversions.original_transaction_id
                  AND earlier.id <= offer_conversions.id
            )
            """,
            migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="offerconversion",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("held", "Held (pending)"),
                    ("credited", "Credited"),
                    ("reversed", "Credit reversed"),
                    ("released", "Hold released, nothing credited"),
                    ("re_credited", "Re-credited after a reversal"),
                    ("nothing_to_reverse", "Reversal with nothing to reverse"),
                    ("no_change", "No change"),
                    ("user_banned", "Not credited: user banned by an operator"),
                ],
                max_length=24,
            ),
        ),
        migrations.AddConstraint(
            model_name="offerconversion",
            constraint=models.UniqueConstraint(
                fields=("integration", "user", "original_transaction_id", "chain_position"),
                name="uniq_offer_conversion_chain_position",
            ),
        ),
        migrations.RemoveIndex(
            model_name="offerconversion",
            name="offer_conversion_chain",
        ),
    ]
