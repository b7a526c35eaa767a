"""Run daily (and at deploy): the console's first page then reads closed days from coin_flow_days instead of summing
the ledger on the first request. Safe to run twice at once: a day's rows are unique and inserted with
ON CONFLICT DO NOTHING, and a closed day sums the same both times (the ledger is append-only)."""

from django.utils import timezone

from postbacks.selectors import roll_up_coin_flows
from rewardhub.scheduling import ScheduledCommand


class Command(ScheduledCommand):
    help = "Sum the coins issued and reversed on each closed UTC day of the last 30 into coin_flow_days."

    def run(self, *args, **options):
        summed = roll_up_coin_flows(timezone.now())
        self.stdout.write(f"{summed} day(s) summed into coin_flow_days.")
