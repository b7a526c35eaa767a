import pytest

from rewardhub.soak.figures import FIGURES
from rewardhub.soak.pooler import pgbouncer
from rewardhub.soak.server import database_url, gunicorn_server


@pytest.fixture(scope="session")
def pooler_port(django_db_setup):
    with pgbouncer() as port:
        yield port


@pytest.fixture(scope="module", params=["direct", "PgBouncer"])
def server(request, django_db_setup):
    """One gunicorn per test module, against pytest-django's test database (each test commits its own data):
    connected to PostgreSQL directly, then through PgBouncer in transaction mode, as several nodes would share it."""
    environ = {}
    if request.param == "PgBouncer":
        port = request.getfixturevalue("pooler_port")
        environ = {"DATABASE_URL": database_url(host="127.0.0.1", port=port), "DB_TRANSACTION_POOLER": "true"}
    FIGURES.context = "" if request.param == "direct" else ", through PgBouncer"
    with gunicorn_server(environ=environ) as live:
        yield live
    FIGURES.context = ""


def pytest_collection_modifyitems(items):
    """The fault run restarts PostgreSQL: it goes last, so no other suite runs across a restart."""
    items.sort(key=lambda item: item.path.name == "test_faults.py")


def pytest_terminal_summary(terminalreporter):
    if not FIGURES.answers:
        return  # no soak test ran (`make test` deselects them)
    terminalreporter.section("Reliability figures (make soak)")
    for line in FIGURES.lines():
        terminalreporter.write_line(line)
