"""Every response names its request (X-Request-ID) and every line logged while serving it carries that id, in the
plain format and as one JSON object per line (LOG_FORMAT=json)."""

import json
import logging
import re

import pytest

from rewardhub.logs import JsonFormatter, RequestIdFilter
from rewardhub.testing import Client

pytestmark = pytest.mark.django_db(transaction=True)
GENERATED = re.compile(r"[0-9a-f]{16}-[0-9a-f]+\Z")


@pytest.fixture
def json_lines():
    """What LOG_FORMAT=json would write, as parsed objects."""
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(json.loads(handler.format(record)))
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logging.getLogger().addHandler(handler)
    yield lines
    logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize("path", ["/healthz", "/api/app/me", "/admin/login/"])
def test_every_response_carries_a_new_request_id(path):
    first, second = Client().get(path), Client().get(path)

    assert GENERATED.match(first["X-Request-ID"]) and GENERATED.match(second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_trusted_proxys_request_id_is_kept(settings):
    settings.TRUSTED_PROXY_HOPS = 1

    response = Client().get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"})

    assert response["X-Request-ID"] == "lb-7f3a.42"


@pytest.mark.parametrize("sent", ["lb-7f3a.42", "two words", "x" * 129, "new\nline"])
def test_a_clients_own_or_unusable_request_id_is_replaced(settings, sent):
    settings.TRUSTED_PROXY_HOPS = 1 if sent != "lb-7f3a.42" else 0

    response = Client().get("/healthz", headers={"X-Request-ID": sent})

    assert GENERATED.match(response["X-Request-ID"])


def test_json_log_lines_carry_the_request_id_of_the_response(json_lines):
    response = Client().post("/api/postback", {}, content_type="application/json")

    assert response.status_code == 401
    line = next(line for line in json_lines if line["logger"] == "django.request")
    assert line["message"] == "Unauthorized: /api/postback"
    assert line["request_id"] == response["X-Request-ID"]
    assert line["level"] == "WARNING" and line["status"] == 401
    assert set(line) == {"time", "level", "logger", "message", "request_id", "status"}


def test_lines_logged_in_djangos_threads_carry_the_request_id_too(json_lines):
    response = Client().get("/no-such-page")

    line = next(line for line in json_lines if line["logger"] == "django.request")
    assert line["request_id"] == response["X-Request-ID"]


def test_lines_outside_any_request_say_so(json_lines):
    logging.getLogger("rewardhub").warning("started")

    assert json_lines[-1]["request_id"] == "-"
