"""Failed authentications are throttled per client IP on every API; successful callers never are."""

import hashlib
import hmac
import json
import socket
import time
from unittest import mock

import pytest
from django.core.cache import cache
from redis.exceptions import ConnectionError as RedisConnectionError

from catalog.tests.factories import RewardGameFactory, StoreAppFactory, partner_secret_for
from giveaways.tests.factories import GiveawayFactory, GiveawayProjectFactory, ParticipantFactory
from ledger.services import issue_app_token
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferDelivery
from postbacks.tests.offer_factories import BITLABS_SECRET, USER_ID, WANNADS_SECRET, integration, wannads_path
from rewardhub.testing import Client
from rewardhub.tests.test_deploy_settings import run

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 3
WINDOW = 60
ATTACKER = "198.51.100.7"
BYSTANDER = "198.51.100.8"


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.AUTH_FAILURE_LIMIT = LIMIT
    settings.AUTH_FAILURE_WINDOW = WINDOW
    settings.PUBLIC_BASE_URL = "https://rewards.example.com"


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def user(app):
    return RewardUserFactory(id=USER_ID, store_app=app)


# --- partner postback API ------------------------------------------------------------------------------


def postback(user, secret, ip=ATTACKER, level=1, **extra):
    return Client().post(
        "/api/postback",
        {"pid": "cashgiraffe", "uid": str(user.id), "gid": "my_game", "level_number": level},
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
        REMOTE_ADDR=ip,
        **extra,
    )


def test_partner_api_refuses_an_ip_after_the_failure_limit_in_its_own_error_format(user):
    RewardGameFactory(gid="my_game")
    statuses = [postback(user, f"rh_wrong-{n}").status_code for n in range(LIMIT)]

    response = postback(user, "rh_wrong-again")

    assert statuses == [401] * LIMIT
    assert response.status_code == 429
    assert response.json()["ok"] is False
    assert response.json()["error"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= WINDOW


def test_partner_api_refuses_a_blocked_ip_even_with_the_right_secret(user, app):
    RewardGameFactory(gid="my_game")
    secret = partner_secret_for(app)
    for n in range(LIMIT):
        postback(user, f"rh_wrong-{n}")

    response = postback(user, secret)

    assert response.status_code == 429
    assert user.postbacks.count() == 0


def test_partner_api_keeps_serving_other_ips_while_one_is_blocked(user, app):
    RewardGameFactory(gid="my_game")
    secret = partner_secret_for(app)
    for n in range(LIMIT):
        postback(user, f"rh_wrong-{n}")

    assert postback(user, secret, ip=BYSTANDER).status_code == 200


def test_partner_api_successes_do_not_count_towards_the_limit(user, app):
    RewardGameFactory(gid="my_game")
    secret = partner_secret_for(app)
    for n in range(LIMIT - 1):
        postback(user, f"rh_wrong-{n}")

    statuses = [postback(user, secret, level=level).status_code for level in range(1, 11)]

    assert statuses == [200] * 10


def test_partner_api_unblocks_the_ip_when_the_window_has_passed(user, app):
    RewardGameFactory(gid="my_game")
    secret = partner_secret_for(app)
    for n in range(LIMIT):
        postback(user, f"rh_wrong-{n}")

    with mock.patch("time.time", return_value=time.time() + WINDOW + 1):
        response = postback(user, secret)

    assert response.status_code == 200


def test_a_secret_for_another_pid_counts_as_a_failure(user):
    RewardGameFactory(gid="my_game")
    other_secret = partner_secret_for(StoreAppFactory(pid="other"))
    for _ in range(LIMIT):
        postback(user, other_secret)

    assert postback(user, other_secret).status_code == 429


def test_forwarded_for_is_ignored_without_trusted_proxies(user):
    """A client cannot escape the limit by writing a fresh X-Forwarded-For on each request."""
    RewardGameFactory(gid="my_game")
    for n in range(LIMIT):
        postback(user, f"rh_wrong-{n}", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    assert postback(user, "rh_wrong", HTTP_X_FORWARDED_FOR="203.0.113.99").status_code == 429


def test_behind_a_trusted_proxy_clients_are_told_apart_by_forwarded_for(user, app, settings):
    settings.TRUSTED_PROXY_HOPS = 1
    RewardGameFactory(gid="my_game")
    secret = partner_secret_for(app)
    for n in range(LIMIT):
        postback(user, f"rh_wrong-{n}", ip="10.0.0.1", HTTP_X_FORWARDED_FOR=ATTACKER)

    blocked = postback(user, secret, ip="10.0.0.1", HTTP_X_FORWARDED_FOR=ATTACKER)
    other = postback(user, secret, ip="10.0.0.1", HTTP_X_FORWARDED_FOR=BYSTANDER)

    assert (blocked.status_code, other.status_code) == (429, 200)


# --- reward app API ------------------------------------------------------------------------------------


def app_get(token, ip=ATTACKER):
    return Client().get("/api/app/me", headers={"Authorization": f"Bearer {token}"}, REMOTE_ADDR=ip)


def test_app_api_refuses_an_ip_after_the_failure_limit_in_its_own_error_format(user):
    statuses = [app_get(f"rha_wrong-{n}").status_code for n in range(LIMIT)]

    response = app_get("rha_wrong")

    assert statuses == [401] * LIMIT
    assert response.status_code == 429
    assert (response.json()["ok"], response.json()["error"]) == (False, "throttled")
    assert 0 < int(response["Retry-After"]) <= WINDOW


def test_app_api_refuses_a_blocked_ip_even_with_a_valid_token(user):
    token = issue_app_token(user=user)[1]
    for n in range(LIMIT):
        app_get(f"rha_wrong-{n}")

    assert app_get(token).status_code == 429
    assert app_get(token, ip=BYSTANDER).status_code == 200


# --- offer-network callbacks ---------------------------------------------------------------------------


def test_wannads_callbacks_are_refused_after_bad_signatures_with_an_error_text(app, user):
    wannads = integration(app, "wannads", "wn-slug", WANNADS_SECRET)
    bad = wannads_path(wannads.slug).replace("reward=100", "reward=9999")
    statuses = [Client().get(bad, REMOTE_ADDR=ATTACKER).status_code for _ in range(LIMIT)]

    response = Client().get(wannads_path(wannads.slug), REMOTE_ADDR=ATTACKER)

    assert statuses == [403] * LIMIT
    assert response.status_code == 429
    assert response["Content-Type"] == "text/plain"
    assert response.content.decode().startswith("ERROR: ")
    assert 0 < int(response["Retry-After"]) <= WINDOW
    assert OfferDelivery.objects.count() == LIMIT  # the throttled request wrote nothing
    assert Client().get(wannads_path(wannads.slug), REMOTE_ADDR=BYSTANDER).content == b"OK"


def test_bitlabs_callbacks_are_refused_after_bad_signatures_in_json(app, user):
    bitlabs = integration(app, "bitlabs", "bl-slug", BITLABS_SECRET)
    query = f"uid={USER_ID}&tx=t1&val=10&type=COMPLETE&offer_state=NONE"
    digest = hmac.new(b"wrong", f"https://rewards.example.com/api/callbacks/bl-slug?{query}".encode(), hashlib.sha1)
    for _ in range(LIMIT):
        Client().get(f"/api/callbacks/{bitlabs.slug}?{query}&hash={digest.hexdigest()}", REMOTE_ADDR=ATTACKER)

    response = Client().get(f"/api/callbacks/{bitlabs.slug}?{query}", REMOTE_ADDR=ATTACKER)

    assert response.status_code == 429
    assert json.loads(response.content)["error"] == "throttled"


def test_callbacks_from_a_refused_ip_count_as_failures(app, user):
    wannads = integration(app, "wannads", "wn-slug", WANNADS_SECRET, ip_allowlist="203.0.113.0/28")
    statuses = [Client().get(wannads_path(wannads.slug), REMOTE_ADDR=ATTACKER).status_code for _ in range(LIMIT)]

    assert statuses == [403] * LIMIT
    assert Client().get(wannads_path(wannads.slug), REMOTE_ADDR=ATTACKER).status_code == 429


# --- giveaway host API ---------------------------------------------------------------------------------

API_KEY = "k" * 64


def player_status(track_id, sign, ip=ATTACKER):
    return Client().post(
        "/public/v1/giveaway/player/status",
        {"track_id": track_id, "sign": sign},
        content_type="application/json",
        REMOTE_ADDR=ip,
    )


def test_giveaway_api_refuses_an_ip_after_bad_signatures_in_its_envelope():
    participant = ParticipantFactory(giveaway=GiveawayFactory(project=GiveawayProjectFactory(api_key=API_KEY)))
    good = hmac.new(API_KEY.encode(), f"track_id={participant.track_id}".encode(), hashlib.sha256).hexdigest()
    statuses = [player_status(participant.track_id, "0" * 64).status_code for _ in range(LIMIT)]

    response = player_status(participant.track_id, good)

    assert statuses == [401] * LIMIT
    assert response.status_code == 429
    assert response.json() == {
        "code": 42901,
        "msg": "Too many failed authentications from this IP address.",
        "data": None,
    }
    assert 0 < int(response["Retry-After"]) <= WINDOW
    assert player_status(participant.track_id, good, ip=BYSTANDER).json()["code"] == 10000


def test_the_apis_keep_answering_when_the_shared_cache_is_down(user, app):
    RewardGameFactory(gid="my_game")
    secret = partner_secret_for(app)
    down = RedisConnectionError("Connection refused")

    with mock.patch.object(cache, "get", side_effect=down), mock.patch.object(cache, "add", side_effect=down):
        refused = postback(user, "rh_wrong")
        accepted = postback(user, secret, level=5)

    assert refused.status_code == 401
    assert (accepted.status_code, accepted.json()["coinDelta"]) == (200, 25)


def test_a_shared_cache_that_stops_answering_delays_a_check_by_at_most_its_timeout():
    """Under ASGI the check runs on a worker's event loop: a hung Redis must not stall every request."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never answers
        port = silent.getsockname()[1]
        check = "from rewardhub import auth_throttle; print(auth_throttle.is_blocked('partner', '203.0.113.9'))"
        result = run(["manage.py", "shell", "-c", check], CACHE_URL=f"redis://127.0.0.1:{port}/1", LOG_LEVEL="ERROR")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "None"
