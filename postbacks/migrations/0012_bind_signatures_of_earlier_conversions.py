"""Bind the signature of every conversion recorded before offer_signatures existed, oldest first: otherwise a
Wannads callback accepted earlier (its signature is in the delivery log and in proxy logs) could be re-split into
a new credit once, since only a bound signature is refused for other values."""

from django.conf import settings
from django.db import migrations

BATCH = 2000


def bind_earlier_signatures(apps, schema_editor):
    from postbacks.offers.networks import get_network
    from postbacks.offers.networks.base import CallbackRequest

    OfferConversion = apps.get_model("postbacks", "OfferConversion")
    OfferSignature = apps.get_model("postbacks", "OfferSignature")
    conversions = OfferConversion.objects.select_related("delivery", "integration").order_by("id")
    batch = []
    for conversion in conversions.iterator(chunk_size=BATCH):
        delivery = conversion.delivery
        url = f"{settings.PUBLIC_BASE_URL}{delivery.path}?{delivery.query}"
        signature = get_network(conversion.integration.provider).signature(CallbackRequest.of(url, delivery.query))
        if signature:
            batch.append(
                OfferSignature(
                    integration_id=conversion.integration_id,
                    signature=signature,
                    transaction_id=conversion.transaction_id,
                    amount_received=conversion.amount_received,
                )
            )
        if len(batch) >= BATCH:
            OfferSignature.objects.bulk_create(batch, ignore_conflicts=True)  # the oldest use of a signature wins
            batch = []
    OfferSignature.objects.bulk_create(batch, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("postbacks", "0011_offer_signatures")]

    operations = [migrations.RunPython(bind_earlier_signatures, migrations.RunPython.noop)]
