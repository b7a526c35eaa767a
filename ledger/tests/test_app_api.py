import hashlib
import json
import re
import uuid
from datetime import timedelta
from functools import partial
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client as DjangoClient
from django.urls import reverse
from django.utils import timezone
from rest_framework.throttling import ScopedRateThrottle

from catalog.tests.factories import RewardGameFactory, StoreAppFactory
from ledger.models import AppToken, RewardUser
from ledger.services import adjust_balance, issue_app_token, post_entry, revoke_app_token, set_ban
from ledger.tests.factories import RewardUserFactory
from rewardhub.testing import Client, run_concurrently
from rewardhub.tests.test_asgi import serve

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_throttle():
    cache.clear()  # registration counters live in the default cache
    yield
    cache.clear()


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("operator", is_staff=True)


INSTALL_SECRET = "first-launch-secret-0123456789abcdef"


def register(pid="cashgiraffe", device_id="device-1", install_secret=None, token=None, reclaim_code=None, **extra):
    body = {"pid": pid, "device_id": device_id}
    if install_secret is not None:
        body["install_secret"] = install_secret
    if reclaim_code is not None:
        body["reclaim_code"] = reclaim_code
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client().post("/api/app/users", body, content_type="application/json", headers=headers, **extra)


def get(path, token):
    return Client().get(path, headers={"Authorization": f"Bearer {token}"} if token else {})


def token_for(user):
    return issue_app_token(user=user)[1]


# Registration


def test_registration_creates_a_user_and_returns_a_token(app):
    response = register()

    assert response.status_code == 201
    body = response.json()
    user = RewardUser.objects.get()
    assert body["created"] is True
    assert body["user"] == {
        "id": str(user.id),
        "coins": 0,
        "heldCoins": 0,
        "appId": "cashgiraffe",
        "deviceId": "device-1",
    }
    assert get("/api/app/me", body["token"]).json()["id"] == str(user.id)


def test_token_is_stored_only_as_its_sha256(app):
    token = register().json()["token"]

    stored = AppToken.objects.get()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert stored.prefix == token[:10]
    assert token not in (stored.token_hash, stored.prefix)


def test_reregistering_the_device_returns_the_same_user_with_its_coins_and_a_new_token(app, staff):
    first = register(install_secret=INSTALL_SECRET).json()
    adjust_balance(user=RewardUser.objects.get(), amount=40, reason="welcome", staff=staff)

    response = register(install_secret=INSTALL_SECRET)

    assert response.status_code == 200
    body = response.json()
    assert body["created"] is False
    assert body["user"]["id"] == first["user"]["id"]
    assert body["user"]["coins"] == 40
    assert body["token"] != first["token"]
    assert RewardUser.objects.count() == 1


def test_earlier_token_keeps_working_after_reregistration(app):
    first = register().json()["token"]
    assert register(token=first).status_code == 200
    assert get("/api/app/me", first).status_code == 200


# Re-registration proves the install: a device id is no secret (partner postback answers carry it).


def test_a_device_id_alone_does_not_get_an_existing_user_back(app):
    register(install_secret=INSTALL_SECRET)

    response = register()

    assert response.status_code == 403
    assert response.json()["error"] == "install_not_verified"
    assert AppToken.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_production_application_gives_a_stranger_with_the_device_id_no_token(app):
    def registration(**extra):
        body = json.dumps({"pid": "cashgiraffe", "device_id": "device-1", **extra}).encode()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        return ("POST", "/api/app/users"), {"body": body, "headers": headers}

    first, stranger, owner = serve(
        registration(install_secret=INSTALL_SECRET), registration(), registration(install_secret=INSTALL_SECRET)
    )

    assert [first.status_code, stranger.status_code, owner.status_code] == [201, 403, 200]
    assert stranger.json()["error"] == "install_not_verified" and "token" not in stranger.json()
    assert owner.json()["user"]["id"] == first.json()["user"]["id"]


@pytest.mark.parametrize("wrong", ["another-install-secret-0123456789", INSTALL_SECRET.upper()])
def test_another_install_secret_is_refused_and_counted_as_a_failed_authentication(app, settings, wrong):
    settings.AUTH_FAILURE_LIMIT = 2
    register(install_secret=INSTALL_SECRET)

    answers = [register(install_secret=wrong).status_code for _ in range(2)]

    assert answers == [403, 403]
    assert register(install_secret=INSTALL_SECRET).status_code == 429  # this IP is blocked for the window
    assert AppToken.objects.count() == 1


def test_a_user_registered_without_an_install_secret_proves_it_with_a_token_and_can_add_one(app):
    token = register().json()["token"]

    assert register(install_secret=INSTALL_SECRET).status_code == 403
    assert register(install_secret=INSTALL_SECRET, token=token).status_code == 200
    assert register(install_secret=INSTALL_SECRET).status_code == 200


def test_an_existing_install_secret_is_not_replaced(app):
    token = register(install_secret=INSTALL_SECRET).json()["token"]

    register(install_secret="a-different-secret-0123456789", token=token)

    assert register(install_secret=INSTALL_SECRET).status_code == 200


@pytest.mark.parametrize("whose", ["revoked", "another user's"])
def test_a_revoked_or_another_users_token_proves_nothing(app, whose):
    token = register().json()["token"]
    if whose == "revoked":
        revoke_app_token(token=AppToken.objects.get())
    else:
        token = register(device_id="device-2").json()["token"]

    assert register(token=token).status_code == 403


def test_a_user_from_before_install_secrets_keeps_working_with_their_token(app):
    user = RewardUserFactory(store_app=app, device_id="device-1")  # no install secret, as after the migration
    token = token_for(user)

    assert get("/api/app/me", token).status_code == 200
    assert register(token=token).json()["user"]["id"] == str(user.id)


def test_same_device_in_another_app_is_another_user(app):
    StoreAppFactory(pid="otherapp")
    first = register().json()["user"]["id"]
    other = register(pid="otherapp").json()["user"]["id"]
    assert first != other


def test_unknown_pid_is_400(app):
    response = register(pid="nope")

    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "unknown_pid",
        "message": "No store app is registered with pid 'nope'.",
    }
    assert not RewardUser.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"pid": "cashgiraffe"},
        {"device_id": "d"},
        {"pid": "cashgiraffe", "device_id": ""},
        {"pid": "cashgiraffe", "device_id": "x" * 256},
    ],
)
def test_missing_or_invalid_fields_are_400(app, body):
    response = Client().post("/api/app/users", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert not RewardUser.objects.exists()


def test_registration_of_a_banned_device_is_403_without_a_token(app, staff):
    register(install_secret=INSTALL_SECRET)
    set_ban(user=RewardUser.objects.get(), banned=True, reason="fraud", staff=staff)

    response = register(install_secret=INSTALL_SECRET)

    assert response.status_code == 403
    assert response.json()["error"] == "user_banned"
    assert AppToken.objects.count() == 1


def test_registration_is_throttled_per_client_ip(app, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"app_register": "3/minute"})
    for n in range(3):
        assert register(device_id=f"d{n}", REMOTE_ADDR="10.0.0.1").status_code == 201

    response = register(device_id="d3", REMOTE_ADDR="10.0.0.1")

    assert response.status_code == 429
    assert response.json()["error"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert RewardUser.objects.count() == 3


def test_throttle_counts_each_ip_separately(app, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"app_register": "1/minute"})
    assert register(device_id="a", REMOTE_ADDR="10.0.0.1").status_code == 201
    assert register(device_id="b", REMOTE_ADDR="10.0.0.2").status_code == 201


def test_a_forged_x_forwarded_for_does_not_escape_the_throttle(app, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"app_register": "1/minute"})
    register(device_id="a", REMOTE_ADDR="10.0.0.1")
    response = register(device_id="b", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response.status_code == 429


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_registrations_of_one_device_get_one_user(app):
    install = partial(register, install_secret=INSTALL_SECRET)  # one install retrying its first launch
    responses = run_concurrently([partial(install, REMOTE_ADDR=f"10.0.1.{n}") for n in range(6)])

    assert all(not isinstance(r, Exception) for r in responses), responses
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert {r.json()["user"]["id"] for r in responses} == {str(RewardUser.objects.get().id)}
    assert len({r.json()["token"] for r in responses}) == 6
    assert AppToken.objects.count() == 6


# Authentication


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}]
)
@pytest.mark.parametrize("path", ["/api/app/me", "/api/app/me/entries", "/api/app/me/postbacks", "/api/app/games"])
def test_missing_or_invalid_token_is_401(path, headers):
    response = Client().get(path, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_ack_without_a_token_is_401():
    response = Client().post("/api/app/me/postbacks/ack", {"ids": [1]}, content_type="application/json")
    assert response.status_code == 401


def test_revoked_token_is_401():
    user = RewardUserFactory()
    token = token_for(user)
    revoke_app_token(token=AppToken.objects.get())

    response = get("/api/app/me", token)

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_use_is_recorded_on_the_token():
    token = token_for(RewardUserFactory())
    get("/api/app/me", token)
    assert AppToken.objects.get().last_used_at is not None


def test_last_use_is_written_at_most_once_a_minute(assert_num_statements):
    token = token_for(RewardUserFactory())
    recent = timezone.now() - timedelta(seconds=5)
    AppToken.objects.update(last_used_at=recent)

    with assert_num_statements(1):  # the token + user lookup only
        get("/api/app/me", token)

    assert AppToken.objects.get().last_used_at == recent


# Banned users


@pytest.mark.parametrize("path", ["/api/app/me", "/api/app/me/entries", "/api/app/me/postbacks", "/api/app/games"])
def test_banned_user_gets_403_user_banned(path, staff):
    user = RewardUserFactory()
    token = token_for(user)
    set_ban(user=user, banned=True, reason="fraud", staff=staff)

    response = get(path, token)

    assert response.status_code == 403
    assert response.json()["error"] == "user_banned"
    assert response.json()["message"]


def test_banned_user_cannot_ack(staff):
    user = RewardUserFactory()
    token = token_for(user)
    set_ban(user=user, banned=True, reason="fraud", staff=staff)
    response = Client().post(
        "/api/app/me/postbacks/ack",
        {"ids": [1]},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403
    assert response.json()["error"] == "user_banned"


def test_unbanned_user_is_let_back_in(staff):
    user = RewardUserFactory()
    token = token_for(user)
    set_ban(user=user, banned=True, reason="fraud", staff=staff)
    set_ban(user=user, banned=False, reason="appeal accepted", staff=staff)
    assert get("/api/app/me", token).status_code == 200


# Me and entries


def test_me_shows_the_user_and_available_coins(app, staff):
    user = RewardUserFactory(store_app=app, device_id="device-7")
    adjust_balance(user=user, amount=120, reason="goodwill", staff=staff)

    response = get("/api/app/me", token_for(user))

    assert response.status_code == 200
    assert response.json() == {
        "id": str(user.id),
        "coins": 120,
        "heldCoins": 0,
        "appId": "cashgiraffe",
        "deviceId": "device-7",
    }


def test_me_shows_coins_an_offer_network_holds(app):
    user = RewardUserFactory(store_app=app)
    post_entry(user_id=user.pk, amount=40, kind="offer_hold", key="hold", reference="test", bucket="held")

    body = get("/api/app/me", token_for(user)).json()

    assert (body["coins"], body["heldCoins"]) == (0, 40)


def test_entries_are_newest_first(staff):
    user = RewardUserFactory()
    for amount in (10, -3, 7):
        adjust_balance(user=user, amount=amount, reason="test", staff=staff)

    body = get("/api/app/me/entries", token_for(user)).json()

    assert [(e["amount"], e["balance_after"]) for e in body["results"]] == [(7, 14), (-3, 7), (10, 10)]
    assert body["results"][0]["kind"] == "adjustment"
    assert body["next"] is None


def test_entries_are_cursor_paginated_without_gaps_or_repeats(staff):
    user = RewardUserFactory()
    for amount in range(1, 6):
        adjust_balance(user=user, amount=amount, reason="test", staff=staff)
    token = token_for(user)

    seen, url = [], "/api/app/me/entries?page_size=2"
    while url:
        body = get(url, token).json()
        assert len(body["results"]) <= 2
        seen += [e["amount"] for e in body["results"]]
        url = body["next"]

    assert seen == [5, 4, 3, 2, 1]


def test_invalid_cursor_is_404_in_our_error_format():
    response = get("/api/app/me/entries?cursor=garbage", token_for(RewardUserFactory()))
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# Isolation between users


def test_another_users_token_never_sees_their_balance_or_entries(staff):
    victim, other = RewardUserFactory(), RewardUserFactory()
    adjust_balance(user=victim, amount=500, reason="prize", staff=staff)
    token = token_for(other)

    assert get("/api/app/me", token).json()["id"] == str(other.id)
    assert get("/api/app/me", token).json()["coins"] == 0
    assert get("/api/app/me/entries", token).json()["results"] == []


# Games and install links


def test_games_list_active_games_with_the_seed_install_link(app):
    RewardGameFactory(gid="my_game", name="My Game", play_package="com.example.mygame")
    user = RewardUserFactory(store_app=app)

    body = get("/api/app/games", token_for(user)).json()

    expected_referrer = f"pid%3Dcashgiraffe%26uid%3D{user.id}%26gid%3Dmy_game"
    assert body["results"] == [
        {
            "gid": "my_game",
            "name": "My Game",
            "play_package": "com.example.mygame",
            "install_url": f"https://play.google.com/store/apps/details?id=com.example.mygame&referrer={expected_referrer}",
        }
    ]


def test_install_link_referrer_decodes_to_exactly_pid_uid_gid(app):
    RewardGameFactory(gid="odd.game-1_x", play_package="com.example.odd")
    user = RewardUserFactory(store_app=app)

    url = get("/api/app/games", token_for(user)).json()["results"][0]["install_url"]

    query = parse_qs(urlsplit(url).query, strict_parsing=True)
    assert query == {"id": ["com.example.odd"], "referrer": [f"pid=cashgiraffe&uid={user.id}&gid=odd.game-1_x"]}


def test_inactive_games_and_games_without_a_package_are_left_out():
    RewardGameFactory(gid="live")
    RewardGameFactory(gid="retired", active=False)
    RewardGameFactory(gid="no_package", play_package="")

    body = get("/api/app/games", token_for(RewardUserFactory())).json()

    assert [game["gid"] for game in body["results"]] == ["live"]


def test_each_user_gets_their_own_install_link():
    RewardGameFactory(gid="live")
    first, second = RewardUserFactory(), RewardUserFactory()

    first_url = get("/api/app/games", token_for(first)).json()["results"][0]["install_url"]
    second_url = get("/api/app/games", token_for(second)).json()["results"][0]["install_url"]

    assert str(first.id) in first_url and str(second.id) not in first_url
    assert str(second.id) in second_url


def test_unknown_path_under_the_app_api_is_404():
    assert Client().get(f"/api/app/users/{uuid.uuid4()}").status_code == 404


# Support's way back for an install that lost both its secret and its token


def release(user, admin_client, reason="owner verified by email"):
    return admin_client.post(reverse("admin:ledger_rewarduser_release_install", args=[user.pk]), {"reason": reason})


def reclaim_code(page) -> str:
    return re.search(r'<code id="reclaim-code"[^>]*>([A-Z0-9]+)</code>', page.content.decode())[1]


NEW_SECRET = "after-reinstall-secret-0123456789"


def test_support_gives_the_owner_a_one_time_code_that_gets_the_user_back(app, admin_client):
    old_token = register(install_secret=INSTALL_SECRET).json()["token"]
    user = RewardUser.objects.get()
    assert register(install_secret=NEW_SECRET).status_code == 403

    code = reclaim_code(release(user, admin_client))

    assert get("/api/app/me", old_token).status_code == 401  # whoever held the old token holds nothing now
    assert register(install_secret=NEW_SECRET).status_code == 403  # the device id alone still proves nothing
    assert register(install_secret=NEW_SECRET, reclaim_code=code.lower()).json()["user"]["id"] == str(user.id)
    assert register(install_secret="someone-else-entirely-0123456789", reclaim_code=code).status_code == 403
    assert register(install_secret=NEW_SECRET).status_code == 200  # the new install secret was recorded
    assert LogEntry.objects.get().change_message == "Released the install for re-registration: owner verified by email"
    assert code not in LogEntry.objects.get().change_message


def test_a_reclaim_code_expires(app, admin_client):
    register(install_secret=INSTALL_SECRET)
    code = reclaim_code(release(RewardUser.objects.get(), admin_client))
    RewardUser.objects.update(reclaimable_until=timezone.now() - timedelta(seconds=1))

    assert register(install_secret=NEW_SECRET, reclaim_code=code).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_registrations_racing_with_one_reclaim_code_get_one_token(app, admin_client):
    register(install_secret=INSTALL_SECRET)
    code = reclaim_code(release(RewardUser.objects.get(), admin_client))
    tokens_before = AppToken.objects.count()

    answers = run_concurrently(
        [
            partial(register, install_secret=f"{NEW_SECRET}-{n}", reclaim_code=code, REMOTE_ADDR=f"10.0.2.{n}")
            for n in range(5)
        ]
    )

    assert sorted(answer.status_code for answer in answers) == [200] + [403] * 4
    assert AppToken.objects.count() == tokens_before + 1


def test_releasing_an_install_needs_a_reason_and_the_change_permission(app, admin_client):
    register(install_secret=INSTALL_SECRET)
    user = RewardUser.objects.get()
    viewer = get_user_model().objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_rewarduser"))
    viewer_client = DjangoClient()
    viewer_client.force_login(viewer)

    release(user, admin_client, reason=" ")
    release(user, viewer_client)

    assert RewardUser.objects.get().reclaimable_until is None
    assert AppToken.objects.filter(revoked_at=None).count() == 1


@pytest.mark.parametrize("path", ["/api/app/me", "/api/app/me/entries", "/api/app/me/postbacks", "/api/app/games"])
@pytest.mark.parametrize("format_", ["xml", "api", "json"])
def test_a_format_parameter_is_ignored_not_a_server_error(path, format_):
    token = issue_app_token(user=RewardUserFactory())[1]

    response = Client().get(f"{path}?format={format_}", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
