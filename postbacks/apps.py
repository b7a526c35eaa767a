from django.apps import AppConfig


class PostbacksConfig(AppConfig):
    name = "postbacks"
    verbose_name = "Postbacks and callbacks"
