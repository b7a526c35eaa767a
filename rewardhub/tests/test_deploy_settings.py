"""`manage.py check --deploy` is clean with the production environment the README describes."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from rewardhub.checks import embedded_database_check
from rewardhub.soak.server import database_url

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "0",
    "HTTPS": "1",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "rewards.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://rewards.example.com",
    "PUBLIC_BASE_URL": "https://rewards.example.com",
    "TRUSTED_PROXY_HOPS": "1",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "CACHE_URL": "redis://127.0.0.1:6379/1",
}
# The test database, empty: what the checks say of stored rows (postbacks.E001) must not depend on the developer's.
pytestmark = pytest.mark.django_db(transaction=True)


def run(args: list[str], **overrides: str | None) -> subprocess.CompletedProcess:
    environment = {**os.environ, **PRODUCTION, "DATABASE_URL": database_url(), **overrides}
    env = {k: v for k, v in environment.items() if v is not None}
    return subprocess.run(  # noqa: S603  (our own interpreter and manage.py)
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def deploy_check(**overrides: str | None) -> subprocess.CompletedProcess:
    return run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], DJANGO_SETTINGS_MODULE=None, **overrides)


def test_check_deploy_reports_no_issues_with_the_production_environment():
    result = deploy_check()

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_flags_a_server_without_https():
    result = deploy_check(HTTPS=None)

    assert result.returncode != 0
    for check_id in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check_id in result.stderr


def test_check_deploy_flags_missing_encryption_keys_and_a_per_process_cache():
    result = deploy_check(FIELD_ENCRYPTION_KEYS=None, CACHE_URL=None)

    assert result.returncode != 0
    assert "rewardhub.W001" in result.stderr
    assert "rewardhub.W003" in result.stderr


def test_production_settings_do_not_log_sql_even_at_log_level_debug():
    """SQL statements (users' data, secrets' hashes) reach the log only when DEBUG is on: the project's
    logging leaves django.db.backends at INFO, and even a logger forced to DEBUG gets nothing without DEBUG."""
    script = (
        "import logging, django; django.setup(); from django.db import connection; "
        "sql_log = logging.getLogger('django.db.backends'); print(sql_log.isEnabledFor(logging.DEBUG)); "
        "records = []; handler = logging.Handler(logging.DEBUG); handler.emit = records.append; "
        "sql_log.addHandler(handler); sql_log.setLevel(logging.DEBUG); "
        "connection.cursor().execute('SELECT 1'); print(len(records))"
    )
    result = run(["-c", script], DJANGO_SETTINGS_MODULE="rewardhub.settings", LOG_LEVEL="DEBUG")

    assert result.stdout.split() == ["False", "0"], result.stderr


def test_check_deploy_refuses_the_embedded_development_database(settings):
    settings.EMBEDDED_DATABASE = True  # DATABASE_URL unset: settings started the embedded server

    assert [error.id for error in embedded_database_check(None)] == ["rewardhub.E001"]
