import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rewardhub.settings")
django_application = get_wsgi_application()

from rewardhub.hot_paths import AsyncHotPaths  # noqa: E402 - needs the apps that get_wsgi_application() loaded

application = AsyncHotPaths(django_application)
