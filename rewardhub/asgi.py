"""The one application: gunicorn's workers serve it in production (rewardhub/gunicorn.conf.py), `make run` serves it
with auto-reload, and the API tests drive it (rewardhub.testing)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rewardhub.settings")
django_application = get_wsgi_application()

from rewardhub.hot_paths import Application  # noqa: E402 - needs the apps that get_wsgi_application() loaded
from rewardhub.urls import HOT_PATHS  # noqa: E402

application = Application(django_application, HOT_PATHS)
