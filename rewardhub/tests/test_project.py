import json
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.http import HttpRequest
from django.test import Client as DjangoClient

from ledger.models import RewardUser
from rewardhub.testing import Client

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_answers_ok_when_the_database_answers():
    response = Client().get("/healthz")
    assert (response.status_code, response.json()) == (200, {"ok": True})


def test_healthz_answers_503_when_the_database_does_not():
    with mock.patch("rewardhub.db.PooledDatabase._run", side_effect=OperationalError("down")):
        response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["ok"] is False


def test_schema_describes_the_postback_its_auth_and_errors():
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    operation = schema["paths"]["/api/postback"]["post"]
    assert {"PartnerBearer", "PartnerApiSecretHeader"} <= set(schema["components"]["securitySchemes"])
    assert {"200", "400", "401", "404", "413"} <= set(operation["responses"])


def test_interactive_docs_are_served():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_seed_demo_json_prints_exactly_one_object(capsys):
    call_command("seed_demo", "--json")
    demo = json.loads(capsys.readouterr().out)
    assert demo["partner"]["pid"] == "cashgiraffe"
    assert demo["partner"]["gid"] == "my_game"
    assert RewardUser.objects.filter(pk=demo["user"]["id"], device_id=demo["user"]["device_id"]).exists()
    assert DjangoClient().login(request=HttpRequest(), **demo["admin"])  # django-axes needs the request


def test_seed_demo_reuses_data_and_issues_a_fresh_secret(capsys):
    call_command("seed_demo", "--json")
    first = json.loads(capsys.readouterr().out)
    call_command("seed_demo", "--json")
    second = json.loads(capsys.readouterr().out)
    assert first["user"] == second["user"]
    assert first["partner"]["api_secret"] != second["partner"]["api_secret"]


def test_seed_demo_secret_works_with_the_printed_user(capsys):
    call_command("seed_demo", "--json")
    demo = json.loads(capsys.readouterr().out)
    response = Client().post(
        "/api/postback",
        {"pid": demo["partner"]["pid"], "uid": demo["user"]["id"], "gid": demo["partner"]["gid"], "level_number": 10},
        content_type="application/json",
        headers={"Authorization": f"Bearer {demo['partner']['api_secret']}"},
    )
    assert response.json()["coinDelta"] == 25


def test_openapi_schema_is_valid_and_has_no_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_a_lost_database_connection_answers_503_not_500():
    with mock.patch("rewardhub.db.PooledDatabase._run", side_effect=OperationalError("server closed")):
        response = Client().post(
            "/api/postback",
            {"pid": "p", "uid": "a1b2c3d4-e5f6-7890-abcd-ef1234567890", "gid": "g", "level_number": 5},
            content_type="application/json",
            headers={"Authorization": "Bearer x"},
        )
    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"
