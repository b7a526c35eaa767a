from giveaways.services import DrawRefused, draw_due_giveaways
from rewardhub.scheduling import ScheduledCommand


class Command(ScheduledCommand):
    help = "Draw every live giveaway that has ended and has not been drawn (run it from cron on every node)."

    def run(self, *args, **options):
        results = draw_due_giveaways()
        for result in results:
            if isinstance(result, DrawRefused):
                self.stderr.write(self.style.ERROR(str(result)))
            else:
                self.stdout.write(
                    f"{result.giveaway.slug}: {result.winners.count()} winner(s) from {len(result.entrants)} entrant(s)"
                )
        if not results:
            self.stdout.write("No giveaway is due for a draw.")
