from django.core.management.base import BaseCommand, CommandError

from ledger.models import RewardUser
from ledger.selectors import users_out_of_balance


class Command(BaseCommand):
    help = "Check that every reward user's cached balances (available and held) equal the sums of their entries."

    def handle(self, *args, **options):
        mismatches = list(users_out_of_balance())
        for user in mismatches:
            if user.coins != user.entries_total:
                self.stdout.write(
                    f"{user.id}: cached balance {user.coins}, entries sum to {user.entries_total} "
                    f"(off by {user.coins - user.entries_total:+d})"
                )
            if user.held_coins != user.held_entries_total:
                self.stdout.write(
                    f"{user.id}: cached held balance {user.held_coins}, held entries sum to "
                    f"{user.held_entries_total} (off by {user.held_coins - user.held_entries_total:+d})"
                )
        if mismatches:
            raise CommandError(f"{len(mismatches)} user(s) out of balance.")
        self.stdout.write(f"All {RewardUser.objects.count()} user balances match their ledger entries.")
