import json
import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from catalog.models import PartnerSecret
from catalog.tests.factories import RewardGameFactory, StoreAppFactory, partner_secret_for
from ledger.models import LedgerEntry
from ledger.services import post_entry
from ledger.tests.factories import RewardUserFactory
from postbacks.models import UserPostback
from postbacks.partner.services import milestone_coins
from rewardhub.testing import Client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def game():
    return RewardGameFactory(gid="my_game")


@pytest.fixture
def user(app):
    return RewardUserFactory(store_app=app, device_id="device-1")


@pytest.fixture
def secret(app):
    return partner_secret_for(app)


def post(body, secret=None, header="Authorization", path="/api/postback", raw=None):
    headers = {}
    if secret is not None:
        headers = {"Authorization": f"Bearer {secret}"} if header == "Authorization" else {header: secret}
    data = raw if raw is not None else json.dumps(body)
    return Client().post(path, data=data, content_type="application/json", headers=headers)


def body_for(user, level, **extra):
    return {"pid": "cashgiraffe", "uid": str(user.id), "gid": "my_game", "level_number": level, **extra}


@pytest.mark.parametrize(
    ("level", "coins"),
    [
        (1, 0),
        (4, 0),
        (5, 25),
        (30, 25),
        (35, 15),
        (70, 15),
        (75, 10),
        (90, 10),
        (95, 5),
        (100, 5),
        (105, 2),
        (130, 2),
        (135, 1),
        (3000, 1),
        (3001, 0),
    ],
)
def test_milestone_table_follows_the_seed(level, coins):
    assert milestone_coins(level) == coins


def test_milestone_credits_coins_with_the_seed_body(user, game, secret):
    response = post(body_for(user, 10), secret)

    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "awarded": True,
        "milestone": True,
        "pid": "cashgiraffe",
        "gid": "my_game",
        "game_id": "my_game",
        "level_number": 10,
        "coinDelta": 25,
        "user": {"id": str(user.id), "coins": 25, "appId": "cashgiraffe", "deviceId": "device-1"},
    }
    user.refresh_from_db()
    assert user.coins == 25


def test_milestone_writes_one_ledger_entry_referencing_the_postback(user, game, secret):
    post(body_for(user, 10), secret)

    postback = UserPostback.objects.get()
    entry = LedgerEntry.objects.get()
    assert (entry.amount, entry.balance_after, entry.kind) == (25, 25, "partner_postback")
    assert entry.reference == f"user_postbacks:{postback.pk}"
    assert entry.key == f"partner_postback:{postback.pk}"


@pytest.mark.django_db(transaction=True)  # autocommit, as served: the failed statement rolls back alone
def test_a_ledger_key_already_taken_fails_the_whole_postback(user, game, secret):
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('user_postbacks', 'id'))")
        (taken,) = cursor.fetchone()
    post_entry(user_id=user.pk, amount=5, kind="adjustment", key=f"partner_postback:{taken + 1}", reference="t")

    response = post(body_for(user, 10), secret)

    assert response.status_code == 500  # a bug of ours, logged; nothing was written, so the retry is safe
    assert not UserPostback.objects.exists()  # the level is not recorded: the partner's retry will credit it
    user.refresh_from_db()
    assert user.coins == 5


def test_non_milestone_is_stored_without_coins(user, game, secret):
    response = post(body_for(user, 7), secret)

    assert response.status_code == 200
    assert response.json()["awarded"] is False
    assert response.json()["coinDelta"] == 0
    postback = UserPostback.objects.get()
    assert (postback.awarded, postback.coin_delta, postback.level_number) == (False, 0, 7)
    assert not LedgerEntry.objects.exists()


def test_duplicate_gets_the_seed_body_and_no_second_credit(user, game, secret):
    post(body_for(user, 10), secret)
    response = post(body_for(user, 10), secret)

    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "awarded": False,
        "duplicate": True,
        "pid": "cashgiraffe",
        "gid": "my_game",
        "level_number": 10,
        "message": "Duplicate postback for this user, game, and level",
    }
    user.refresh_from_db()
    assert user.coins == 25
    assert LedgerEntry.objects.count() == 1


def test_balance_accumulates_across_levels(user, game, secret):
    for level in (5, 10, 35):
        response = post(body_for(user, level), secret)
    assert response.json()["user"]["coins"] == 65


def test_x_reward_api_secret_header_authenticates(user, game, secret):
    response = post(body_for(user, 5), secret, header="X-Reward-Api-Secret")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("alias_body"),
    [
        {"userId": "UID", "game_id": "my_game", "level": 5},
        {"user_id": "UID", "gameId": "my_game", "level_number": 5},
    ],
)
def test_aliases_are_accepted(user, game, secret, alias_body):
    alias_body = {"pid": "cashgiraffe", **{k: (str(user.id) if v == "UID" else v) for k, v in alias_body.items()}}
    response = post(alias_body, secret)
    assert response.status_code == 200
    assert response.json()["coinDelta"] == 25


def test_reason_is_stored_in_metadata(user, game, secret):
    post(body_for(user, 3, reason="boss defeated"), secret)
    assert UserPostback.objects.get().metadata == {"reason": "boss defeated"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}])
def test_missing_or_invalid_secret_is_401(user, game, headers):
    response = Client().post("/api/postback", body_for(user, 5), content_type="application/json", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert not UserPostback.objects.exists()


def test_invalid_secret_with_bad_body_is_still_401(user, game):
    response = post({"nonsense": True}, "wrong")
    assert response.status_code == 401


def test_revoked_secret_is_401(user, game, app):
    from catalog.models import PartnerSecret
    from catalog.services import revoke_partner_secret

    secret = partner_secret_for(app)
    revoke_partner_secret(secret=PartnerSecret.objects.get())
    assert post(body_for(user, 5), secret).status_code == 401


def test_secret_of_another_partner_is_401(user, game):
    other_secret = partner_secret_for(StoreAppFactory(pid="otherapp"))
    response = post(body_for(user, 5), other_secret)
    assert response.status_code == 401
    assert not UserPostback.objects.exists()


def test_rotation_keeps_both_secrets_working(user, game, app, secret):
    newer = partner_secret_for(app)
    assert post(body_for(user, 5), secret).status_code == 200
    assert post(body_for(user, 10), newer).status_code == 200


def test_use_is_recorded_on_the_secret(user, game, secret):
    from catalog.models import PartnerSecret

    post(body_for(user, 5), secret)
    assert PartnerSecret.objects.get().last_used_at is not None


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"pid": "nope"}, "unknown_pid"),
        ({"gid": "nope"}, "unknown_gid"),
        ({"level_number": 0}, "invalid_field"),
        ({"level_number": -5}, "invalid_field"),
        ({"level_number": "10"}, "invalid_field"),
        ({"level_number": 10.5}, "invalid_field"),
        ({"level_number": True}, "invalid_field"),
        ({"level_number": 10**30}, "invalid_field"),
        ({"uid": "not-a-uuid"}, "invalid_field"),
        ({"uid": 12}, "invalid_field"),
        ({"pid": ""}, "invalid_field"),
        ({"gid": ["my_game"]}, "invalid_field"),
        ({"reason": 5}, "invalid_field"),
        ({"extra": 1}, "unknown_field"),
    ],
)
def test_malformed_or_unknown_fields_are_400(user, game, secret, change, error):
    response = post({**body_for(user, 5), **change}, secret)
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert response.json()["error"] == error
    assert response.json()["message"]
    assert not UserPostback.objects.exists()


@pytest.mark.parametrize("level", [0, -5])
def test_the_database_refuses_a_level_below_one_written_any_way(user, game, level):
    with pytest.raises(IntegrityError), transaction.atomic():
        UserPostback.objects.create(
            user=user, game=game, pid=user.store_app.pid, level_number=level, awarded=False, coin_delta=0
        )


@pytest.mark.parametrize("missing", ["pid", "uid", "gid", "level_number"])
def test_missing_field_is_400(user, game, secret, missing):
    body = body_for(user, 5)
    del body[missing]
    response = post(body, secret)
    assert response.status_code == 400
    assert response.json()["error"] == "missing_field"


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', b"\xff\xfe\x00", '{"pid": "a", "pid": "b"}', ""])
def test_invalid_json_is_400(user, game, secret, raw):
    response = post(None, secret, raw=raw)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


def test_inactive_game_is_400(user, secret):
    RewardGameFactory(gid="my_game", active=False)
    response = post(body_for(user, 5), secret)
    assert response.status_code == 400
    assert response.json()["error"] == "game_inactive"


def test_unknown_user_is_404(game, secret, app):
    response = post({"pid": "cashgiraffe", "uid": str(uuid.uuid4()), "gid": "my_game", "level_number": 5}, secret)
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_uid"


def test_user_of_another_store_app_is_404(game, secret):
    stranger = RewardUserFactory(store_app=StoreAppFactory(pid="otherapp"))
    response = post({"pid": "cashgiraffe", "uid": str(stranger.id), "gid": "my_game", "level_number": 5}, secret)
    assert response.status_code == 404


def test_body_over_16_kib_is_413(user, game, secret):
    response = post(body_for(user, 5, reason="x" * 17000), secret)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert not UserPostback.objects.exists()


@pytest.mark.parametrize("path", ["/api/reward/postback", "/api/rewards/postback"])
def test_legacy_paths_redirect_with_308(path):
    response = Client().post(path, "{}", content_type="application/json")
    assert response.status_code == 308
    assert response["Location"] == "/api/postback"


def test_legacy_path_followed_by_a_client_credits(user, game, secret):
    response = Client().post(
        "/api/rewards/postback",
        json.dumps(body_for(user, 5)),
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
        follow=True,
    )
    assert response.status_code == 200
    assert response.json()["coinDelta"] == 25


def test_wrong_method_is_405_json(secret):
    response = Client().get("/api/postback", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


# transaction=True so the count is what production sends, BEGIN and COMMIT included.
@pytest.mark.django_db(transaction=True)
def test_milestone_postback_query_count(user, game, secret, assert_num_statements):
    with assert_num_statements(1):
        post(body_for(user, 5), secret)  # the first use of the secret also stamps its last use


@pytest.mark.django_db(transaction=True)
def test_repeat_milestone_postback_query_count(user, game, secret, assert_num_statements):
    post(body_for(user, 1), secret)  # the secret's last-use write happens at most once a minute
    with assert_num_statements(1):
        post(body_for(user, 5), secret)


@pytest.mark.django_db(transaction=True)
def test_non_milestone_postback_query_count(user, game, secret, assert_num_statements):
    post(body_for(user, 1), secret)
    with assert_num_statements(1):
        post(body_for(user, 2), secret)


@pytest.mark.django_db(transaction=True)
def test_one_statement_records_and_credits_together(user, game, secret):
    response = post(body_for(user, 5), secret)
    assert response.json()["user"]["coins"] == 25
    entry = LedgerEntry.objects.get()
    assert entry.reference == f"user_postbacks:{UserPostback.objects.get().pk}"
    assert PartnerSecret.objects.get().last_used_at is not None
