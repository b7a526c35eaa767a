"""Indexes the console's user list and searches need at a million users, built CONCURRENTLY (registrations and
credits go on meanwhile)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("catalog", "0001_initial"),
        ("ledger", "0006_install_secret"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="rewarduser",
            index=models.Index(fields=["created_at", "id"], name="user_recent"),
        ),
        AddIndexConcurrently(
            model_name="rewarduser",
            index=models.Index(fields=["device_id"], name="user_device_id"),
        ),
        AddIndexConcurrently(
            model_name="rewarduser",
            index=models.Index(condition=models.Q(("banned_at__isnull", False)), fields=["banned_at"], name="user_banned"),
        ),
        AddIndexConcurrently(
            model_name="rewarduser",
            index=models.Index(
                condition=models.Q(("network_ban_state", ""), _negated=True),
                fields=["network_ban_state"],
                name="user_network_ban",
            ),
        ),
    ]
