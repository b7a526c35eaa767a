import json
from io import StringIO

import pytest
from django.core.management import call_command

from catalog.models import RewardGame
from rewardhub.testing import Client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def schema():
    out = StringIO()
    call_command("spectacular", "--format", "openapi-json", "--fail-on-warn", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/app/users", "post"),
        ("/api/app/me", "get"),
        ("/api/app/me/entries", "get"),
        ("/api/app/me/postbacks", "get"),
        ("/api/app/me/postbacks/ack", "post"),
        ("/api/app/games", "get"),
    ],
)
def test_every_app_endpoint_is_in_the_schema(schema, path, method):
    assert method in schema["paths"][path]


@pytest.mark.parametrize("path", ["/api/app/me", "/api/app/me/entries", "/api/app/me/postbacks", "/api/app/games"])
def test_app_endpoints_document_the_app_bearer_token(schema, path):
    assert schema["paths"][path]["get"]["security"] == [{"AppBearer": []}]
    assert schema["components"]["securitySchemes"]["AppBearer"]["scheme"] == "bearer"


def test_seed_demo_json_has_a_working_app_token_for_the_demo_user():
    out = StringIO()
    call_command("seed_demo", "--json", stdout=out)
    demo = json.loads(out.getvalue())

    response = Client().get("/api/app/me", headers={"Authorization": f"Bearer {demo['app']['token']}"})

    assert response.status_code == 200
    assert response.json()["id"] == demo["user"]["id"]


def test_seed_demo_issues_a_fresh_app_token_each_run():
    tokens = set()
    for _ in range(2):
        out = StringIO()
        call_command("seed_demo", "--json", stdout=out)
        tokens.add(json.loads(out.getvalue())["app"]["token"])
    assert len(tokens) == 2


def test_seed_demo_game_has_a_play_package_and_an_install_link():
    out = StringIO()
    call_command("seed_demo", "--json", stdout=out)
    demo = json.loads(out.getvalue())

    games = Client().get("/api/app/games", headers={"Authorization": f"Bearer {demo['app']['token']}"}).json()

    assert RewardGame.objects.get(gid="my_game").play_package == "com.example.mygame"
    assert [game["gid"] for game in games["results"]] == ["my_game"]
