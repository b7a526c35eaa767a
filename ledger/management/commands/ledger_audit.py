from django.core.management.base import BaseCommand, CommandError

from ledger.models import RewardUser
from ledger.selectors import users_out_of_balance


class Command(BaseCommand):
    help = "Check that every reward user's cached balance equals the sum of their ledger entries."

    def handle(self, *args, **options):
        mismatches = list(users_out_of_balance())
        for user in mismatches:
            self.stdout.write(
                f"{user.id}: cached balance {user.coins}, entries sum to {user.entries_total} "
                f"(off by {user.coins - user.entries_total:+d})"
            )
        if mismatches:
            raise CommandError(f"{len(mismatches)} user(s) out of balance.")
        self.stdout.write(f"All {RewardUser.objects.count()} user balances match their ledger entries.")
