import pytest
from django.core.cache import cache
from django.db import connection


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` need real concurrency or PostgreSQL features: skip them on SQLite."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Failed-authentication counters and DRF throttles live in the cache: each test starts with none."""
    cache.clear()
