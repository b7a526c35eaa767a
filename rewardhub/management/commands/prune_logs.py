from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from postbacks.retention import prune_offer_deliveries
from rewardhub.refused_calls import prune_refused_calls
from rewardhub.retention import PRUNE_BATCH
from rewardhub.scheduling import ScheduledCommand


class Command(ScheduledCommand):
    help = (
        "Delete refused calls older than REFUSED_CALL_RETENTION_DAYS and offer deliveries older than "
        f"OFFER_DELIVERY_RETENTION_DAYS that recorded no conversion, at most {PRUNE_BATCH} rows per statement so no "
        "lock is held long (run it daily from cron on every node: one run at a time does it)."
    )

    def run(self, *args, **options):
        now = timezone.now()
        for what, prune, days in [
            ("refused call(s)", prune_refused_calls, settings.REFUSED_CALL_RETENTION_DAYS),
            ("offer deliveries", prune_offer_deliveries, settings.OFFER_DELIVERY_RETENTION_DAYS),
        ]:
            deleted = sum(prune(older_than=timedelta(days=days), now=now))
            self.stdout.write(f"Deleted {deleted} {what} older than {days} day(s).")
