from django.apps import AppConfig


class PostbacksConfig(AppConfig):
    name = "postbacks"
    verbose_name = "Postbacks and callbacks"

    def ready(self):
        from postbacks.offers import checks  # noqa: F401  (registers the offer networks' deploy checks)
