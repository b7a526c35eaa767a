"""GET /api/app/me as production serves it: the fast lane's one statement on the worker's pool (rewardhub.asgi),
with the answers DRF gives (ledger/tests/test_app_api.py drives the same view through Django's handler)."""

import asyncio
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from psycopg_pool import AsyncConnectionPool

from catalog.tests.factories import StoreAppFactory
from ledger.api import AppMeApi
from ledger.models import AppToken
from ledger.services import adjust_balance, issue_app_token, post_entry, revoke_app_token, set_ban
from ledger.tests.factories import RewardUserFactory
from rewardhub.db import PooledDatabase
from rewardhub.tests.test_asgi import call, serve, serving

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("operator", is_staff=True)


def me(token=None, *, method="GET", path="/api/app/me", headers=None):
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    return (method, path), {"headers": {**auth, **(headers or {})}}


def test_the_app_sees_its_user_coins_and_held_coins(staff):
    user = RewardUserFactory(store_app=StoreAppFactory(pid="cashgiraffe"), device_id="Pixel 8 Zoë")
    adjust_balance(user=user, amount=120, reason="goodwill", staff=staff)
    post_entry(user_id=user.pk, amount=40, kind="offer_hold", key="hold", reference="test", bucket="held")

    (answer,) = serve(me(issue_app_token(user=user)[1]))

    assert answer.status_code == 200
    assert answer.json() == {
        "id": str(user.id),
        "coins": 120,
        "heldCoins": 40,
        "appId": "cashgiraffe",
        "deviceId": "Pixel 8 Zoë",
    }
    assert "Zoë".encode() in answer.content  # UTF-8, as DRF's renderer sends it, not \u escapes
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["allow"] == "GET, HEAD, OPTIONS"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert int(answer.headers["content-length"]) == len(answer.content)


def test_each_token_sees_only_its_own_user(staff):
    victim, other = RewardUserFactory(), RewardUserFactory()
    adjust_balance(user=victim, amount=500, reason="prize", staff=staff)

    (answer,) = serve(me(issue_app_token(user=other)[1]))

    assert (answer.json()["id"], answer.json()["coins"]) == (str(other.id), 0)


def refused(answer, status, code):
    assert (answer.status_code, answer.json()["error"]) == (status, code)
    assert answer.json()["ok"] is False and answer.json()["message"]
    assert answer.headers["allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize("authorization", [None, "Basic abc", "Bearer", "Bearer nope", "Bearer\tno-space"])
def test_a_missing_or_invalid_token_is_401_with_the_bearer_challenge(authorization):
    (answer,) = serve(me(headers={"Authorization": authorization} if authorization else {}))
    refused(answer, 401, "unauthorized")
    assert answer.headers["www-authenticate"] == 'Bearer realm="app"'


def test_a_revoked_token_is_401():
    token, plain = issue_app_token(user=RewardUserFactory())
    revoke_app_token(token=token)
    (answer,) = serve(me(plain))
    refused(answer, 401, "unauthorized")


def test_a_banned_user_is_403(staff):
    user = RewardUserFactory()
    plain = issue_app_token(user=user)[1]
    set_ban(user=user, banned=True, reason="fraud", staff=staff)
    (answer,) = serve(me(plain))
    refused(answer, 403, "user_banned")


def test_failed_authentications_block_the_ip_on_the_whole_app_api(settings):
    plain = issue_app_token(user=RewardUserFactory())[1]
    guesses = [me(f"guess-{n}") for n in range(settings.AUTH_FAILURE_LIMIT)]

    *_, right_guess, other_call = serve(*guesses, me(plain), me(plain, path="/api/app/me/entries"))

    refused(right_guess, 429, "throttled")  # even a right token: guessing stays pointless
    assert right_guess.headers["retry-after"] == str(settings.AUTH_FAILURE_WINDOW)
    assert right_guess.json()["message"].startswith("Too many failed authentications from this IP address.")
    assert other_call.status_code == 429  # DRF's app API, in Django's threads, shares the counters


def test_last_use_is_stamped_at_most_once_a_minute():
    plain = issue_app_token(user=RewardUserFactory())[1]
    recent = timezone.now() - timedelta(seconds=5)
    long_ago = timezone.now() - timedelta(minutes=5)

    serve(me(plain))
    assert AppToken.objects.get().last_used_at is not None
    AppToken.objects.update(last_used_at=recent)
    serve(me(plain))
    assert AppToken.objects.get().last_used_at == recent
    AppToken.objects.update(last_used_at=long_ago)
    serve(me(plain))
    assert AppToken.objects.get().last_used_at > recent


def test_concurrent_launches_with_a_stale_stamp_all_answer_and_stamp_it(settings):
    """Every request finds the stamp stale and races to write it: SKIP LOCKED lets one write while the others
    answer without waiting for its row lock."""
    settings.DB_POOL_SIZE = 8
    plain = issue_app_token(user=RewardUserFactory())[1]

    async def scenario():
        async with serving() as app:
            return await asyncio.gather(*(call(app, *me(plain)[0], **me(plain)[1]) for _ in range(24)))

    answers = asyncio.run(scenario())

    assert [answer.status_code for answer in answers] == [200] * 24
    assert AppToken.objects.get().last_used_at is not None


def test_an_unreachable_database_answers_503():
    plain = issue_app_token(user=RewardUserFactory())[1]
    unreachable = AsyncConnectionPool("host=127.0.0.1 port=1 connect_timeout=1", min_size=1, timeout=0.5, open=False)

    async def scenario():
        await unreachable.open(wait=False)
        async with serving(PooledDatabase(unreachable)) as app:
            return await call(app, *me(plain)[0], **me(plain)[1])

    answer = asyncio.run(scenario())
    assert (answer.status_code, answer.json()["error"]) == (503, "service_unavailable")


UNLIKE_THE_APPS_CALL = {
    "options": (me, {"method": "OPTIONS"}, 200),
    "post": (me, {"method": "POST"}, 405),
    "accept-html": (me, {"headers": {"Accept": "text/html"}}, 406),
    "query-string": (me, {"path": "/api/app/me?format=json"}, 200),
}


@pytest.mark.parametrize("request_for, kwargs, status", UNLIKE_THE_APPS_CALL.values(), ids=UNLIKE_THE_APPS_CALL)
def test_only_the_apps_plain_get_takes_the_fast_lane(monkeypatch, request_for, kwargs, status):
    """Anything else is DRF's to answer, as before; the app's GET never reaches DRF."""
    plain = issue_app_token(user=RewardUserFactory())[1]
    through_drf = []
    drf_dispatch = AppMeApi.dispatch

    def counted(view, request, *args, **kwargs):
        through_drf.append(request.method)
        return drf_dispatch(view, request, *args, **kwargs)

    monkeypatch.setattr(AppMeApi, "dispatch", counted)

    plain_get, other = serve(me(plain), request_for(plain, **kwargs))

    assert (plain_get.status_code, other.status_code) == (200, status)
    assert through_drf == [kwargs.get("method", "GET")]
