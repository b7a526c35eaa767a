"""rewardhub.wsgi.application serves HOT_PATHS without the middleware stack: callers get the same answers as
through Django's full handler (which the test Client uses), with the same security headers, and a lost database
or a crash is answered as Django would answer it."""

import json
import logging
import time
from io import BytesIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connection
from django.test import Client, RequestFactory
from django.urls import get_resolver

from catalog.tests.factories import RewardGameFactory, StoreAppFactory, partner_secret_for
from giveaways import signing
from giveaways.tests.factories import GiveawayTaskFactory, ParticipantFactory
from ledger.models import LedgerEntry
from ledger.tests.factories import RewardUserFactory
from postbacks.tests.offer_factories import BASE_URL, BITLABS_SECRET, bitlabs_offer, integration
from rewardhub import wsgi
from rewardhub.hot_paths import HotPaths, hot_routes

pytestmark = pytest.mark.django_db


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes):
        self.status_code = int(status.split()[0])
        self.headers = dict(headers)
        self.content = body

    def json(self):
        return json.loads(self.content)


def through_wsgi(request, application=None) -> Answer:
    """One request through the production WSGI entry point, as gunicorn would call it."""
    started = {}

    def start_response(status, headers, exc_info=None):
        started.update(status=status, headers=headers)

    body = b"".join((application or wsgi.application)(request.environ, start_response))
    return Answer(started["status"], started["headers"], body)


@pytest.fixture
def partner():
    app = StoreAppFactory(pid="cashgiraffe")
    RewardGameFactory(gid="my_game")
    return {"user": RewardUserFactory(store_app=app), "secret": partner_secret_for(app)}


def postback(partner, level=5, **overrides):
    body = {"pid": "cashgiraffe", "uid": str(partner["user"].id), "gid": "my_game", "level_number": level}
    return {
        "path": "/api/postback",
        "data": json.dumps({**body, **overrides}),
        "content_type": "application/json",
        "headers": {"Authorization": f"Bearer {partner['secret']}"},
    }


def test_a_postback_through_the_wsgi_entry_point_is_credited_once(partner):
    first = through_wsgi(RequestFactory().post(**postback(partner)))
    repeat = through_wsgi(RequestFactory().post(**postback(partner)))
    assert first.status_code == 200 and first.json()["coinDelta"] == 25
    assert repeat.status_code == 200 and repeat.json()["duplicate"] is True
    assert LedgerEntry.objects.get().amount == 25


CASES = {
    "recorded": {},
    "unknown-uid": {"uid": "00000000-0000-0000-0000-000000000000"},
    "unknown-gid": {"gid": "nope"},
    "bad-level": {"level_number": "five"},
    "unknown-field": {"extra": 1},
    "bad-secret": {"headers": {"Authorization": "Bearer wrong"}},
    "no-secret": {"headers": {}},
    "bad-json": {"data": "{not json"},
    "too-large": {"data": "x" * 20_000},
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_wsgi_entry_point_answers_postbacks_as_the_full_stack_does(partner, case):
    def request(level):  # distinct non-milestone levels, so the second is not a duplicate of the first
        fields = {name: value for name, value in case.items() if name not in ("headers", "data")}
        kwargs = postback(partner, level=level, **fields)
        kwargs["headers"] = case.get("headers", kwargs["headers"])
        kwargs["data"] = case.get("data", kwargs["data"])
        return kwargs

    hot = through_wsgi(RequestFactory().post(**request(level=7)))
    full = Client().post(**request(level=8))
    assert hot.status_code == full.status_code
    assert hot.headers["Content-Type"] == full["Content-Type"]
    assert without_level(hot.json()) == without_level(full.json())


def without_level(body: dict) -> dict:
    return {name: value for name, value in body.items() if name != "level_number"}


def test_hot_answers_carry_the_security_headers_and_a_content_length(partner):
    answer = through_wsgi(RequestFactory().post(**postback(partner)))
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert int(answer.headers["Content-Length"]) == len(answer.content)


def test_a_bitlabs_callback_through_the_wsgi_entry_point_credits_the_user(settings):
    settings.PUBLIC_BASE_URL = BASE_URL
    app = StoreAppFactory()
    user = RewardUserFactory(store_app=app)
    bitlabs = integration(app, "bitlabs", "hot-bitlabs", BITLABS_SECRET)
    answer = through_wsgi(RequestFactory().get(bitlabs_offer(bitlabs.slug, "hot-1", "40", "COMPLETED", uid=user.pk)))
    assert answer.status_code == 200, answer.content
    user.refresh_from_db()
    assert user.coins == 40


def test_a_giveaway_task_callback_through_the_wsgi_entry_point_completes_the_task():
    task = GiveawayTaskFactory(event="sign_up")
    participant = ParticipantFactory(giveaway=task.giveaway)
    signature = signing.sign(task.giveaway.project.api_key, f"track_id={participant.track_id}&event=sign_up&remark=")
    body = {"track_id": participant.track_id, "event": "sign_up", "sign": signature}
    request = RequestFactory().post(
        "/public/v1/giveaway/task/callback", json.dumps(body), content_type="application/json"
    )
    answer = through_wsgi(request)
    assert answer.status_code == 200
    assert answer.json()["code"] == 10000


def test_other_paths_still_go_through_the_full_stack(admin_user):
    answer = through_wsgi(RequestFactory().get("/admin/login/"))
    assert answer.status_code == 200
    assert "csrftoken" in answer.headers.get("Set-Cookie", "")  # CsrfViewMiddleware ran


def test_a_wrong_method_on_a_hot_path_gets_405():
    answer = through_wsgi(RequestFactory().get("/api/postback"))
    assert answer.status_code == 405
    assert answer.json()["error"] == "method_not_allowed"


def test_a_lost_database_on_a_hot_path_answers_503(partner, monkeypatch):
    def unreachable(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("postbacks.api.record_partner_postback", unreachable)
    answer = through_wsgi(RequestFactory().post(**postback(partner)))
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.json()["error"] == "service_unavailable"


def test_a_crash_on_a_hot_path_is_logged_and_answered_500(partner, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("postbacks.api.record_partner_postback", broken)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        answer = through_wsgi(RequestFactory().post(**postback(partner)))
    assert answer.status_code == 500
    assert any(record.exc_info and record.exc_info[0] is RuntimeError for record in caplog.records)


def test_an_https_only_deployment_redirects_plain_http_on_hot_paths_too(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["rewardhub.example.com"]
    application = HotPaths(wsgi.django_application)  # SecurityMiddleware reads its settings when built
    request = RequestFactory().post(
        "/api/postback", b"{}", content_type="application/json", HTTP_HOST="rewardhub.example.com"
    )
    answer = through_wsgi(request, application)
    assert answer.status_code == 301
    assert answer.headers["Location"] == "https://rewardhub.example.com/api/postback"


@pytest.mark.django_db(transaction=True)
def test_a_connection_past_its_max_age_is_replaced_before_the_request(partner):
    connection.ensure_connection()
    old = connection.connection
    connection.close_at = time.monotonic() - 1  # as if CONN_MAX_AGE ran out
    assert through_wsgi(RequestFactory().post(**postback(partner))).status_code == 200
    assert old.closed
    assert connection.connection is not old


def test_hot_paths_must_name_existing_urls():
    with pytest.raises(ImproperlyConfigured, match="no-such-url"):
        hot_routes(get_resolver(), {"partner-postback", "no-such-url"})


def test_request_body_is_read_from_the_wsgi_input(partner):
    """The WSGI server's input stream, not a pre-read copy: gunicorn hands the socket's body reader."""
    request = RequestFactory().post(**postback(partner))
    request.environ["wsgi.input"] = BytesIO(request.environ["wsgi.input"].read())
    assert through_wsgi(request).status_code == 200
