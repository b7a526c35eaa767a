"""Indexes the console needs at millions of rows, built CONCURRENTLY so callbacks keep being written meanwhile.

The delivery log's (integration, transaction id) index replaces its integration index (it starts with it): the
hot path writes as many indexes as before."""

import django.contrib.postgres.indexes
import django.db.models.deletion
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("catalog", "0001_initial"),
        ("postbacks", "0012_bind_signatures_of_earlier_conversions"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="offerdelivery",
            index=models.Index(fields=["integration", "transaction_id"], name="offer_delivery_transaction"),
        ),
        migrations.AlterField(
            model_name="offerdelivery",
            name="integration",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="deliveries",
                to="postbacks.offerwallintegration",
            ),
        ),
        AddIndexConcurrently(
            model_name="offerconversion",
            index=models.Index(
                condition=models.Q(
                    ("outcome__in", ["reversed", "released", "nothing_to_reverse"]), ("reviewed_at__isnull", True)
                ),
                fields=["id"],
                name="offer_conversion_to_review",
            ),
        ),
        AddIndexConcurrently(
            model_name="userpostback",
            index=django.contrib.postgres.indexes.BrinIndex(fields=["created_at"], name="user_postback_created_brin"),
        ),
    ]
