from django.apps import AppConfig


class RewardhubConfig(AppConfig):
    """The project as an app: the commands that span every domain (demo data, the benchmark), the project's deploy
    checks, and the refused-calls log (models.py, refused_calls.py), plumbing the partner and giveaway APIs write to
    that imports no app. Listed last: its commands and admin build on every other app."""

    name = "rewardhub"
    verbose_name = "RewardHub"

    def ready(self):
        from rewardhub import checks  # noqa: F401  (registers the project's deploy checks)
