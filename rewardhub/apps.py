from django.apps import AppConfig


class RewardhubConfig(AppConfig):
    """The project as an app: the commands that span every domain (demo data, the benchmark) and the project's
    deploy checks. Listed last: it builds on every other app, and none of them imports it back."""

    name = "rewardhub"
    verbose_name = "RewardHub"

    def ready(self):
        from rewardhub import checks  # noqa: F401  (registers the project's deploy checks)
