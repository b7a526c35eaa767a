import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

CHAIN = "uniq_offer_conversion_chain_position"


def chain_constraint(*columns):
    """Swap the chain's unique constraint for one over `columns`, built beforehand without blocking writes: the
    constraint then takes over the finished index in one short catalog change, and the chain stays unique
    throughout (dropping it first and adding it back would leave a window without it and lock the table while the
    index builds)."""
    return [
        f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {CHAIN}_new ON offer_conversions ({', '.join(columns)})",
        f"ALTER TABLE offer_conversions DROP CONSTRAINT {CHAIN}, ADD CONSTRAINT {CHAIN} UNIQUE USING INDEX {CHAIN}_new",
    ]


class Migration(migrations.Migration):
    # Each statement commits on its own: CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ('ledger', '0005_no_separate_store_app_index'),
        ('postbacks', '0007_offer_delivery_entries_from_keys'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The chain's unique index leads with the user, so it also serves the user's conversions and the separate
        # user index goes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name='offerconversion', name=CHAIN),
                migrations.AlterField(
                    model_name='offerconversion',
                    name='user',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='offer_conversions', to='ledger.rewarduser'),
                ),
                migrations.AddConstraint(
                    model_name='offerconversion',
                    constraint=models.UniqueConstraint(fields=('user', 'integration', 'original_transaction_id', 'chain_position'), name=CHAIN),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    chain_constraint("user_id", "integration_id", "original_transaction_id", "chain_position"),
                    chain_constraint("integration_id", "user_id", "original_transaction_id", "chain_position"),
                ),
                migrations.RunSQL(
                    "DROP INDEX CONCURRENTLY IF EXISTS offer_conversions_user_id_5fba311b",
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS offer_conversions_user_id_5fba311b ON offer_conversions (user_id)",
                ),
            ],
        ),
    ]
