import django.db.models.deletion
from django.db import migrations, models

# Only the index goes: AlterField would also drop and re-create (re-validating every user) the foreign key.
INDEX = "users_store_app_id_355ef26e"


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0001_initial'),
        ('ledger', '0004_lean_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='rewarduser',
                    name='store_app',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='users', to='catalog.storeapp'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(f"DROP INDEX IF EXISTS {INDEX}", f"CREATE INDEX {INDEX} ON users (store_app_id)"),
            ],
        ),
    ]
