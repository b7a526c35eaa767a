"""Refused partner postbacks and giveaway callbacks are kept (rewardhub.refused_calls): each kind with its code,
none of them with the secret or signature it carried, nothing for accepted calls, scanners or locked-out IPs."""

import asyncio
import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.forms.models import model_to_dict
from django.utils import timezone
from redis.exceptions import RedisError

from catalog.tests.factories import RewardGameFactory, StoreAppFactory, partner_secret_for
from giveaways.signing import sign
from giveaways.tests.factories import GiveawayFactory, GiveawayProjectFactory, GiveawayTaskFactory, ParticipantFactory
from ledger.tests.factories import RewardUserFactory
from rewardhub import auth_throttle, refused_calls, retention
from rewardhub.errors import unauthorized
from rewardhub.models import RefusedCall
from rewardhub.testing import Client

pytestmark = pytest.mark.django_db(transaction=True)

PARTNER_IP = "203.0.113.5"
WRONG_SECRET = "rh_wrong-secret-do-not-store"
API_KEY = "k" * 64
FORGED_SIGN = "f00d" * 16


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def user(app):
    return RewardUserFactory(store_app=app)


@pytest.fixture
def game():
    return RewardGameFactory(gid="my_game")


@pytest.fixture
def secret(app):
    return partner_secret_for(app)


def postback(body, secret=None, raw=None):
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    data = raw if raw is not None else json.dumps(body)
    return Client().post(
        "/api/postback", data=data, content_type="application/json", headers=headers, REMOTE_ADDR=PARTNER_IP
    )


def body_for(user, level=5, **changes):
    return {"pid": "cashgiraffe", "uid": str(user.id), "gid": "my_game", "level_number": level, **changes}


def the_row() -> RefusedCall:
    (row,) = RefusedCall.objects.all()
    return row


def row_text(row: RefusedCall) -> str:
    return json.dumps(model_to_dict(row), default=str)


# --- partner postbacks --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "use_secret", "code", "status"),
    [
        ({}, "none", "unauthorized", 401),
        ({}, "wrong", "unauthorized", 401),
        ({"gid": "no_such_game"}, "valid", "unknown_gid", 400),
        ({"uid": "a1b2c3d4-e5f6-7890-abcd-ef1234567890"}, "valid", "unknown_uid", 404),
        ({"pid": "nobody"}, "valid", "unknown_pid", 400),
    ],
)
def test_a_refused_postback_is_kept_with_its_code_and_what_it_named(
    user, game, secret, changes, use_secret, code, status
):
    sent_secret = {"none": None, "wrong": WRONG_SECRET, "valid": secret}[use_secret]
    body = body_for(user, **changes)

    response = postback(body, sent_secret)

    row = the_row()
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert (row.source, row.code, row.status, row.message) == (
        "partner_postback",
        code,
        status,
        response.json()["message"],
    )
    assert (row.pid, row.user_id, row.gid, row.level_number) == (body["pid"], body["uid"], body["gid"], 5)
    assert (row.source_ip, row.path) == (PARTNER_IP, "/api/postback")
    assert secret not in row_text(row) and WRONG_SECRET not in row_text(row)


def test_an_inactive_game_is_kept_as_game_inactive(user, secret):
    RewardGameFactory(gid="my_game", active=False)

    assert postback(body_for(user), secret).status_code == 400

    assert (the_row().code, the_row().gid) == ("game_inactive", "my_game")


def test_another_partners_pid_is_kept_as_unauthorized_under_the_pid_it_named(user, game):
    other_secret = partner_secret_for(StoreAppFactory(pid="other"))

    assert postback(body_for(user), other_secret).status_code == 401

    row = the_row()
    assert (row.code, row.pid) == ("unauthorized", "cashgiraffe")
    assert other_secret not in row_text(row)


def test_a_malformed_body_with_a_valid_secret_is_kept_under_the_secrets_pid(secret):
    assert postback(None, secret, raw=b"{not json").status_code == 400

    row = the_row()
    assert (row.code, row.status, row.pid, row.user_id) == ("invalid_json", 400, "cashgiraffe", "")
    assert secret not in row_text(row)


def test_a_secret_sent_in_the_body_is_not_kept(user, game, secret):
    response = postback(body_for(user, secret=secret), secret)

    assert response.json()["error"] == "unknown_field"
    assert secret not in row_text(the_row())


def test_unstorable_text_in_a_refusal_is_kept_without_a_500(secret):
    raw = b'{"bad\\u0000key\\ud800": 1}'

    response = postback(None, secret, raw=raw)

    assert response.status_code == 400
    assert "\x00" not in the_row().message


def test_an_accepted_postback_keeps_nothing_and_costs_no_statement_more(user, game, secret, assert_num_statements):
    with assert_num_statements(1):  # the one statement of the accepted path (test_partner_api counts it too)
        assert postback(body_for(user, 5), secret).status_code == 200
    assert postback(body_for(user, 5), secret).json()["duplicate"] is True

    assert not RefusedCall.objects.exists()


def test_a_refusal_costs_one_insert(user, game, secret, assert_num_statements):
    postback(body_for(user, 1), secret)  # the secret's last-use stamp, written at most once a minute
    with assert_num_statements(2):  # the postback's statement, the refusal's INSERT
        postback(body_for(user, gid="no_such_game"), secret)


def test_nothing_is_kept_once_the_ip_is_locked_out(user, game, settings):
    settings.AUTH_FAILURE_LIMIT = 3
    statuses = [postback(body_for(user), f"{WRONG_SECRET}-{n}").status_code for n in range(5)]

    assert statuses == [401, 401, 401, 429, 429]
    assert RefusedCall.objects.count() == 3


def test_while_the_throttle_is_down_only_authenticated_refusals_are_kept(user, game, secret):
    auth_throttle.outage.began(RedisError("down"))  # nothing would bound unauthenticated ones

    assert postback(body_for(user), WRONG_SECRET).status_code == 401
    assert postback(body_for(user, gid="no_such_game"), secret).status_code == 400

    assert the_row().code == "unknown_gid"


def test_a_refusal_is_still_answered_when_it_cannot_be_recorded(caplog):
    class Unreachable:
        async def execute(self, sql, params):
            raise OperationalError("connection refused")

    call = refused_calls.record_refused_call(
        Unreachable(),
        source=RefusedCall.Source.PARTNER_POSTBACK,
        refused=unauthorized(),
        status=401,
        source_ip=None,
        path="/api/postback",
        unauthenticated=True,
    )

    assert asyncio.run(call) is None
    assert "not recorded (OperationalError)" in caplog.text


def test_a_wrong_method_is_not_kept():
    assert Client().get("/api/postback").status_code == 405

    assert not RefusedCall.objects.exists()


# --- giveaway callbacks -------------------------------------------------------------------------------------


@pytest.fixture
def participant():
    giveaway = GiveawayFactory(project=GiveawayProjectFactory(api_key=API_KEY))
    GiveawayTaskFactory(giveaway=giveaway, event="sign_up")
    return ParticipantFactory(giveaway=giveaway)


def callback(url, **body):
    return Client().post(url, data=json.dumps(body), content_type="application/json", REMOTE_ADDR=PARTNER_IP)


def test_a_real_participants_bad_signature_is_kept_without_the_signature(participant):
    response = callback(
        "/public/v1/giveaway/task/callback", track_id=participant.track_id, event="sign_up", sign=FORGED_SIGN
    )

    row = the_row()
    assert response.status_code == 401
    assert (row.source, row.code, row.status) == ("giveaway_callback", "bad_signature", 401)
    assert (row.giveaway_id, row.user_id, row.event) == (participant.giveaway_id, participant.track_id, "sign_up")
    assert row.source_ip == PARTNER_IP
    assert FORGED_SIGN not in row_text(row) and API_KEY not in row_text(row)


def test_a_bad_signature_on_the_status_endpoint_is_kept(participant):
    assert (
        callback("/public/v1/giveaway/player/status", track_id=participant.track_id, sign=FORGED_SIGN).status_code
        == 401
    )

    assert (the_row().code, the_row().path) == ("bad_signature", "/public/v1/giveaway/player/status")


def test_a_signed_callback_for_an_unknown_event_is_kept(participant):
    data = f"track_id={participant.track_id}&event=nope&remark="
    response = callback(
        "/public/v1/giveaway/task/callback", track_id=participant.track_id, event="nope", sign=sign(API_KEY, data)
    )

    assert response.status_code == 404
    assert (the_row().code, the_row().event) == ("unknown_event", "nope")


def test_a_scanners_unknown_track_id_is_not_kept(participant):
    response = callback("/public/v1/giveaway/task/callback", track_id="no-such-track-id", event="x", sign=FORGED_SIGN)

    assert response.status_code == 404
    assert not RefusedCall.objects.exists()


# --- retention ----------------------------------------------------------------------------------------------


def kept(days_ago: float) -> RefusedCall:
    row = RefusedCall.objects.create(source="partner_postback", code="unauthorized", message="m", status=401, path="/")
    RefusedCall.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return row


def test_pruning_deletes_only_rows_older_than_the_retention(settings, monkeypatch):
    settings.REFUSED_CALL_RETENTION_DAYS = 30
    monkeypatch.setattr(retention, "PRUNE_BATCH", 2)  # several batches
    old = [kept(40), kept(35), kept(31), kept(30.5), kept(31)]
    recent = [kept(29), kept(1), kept(0)]

    out = io.StringIO()
    call_command("prune_logs", stdout=out)

    assert set(RefusedCall.objects.values_list("pk", flat=True)) == {row.pk for row in recent}
    assert f"Deleted {len(old)} refused call(s)" in out.getvalue()


def test_pruning_an_empty_table_deletes_nothing():
    assert list(refused_calls.prune_refused_calls(older_than=timedelta(days=1), now=timezone.now())) == [0]
