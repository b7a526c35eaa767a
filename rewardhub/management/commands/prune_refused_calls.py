from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from rewardhub.refused_calls import PRUNE_BATCH, prune_refused_calls


class Command(BaseCommand):
    help = (
        f"Delete refused calls older than REFUSED_CALL_RETENTION_DAYS, at most {PRUNE_BATCH} rows per statement so "
        "no lock is held long (run it daily from cron)."
    )

    def handle(self, *args, **options):
        days = settings.REFUSED_CALL_RETENTION_DAYS
        deleted = sum(prune_refused_calls(older_than=timedelta(days=days), now=timezone.now()))
        self.stdout.write(f"Deleted {deleted} refused call(s) older than {days} day(s).")
