"""Deployment checks of our own, run by `manage.py check --deploy` next to Django's."""

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def field_encryption_keys_check(app_configs, **kwargs):
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        return [
            Warning(
                "FIELD_ENCRYPTION_KEYS is not set: API keys and network secrets are encrypted with a key derived "
                "from SECRET_KEY, so changing SECRET_KEY would make them unreadable.",
                hint="Set FIELD_ENCRYPTION_KEYS to a key from Fernet.generate_key() (comma-separated, newest first).",
                id="rewardhub.W001",
            )
        ]
    problems = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            problems.append(
                Warning(
                    f"FIELD_ENCRYPTION_KEYS entry {position} is not a Fernet key (32 url-safe base64-encoded bytes).",
                    id="rewardhub.W002",
                )
            )
    return problems


@register(Tags.caches, deploy=True)
def shared_cache_check(app_configs, **kwargs):
    if settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache":
        return [
            Warning(
                "The default cache is per process: with several gunicorn workers each keeps its own failed-"
                "authentication counts and throttles, so the effective limits are multiplied by the workers.",
                hint="Set CACHE_URL=redis://127.0.0.1:6379/1 (or another shared cache).",
                id="rewardhub.W003",
            )
        ]
    return []


@register(Tags.database, deploy=True)
def embedded_database_check(app_configs, **kwargs):
    if settings.EMBEDDED_DATABASE:
        return [
            Error(
                "DATABASE_URL is not set: this server runs on the development PostgreSQL embedded in var/postgres.",
                hint="Set DATABASE_URL to the production database, e.g. postgres://user:pass@host:5432/rewardhub.",
                id="rewardhub.E001",
            )
        ]
    return []
