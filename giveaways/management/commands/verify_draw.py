from django.core.management.base import BaseCommand, CommandError

from giveaways.models import Draw
from giveaways.selectors import verify_draw


class Command(BaseCommand):
    help = "Recompute a giveaway's draw from its published data and say whether it matches."

    def add_arguments(self, parser):
        parser.add_argument("giveaway", help="The giveaway's slug.")

    def handle(self, *args, giveaway, **options):
        draw = Draw.objects.select_related("giveaway").filter(giveaway__slug=giveaway).first()
        if draw is None:
            raise CommandError(f"No draw for giveaway '{giveaway}'.")
        checks = verify_draw(draw)
        for check in checks:
            mark = self.style.SUCCESS("ok  ") if check.ok else self.style.ERROR("FAIL")
            self.stdout.write(f"{mark} {check.label}")
        if not all(check.ok for check in checks):
            raise CommandError("The draw does NOT match its published data.")
        self.stdout.write(self.style.SUCCESS("The draw matches its published data."))
