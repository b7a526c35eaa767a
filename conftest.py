import logging
from contextlib import ExitStack, contextmanager

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.cache import cache
from django.db import connections, transaction
from django.test import TransactionTestCase

import catalog.services
import giveaways.services
import ledger.services
import rewardhub.crypto
from rewardhub import auth_throttle
from rewardhub.testing import SecretLogDetector, serving, statements_sent, wrapped_everywhere

# Test tooling that echoes test inputs by design (factory-boy logs every factory's parameters): not product output.
TOOLING_LOGGERS = ("factory", "faker")


# Kept by the transactional tests' teardown: what migrate wrote, which no test changes.
MIGRATED_TABLES = {"django_migrations", "django_content_type", "auth_permission"}


def _empty_the_tables(test_case) -> None:
    """TransactionTestCase's teardown without flush: flush TRUNCATEs every table, content types and permissions
    included, and re-creates those through post_migrate, about 1.5 s a test on this machine, and every API test
    is transactional (the application's connections see only committed rows). DELETE of the tables' rows is
    what an empty table costs nearly nothing for; the foreign keys are deferrable, so the order does not matter."""
    for alias in test_case._databases_names(include_mirrors=False):
        connection = connections[alias]
        tables = sorted(set(connection.introspection.django_table_names(only_existing=True)) - MIGRATED_TABLES)
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")  # noqa: S608 - our own table names


TransactionTestCase._fixture_teardown = _empty_the_tables


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker):
    """rewardhub.asgi.application with its lifespan (pool open), for rewardhub.testing.Client: opened once the test
    database exists, and closed (pool and every thread's Django connection) before it is dropped."""
    from rewardhub.asgi import application

    with django_db_blocker.unblock(), serving(application) as server:
        yield server


@pytest.fixture(autouse=True)
def _serving_for_transactional_tests(request):
    """Only tests that commit their data can be served: the application's connections see nothing else."""
    marker = request.node.get_closest_marker("django_db")
    marked = marker is not None and (marker.kwargs.get("transaction") or marker.args[:1] == (True,))
    if marked or "transactional_db" in request.fixturenames:
        request.getfixturevalue("asgi_server")


@pytest.fixture
def assert_num_statements():
    """pytest-django's django_assert_num_queries for statements sent from any thread, the application's included:
    `with assert_num_statements(1): Client().post(...)`."""

    @contextmanager
    def expect(count: int):
        with statements_sent() as sent:
            yield
        assert len(sent) == count, f"{len(sent)} statements sent, {count} expected:\n" + "\n".join(sent)

    return expect


@pytest.fixture(autouse=True)
def _empty_cache():
    """Failed-authentication counters and DRF throttles live in the cache: each test starts with none, and with
    the cache answering (a test that made it fail leaves the throttle's back-off behind)."""
    cache.clear()
    auth_throttle.outage.end()


@pytest.fixture(autouse=True)
def _no_known_keys():
    """Each test starts as a new process would, knowing no giveaway project's key (callbacks signed with one
    take one statement instead of two, so query counts would depend on the tests before)."""
    giveaways.services._known_keys.clear()


@pytest.fixture(scope="session", autouse=True)
def secret_log_detector():
    """Every log record of the whole suite, at every level and from every logger, must be free of every
    secret the code issued or stored: partner secrets, app tokens, giveaway API keys, anything encrypted at
    rest (network secrets), Fernet keys (FIELD_ENCRYPTION_KEYS) and SECRET_KEY. Checked once, at the end."""
    detector = SecretLogDetector()
    detector.add_secret(settings.SECRET_KEY)
    root = logging.getLogger()
    saved = {"root": root.level, "handlers": [(h, h.level) for h in root.handlers]}
    loggers = [logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)]
    saved["loggers"] = [(logger, logger.level, logger.propagate, logger.disabled) for logger in loggers]
    for handler in root.handlers:
        handler.setLevel(max(handler.level, root.level))  # the console shows what it showed before
    root.setLevel(logging.DEBUG)
    for logger in loggers:  # django, django.request, django.db.backends, axes, …: everything reaches the root
        logger.setLevel(logging.NOTSET)
        logger.propagate, logger.disabled = True, False
    for name in TOOLING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    root.addHandler(detector)

    def record_plain(args, kwargs, result):  # (row, plain text) from the issuing services
        detector.add_secret(result[1])

    def record_key(args, kwargs, result):  # Fernet(key): the key is the first argument
        detector.add_secret(args[1] if len(args) > 1 else kwargs.get("key"))

    with ExitStack() as wrappers:
        wrappers.enter_context(wrapped_everywhere(catalog.services, "issue_partner_secret", record_plain))
        wrappers.enter_context(wrapped_everywhere(ledger.services, "issue_app_token", record_plain))
        wrappers.enter_context(
            wrapped_everywhere(ledger.services, "release_install", lambda a, k, r: detector.add_secret(r))
        )
        wrappers.enter_context(
            wrapped_everywhere(giveaways.services, "_new_api_key", lambda a, k, r: detector.add_secret(r[0]))
        )
        wrappers.enter_context(
            wrapped_everywhere(rewardhub.crypto, "encrypt", lambda a, k, r: detector.add_secret(a[0]))
        )
        wrappers.enter_context(wrapped_everywhere(Fernet, "__init__", record_key))
        yield detector
    root.removeHandler(detector)
    root.setLevel(saved["root"])
    for handler, level in saved["handlers"]:
        handler.setLevel(level)
    for logger, level, propagate, disabled in saved["loggers"]:
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled
    leaks = detector.leaks()
    assert not leaks, "Secrets appeared in log output:\n" + "\n".join(leaks)
