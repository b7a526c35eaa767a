import pytest

from rewardhub.soak.figures import FIGURES
from rewardhub.soak.server import gunicorn_server


@pytest.fixture(scope="module")
def server(django_db_setup):
    """One gunicorn per test module, against pytest-django's test database (each test commits its own data)."""
    with gunicorn_server() as live:
        yield live


def pytest_collection_modifyitems(items):
    """The fault run restarts PostgreSQL: it goes last, so no other suite runs across a restart."""
    items.sort(key=lambda item: item.path.name == "test_faults.py")


def pytest_terminal_summary(terminalreporter):
    if not FIGURES.answers:
        return  # no soak test ran (`make test` deselects them)
    terminalreporter.section("Reliability figures (make soak)")
    for line in FIGURES.lines():
        terminalreporter.write_line(line)
