from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog: store apps, games and partner secrets"

    def ready(self):
        from rewardhub import checks  # noqa: F401  (registers the project's deploy checks)
