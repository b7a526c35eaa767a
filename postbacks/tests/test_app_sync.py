"""The reward app's side of seed 004: list the postbacks it has not applied, then acknowledge them."""

import pytest

from catalog.tests.factories import RewardGameFactory, StoreAppFactory, partner_secret_for
from ledger.services import issue_app_token
from ledger.tests.factories import RewardUserFactory
from postbacks.models import UserPostback
from rewardhub.testing import Client, run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def game():
    return RewardGameFactory(gid="my_game")


@pytest.fixture
def user():
    return RewardUserFactory()


@pytest.fixture
def token(user):
    return issue_app_token(user=user)[1]


def postback(user, game, level):
    return UserPostback.objects.create(
        user=user, game=game, pid=user.store_app.pid, level_number=level, awarded=level % 5 == 0, coin_delta=0
    )


def list_postbacks(token, url="/api/app/me/postbacks"):
    return Client().get(url, headers={"Authorization": f"Bearer {token}"})


def ack(token, ids):
    return Client().post(
        "/api/app/me/postbacks/ack",
        {"ids": ids},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


def test_unapplied_postbacks_are_listed_oldest_first(user, game, token):
    first, second = postback(user, game, 5), postback(user, game, 6)

    response = list_postbacks(token)

    assert response.status_code == 200
    results = response.json()["results"]
    assert [p["id"] for p in results] == [first.id, second.id]
    assert results[0] == {
        "id": first.id,
        "gid": "my_game",
        "pid": user.store_app.pid,
        "level_number": 5,
        "awarded": True,
        "coin_delta": 0,
        "created_at": results[0]["created_at"],
    }


def test_postbacks_are_paginated_with_a_cursor(user, game, token):
    ids = [postback(user, game, level).id for level in range(1, 6)]

    seen, url = [], "/api/app/me/postbacks?page_size=2"
    while url:
        body = list_postbacks(token, url).json()
        assert len(body["results"]) <= 2
        seen += [p["id"] for p in body["results"]]
        url = body["next"]

    assert seen == ids


def test_ack_marks_postbacks_applied_and_hides_them(user, game, token):
    first, second = postback(user, game, 5), postback(user, game, 6)

    response = ack(token, [first.id])

    assert response.status_code == 200
    assert response.json() == {"acked": [first.id], "already_acked": [], "not_found": []}
    assert [p["id"] for p in list_postbacks(token).json()["results"]] == [second.id]
    first.refresh_from_db()
    assert first.applied_at is not None


def test_acking_twice_changes_nothing_and_says_so(user, game, token):
    first = postback(user, game, 5)
    ack(token, [first.id])
    first.refresh_from_db()
    applied_at = first.applied_at

    response = ack(token, [first.id])

    assert response.status_code == 200
    assert response.json() == {"acked": [], "already_acked": [first.id], "not_found": []}
    first.refresh_from_db()
    assert first.applied_at == applied_at


def test_acking_another_users_postback_changes_nothing_and_says_not_found(game, token):
    someone_else = postback(RewardUserFactory(), game, 5)

    response = ack(token, [someone_else.id])

    assert response.json() == {"acked": [], "already_acked": [], "not_found": [someone_else.id]}
    someone_else.refresh_from_db()
    assert someone_else.applied_at is None


def test_another_users_postbacks_are_never_listed(user, game, token):
    postback(RewardUserFactory(), game, 5)
    assert list_postbacks(token).json()["results"] == []


def test_mixed_ack_reports_each_id(user, game, token):
    done, fresh = postback(user, game, 5), postback(user, game, 6)
    ack(token, [done.id])

    response = ack(token, [fresh.id, 999_999, done.id, fresh.id])

    assert response.json() == {"acked": [fresh.id], "already_acked": [done.id], "not_found": [999_999]}


@pytest.mark.parametrize(
    "body",
    [{}, {"ids": []}, {"ids": "1"}, {"ids": [0]}, {"ids": ["x"]}, {"ids": [2**63]}, {"ids": list(range(1, 502))}],
)
def test_invalid_ack_bodies_are_400(token, body):
    response = Client().post(
        "/api/app/me/postbacks/ack", body, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_ack_with_invalid_json_is_400(token):
    response = Client().post(
        "/api/app/me/postbacks/ack",
        "{nope",
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


@pytest.mark.django_db(transaction=True)
def test_concurrent_acks_of_the_same_postback_ack_it_once(user, game, token):
    pb = postback(user, game, 5)

    responses = run_concurrently([lambda: ack(token, [pb.id]) for _ in range(6)])

    bodies = [r.json() for r in responses]
    assert sorted(len(b["acked"]) for b in bodies) == [0, 0, 0, 0, 0, 1]
    assert sum(len(b["already_acked"]) for b in bodies) == 5


def test_seed_004_flow_from_registration_to_applied_postback(game):
    secret = partner_secret_for(StoreAppFactory(pid="cashgiraffe"))
    registered = (
        Client()
        .post("/api/app/users", {"pid": "cashgiraffe", "device_id": "phone-1"}, content_type="application/json")
        .json()
    )
    uid, token = registered["user"]["id"], registered["token"]
    Client().post(
        "/api/postback",
        {"pid": "cashgiraffe", "uid": uid, "gid": "my_game", "level_number": 10},
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )

    queued = list_postbacks(token).json()["results"]
    assert [(p["level_number"], p["coin_delta"]) for p in queued] == [(10, 25)]
    assert ack(token, [queued[0]["id"]]).json()["acked"] == [queued[0]["id"]]
    assert list_postbacks(token).json()["results"] == []
    me = Client().get("/api/app/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["coins"] == 25
