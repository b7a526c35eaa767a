"""rewardhub.asgi.application, as production's uvicorn workers run it: the fast lane on a pool of async
PostgreSQL connections opened at lifespan start-up, everything else through Django's WSGI handler, with the
security headers, and a lost database or a crash answered as Django would answer it. The pool's connections do
not see a test's transaction, so these tests commit their data (transaction=True). Most go through
rewardhub.testing.Client; those that need a scope no client sends, or an application of their own, call it
here directly."""

import asyncio
import json
import logging
from contextlib import asynccontextmanager

import pytest
from a2wsgi import WSGIMiddleware
from django.db import DataError, OperationalError, transaction
from django.urls import reverse
from psycopg_pool import AsyncConnectionPool

from catalog.tests.factories import RewardGameFactory, StoreAppFactory, partner_secret_for
from giveaways import signing
from giveaways.models import CallbackAttempt, TaskProgress
from giveaways.tests.factories import GiveawayTaskFactory, ParticipantFactory
from ledger.models import LedgerEntry
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferDelivery
from postbacks.tests.offer_factories import BASE_URL, BITLABS_SECRET, bitlabs_offer, integration
from rewardhub import asgi
from rewardhub.db import PooledDatabase
from rewardhub.hot_paths import Application
from rewardhub.testing import Client
from rewardhub.testing import serving as serving_for_client
from rewardhub.urls import HOT_PATHS

pytestmark = pytest.mark.django_db(transaction=True)


class Answer:
    def __init__(self, start: dict, body: bytes):
        self.status_code = start["status"]
        self.headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
        self.content = body

    def json(self):
        return json.loads(self.content)


@asynccontextmanager
async def serving(database: PooledDatabase | None = None):
    """The production ASGI application between lifespan start-up and shutdown, as a worker runs it."""
    app = Application(asgi.django_application, HOT_PATHS)
    inbox, outbox = asyncio.Queue(), asyncio.Queue()
    lifespan = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    if database is not None:
        await app.database.close()
        app.database = database
    try:
        yield app
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
        await lifespan


async def call(app, method: str, path: str, *, body: bytes = b"", headers: dict | None = None) -> Answer:
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": [(b"host", b"testserver"), *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.Future()  # the client stays connected

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return Answer(sent[0], b"".join(message.get("body", b"") for message in sent[1:]))


def serve(*requests, database=None) -> list[Answer]:
    async def scenario():
        async with serving(database) as app:
            return [await call(app, *args, **kwargs) for args, kwargs in requests]

    return asyncio.run(scenario())


@pytest.fixture
def partner():
    app = StoreAppFactory(pid="cashgiraffe")
    StoreAppFactory(pid="otherapp")
    RewardGameFactory(gid="my_game")
    return {"user": RewardUserFactory(store_app=app), "secret": partner_secret_for(app)}


def postback(partner, level=5, secret=None, **overrides):
    body = {"pid": "cashgiraffe", "uid": str(partner["user"].id), "gid": "my_game", "level_number": level}
    headers = {"Authorization": f"Bearer {secret or partner['secret']}", "Content-Type": "application/json"}
    return ("POST", "/api/postback"), {"body": json.dumps({**body, **overrides}).encode(), "headers": headers}


def test_a_postback_is_credited_once(partner):
    first, repeat = serve(postback(partner), postback(partner))
    assert first.status_code == 200 and first.json()["coinDelta"] == 25
    assert repeat.status_code == 200 and repeat.json()["duplicate"] is True
    assert LedgerEntry.objects.get().amount == 25


def test_answers_carry_the_security_headers_and_a_content_length(partner):
    (answer,) = serve(postback(partner))
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert int(answer.headers["content-length"]) == len(answer.content)


REFUSALS = {
    "bad-secret": ({"secret": "wrong"}, 401, "unauthorized"),
    "another-partners-pid": ({"pid": "otherapp"}, 401, "unauthorized"),
    "unknown-pid": ({"pid": "nope"}, 400, "unknown_pid"),
    "unknown-uid": ({"uid": "00000000-0000-0000-0000-000000000000"}, 404, "unknown_uid"),
    "bad-body-and-secret": ({"secret": "wrong", "level_number": "five"}, 401, "unauthorized"),
    "bad-body": ({"level_number": "five"}, 400, "invalid_field"),
    "too-large": ({"reason": "x" * 20_000}, 413, "payload_too_large"),
}


@pytest.mark.parametrize("overrides, status, code", REFUSALS.values(), ids=REFUSALS.keys())
def test_refusals_get_their_status_and_code_and_write_nothing(partner, overrides, status, code):
    (answer,) = serve(postback(partner, **overrides))
    assert (answer.status_code, answer.json()["error"]) == (status, code)
    assert not LedgerEntry.objects.exists()


def test_a_failed_statement_leaves_its_connection_answering_the_next():
    """Every statement of a connection runs on its one cursor (rewardhub.db.KeptCursorConnection)."""

    async def scenario():
        database = await PooledDatabase.open(size=1, timeout=5)
        try:
            with pytest.raises(DataError):
                await database.fetchone("SELECT 1 / %(zero)s", {"zero": 0})
            return [await database.fetchone("SELECT %(n)s::int * 2", {"n": n}) for n in (2, 3)]
        finally:
            await database.close()

    assert asyncio.run(scenario()) == [(4,), (6,)]


def test_an_unreachable_database_answers_503(partner):
    unreachable = AsyncConnectionPool("host=127.0.0.1 port=1 connect_timeout=1", min_size=1, timeout=0.5, open=False)

    async def scenario():
        await unreachable.open(wait=False)
        async with serving(PooledDatabase(unreachable)) as app:
            return await call(app, *postback(partner)[0], **postback(partner)[1])

    answer = asyncio.run(scenario())
    assert (answer.status_code, answer.json()["error"]) == (503, "service_unavailable")
    assert answer.headers["retry-after"] == "1"


def test_a_bitlabs_callback_credits_the_user_once(settings):
    settings.PUBLIC_BASE_URL = BASE_URL
    app = StoreAppFactory()
    user = RewardUserFactory(store_app=app)
    integration(app, "bitlabs", "asgi-bitlabs", BITLABS_SECRET)
    url = bitlabs_offer("asgi-bitlabs", "asgi-1", "40", "COMPLETED", uid=user.pk)
    forged_url = url[:-1] + ("1" if url.endswith("0") else "0")  # the hash's last digit changed
    first, repeat, forged = serve((("GET", url), {}), (("GET", url), {}), (("GET", forged_url), {}))
    assert (first.status_code, repeat.status_code, forged.status_code) == (200, 200, 403)
    assert repeat.json()["result"] == "duplicate"
    user.refresh_from_db()
    assert user.coins == 40
    assert list(OfferDelivery.objects.order_by("id").values_list("verdict", flat=True)) == [
        "accepted",
        "duplicate",
        "bad_signature",
    ]


def test_a_query_string_that_is_not_utf8_is_refused_not_a_crash(settings):
    settings.PUBLIC_BASE_URL = BASE_URL
    integration(StoreAppFactory(), "bitlabs", "asgi-bytes", BITLABS_SECRET)
    (answer,) = serve((("GET", "/api/callbacks/asgi-bytes?uid=\xff&tx=1&hash=0"), {}))
    assert answer.status_code == 403


def giveaway_task_call(participant, event="sign_up"):
    signature = signing.sign(
        participant.giveaway.project.api_key, f"track_id={participant.track_id}&event={event}&remark="
    )
    body = json.dumps({"track_id": participant.track_id, "event": event, "sign": signature}).encode()
    return ("POST", "/public/v1/giveaway/task/callback"), {
        "body": body,
        "headers": {"Content-Type": "application/json"},
    }


def test_a_giveaway_task_callback_completes_the_task():
    task = GiveawayTaskFactory(event="sign_up")
    participant = ParticipantFactory(giveaway=task.giveaway)
    (answer,) = serve(giveaway_task_call(participant))
    assert (answer.status_code, answer.json()["code"]) == (200, 10000)
    assert TaskProgress.objects.get(participant=participant).completed_at is not None


def test_a_test_participants_callback_is_recorded_for_the_host_to_check():
    task = GiveawayTaskFactory(event="sign_up")
    tester = ParticipantFactory(giveaway=task.giveaway, is_test=True)
    (answer,) = serve(giveaway_task_call(tester))
    assert answer.status_code == 200
    assert CallbackAttempt.objects.get(participant=tester).signature_valid


def test_other_paths_go_through_djangos_full_stack():
    (answer,) = serve((("GET", "/admin/login/"), {}))
    assert answer.status_code == 200
    assert "csrftoken" in answer.headers.get("set-cookie", "")


def test_a_header_named_with_underscores_cannot_pose_as_another_for_django():
    seen = {}

    def remember(environ, start_response):
        seen["forwarded_for"] = environ.get("HTTP_X_FORWARDED_FOR")
        start_response("200 OK", [])
        return [b""]

    async def scenario():
        async with serving() as app:
            app.django = WSGIMiddleware(remember)
            return await call(app, "GET", "/api/app/games", headers={"X_Forwarded_For": "203.0.113.9"})

    assert asyncio.run(scenario()).status_code == 200
    assert seen["forwarded_for"] is None


def test_healthz_answers_for_the_pool_that_serves_the_hot_paths():
    unreachable = AsyncConnectionPool("host=127.0.0.1 port=1 connect_timeout=1", min_size=1, timeout=0.5, open=False)

    async def scenario():
        async with serving() as healthy:
            up = await call(healthy, "GET", "/healthz")
        await unreachable.open(wait=False)
        async with serving(PooledDatabase(unreachable)) as broken:  # Django's own connection still works
            return up, await call(broken, "GET", "/healthz")

    up, down = asyncio.run(scenario())
    assert (up.status_code, up.json()) == (200, {"ok": True})
    assert down.status_code == 503


def client_postback(partner, level=5):
    body = {"pid": "cashgiraffe", "uid": str(partner["user"].id), "gid": "my_game", "level_number": level}
    return Client().post(
        "/api/postback",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {partner['secret']}"},
    )


def test_fast_lane_answers_carry_every_security_header(partner):
    answer = client_postback(partner)
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert answer["X-Frame-Options"] == "DENY"
    assert answer["Referrer-Policy"] == "same-origin"


def test_a_wrong_method_on_the_fast_lane_gets_405():
    answer = Client().get("/api/postback")
    assert (answer.status_code, answer["Allow"]) == (405, "POST")
    assert answer.json()["error"] == "method_not_allowed"


def test_a_lost_database_on_the_fast_lane_answers_503(partner, monkeypatch):
    async def unreachable(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("postbacks.partner.api.record_partner_postback", unreachable)
    answer = client_postback(partner)
    assert (answer.status_code, answer["Retry-After"]) == (503, "1")
    assert answer.json()["error"] == "service_unavailable"


def test_a_crash_on_the_fast_lane_is_logged_and_answered_500(partner, monkeypatch, caplog):
    async def broken(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("postbacks.partner.api.record_partner_postback", broken)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        answer = client_postback(partner)
    assert answer.status_code == 500
    assert any(record.exc_info and record.exc_info[0] is RuntimeError for record in caplog.records)


def test_an_https_only_deployment_redirects_plain_http_on_the_fast_lane_too(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["rewardhub.example.com"]
    # SecurityMiddleware reads its settings when built: an application of its own, built with them.
    with serving_for_client(Application(asgi.django_application, HOT_PATHS)):
        answer = Client().post(
            "/api/postback", b"{}", content_type="application/json", HTTP_HOST="rewardhub.example.com"
        )
    assert answer.status_code == 301
    assert answer["Location"] == "https://rewardhub.example.com/api/postback"


def test_fast_lane_routes_keep_their_url_names_for_links():
    assert reverse("offer-callback", args=["bl"]) == "/api/callbacks/bl"
    assert reverse("giveaway-task-callback") == "/public/v1/giveaway/task/callback"


def test_the_client_refuses_a_test_whose_transaction_the_application_cannot_see():
    with transaction.atomic(), pytest.raises(RuntimeError, match="transaction=True"):
        Client().get("/healthz")
