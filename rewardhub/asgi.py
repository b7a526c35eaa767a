import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rewardhub.settings")
django_application = get_asgi_application()

from rewardhub.hot_paths import AsyncHotPaths  # noqa: E402 - needs the apps that get_asgi_application() loaded

application = AsyncHotPaths(django_application)
