import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from giveaways.codes import ERROR_CODES
from giveaways.models import CallbackAttempt, DrawWinner, Giveaway, GiveawayTask, TaskProgress
from giveaways.services import draw_giveaway, rotate_api_key
from giveaways.tests.factories import (
    GiveawayFactory,
    GiveawayProjectFactory,
    GiveawayRewardFactory,
    GiveawayTaskFactory,
    ParticipantFactory,
    complete_all_tasks,
)
from rewardhub.testing import Client

pytestmark = pytest.mark.django_db(transaction=True)

# The API key printed in seed 001; track_id from seed 000.
API_KEY = "3lhpTSAJd6XDgBe4XWcozob4iMmYUlkPc9c4fwnoydGk4Bh5lSA3qrSiqgXeJcX7"
TRACK_ID = "MVNHLLEEwIR"
# Precomputed with `printf '%s' "<string>" | openssl dgst -sha256 -hmac "$API_KEY"`.
SIGN_SIGN_UP_WITH_REMARK = "e7c4b187b81501a40f52d7366e8463e2cdbad563851e37f55ce7fa63b016931c"  # …&remark=remark
SIGN_SIGN_UP_EMPTY_REMARK = "8a539ff1455f00b1e03bc5a2bb94265c6d6688abd18db6f5537e91379864692d"  # …&remark=
SIGN_SIGN_UP_NO_REMARK = "14edc24f20022045d26381b158462a17696c5f4fcb013f38a9d36d45c665a144"  # …&event=sign_up
SIGN_LIKES_VALUE_3 = "067262c64742abe6a0051927f201f8a96bb747d6cc3bd9fbdf49ee1a4f43aa2c"  # …&value=3&remark=
SIGN_TRACK_ID = "efeba945aff58c664c344ee340c20843afeeac7b35ca7bf3db4f8c850ffcf239"  # track_id=MVNHLLEEwIR
SIGN_SEND = "ec83cd1a5ba03f1e1fd4f77cc9e0fc3ef94a3a51ea93e1cbd9f5becd1059c137"  # …&event=send&remark=

TASK_URL = "/public/v1/giveaway/task/callback"
STATUS_URL = "/public/v1/giveaway/player/status"
PRIZE_URL = "/public/v1/giveaway/prize/callback"


@pytest.fixture
def giveaway():
    return GiveawayFactory(project=GiveawayProjectFactory(api_key=API_KEY))


@pytest.fixture
def sign_up(giveaway):
    return GiveawayTaskFactory(giveaway=giveaway, event="sign_up")


@pytest.fixture
def likes(giveaway):
    return GiveawayTaskFactory(
        giveaway=giveaway, kind=GiveawayTask.Kind.CUSTOM, event="like_articles", required_amount=3
    )


@pytest.fixture
def participant(giveaway):
    return ParticipantFactory(giveaway=giveaway, track_id=TRACK_ID)


def post(url, body, client=None, **kwargs):
    return (client or Client()).post(url, data=json.dumps(body), content_type="application/json", **kwargs)


def sign_up_body(sign=SIGN_SIGN_UP_WITH_REMARK, **extra):
    return {"track_id": TRACK_ID, "event": "sign_up", "remark": "remark", "sign": sign, **extra}


def likes_body(value, sign):
    return {"track_id": TRACK_ID, "event": "like_articles", "value": value, "sign": sign}


def hmac_hex(data: str) -> str:
    """Computed here with the standard library, independently of giveaways.signing."""
    import hashlib
    import hmac

    return hmac.new(API_KEY.encode(), data.encode(), hashlib.sha256).hexdigest()


def progress(participant, task):
    return TaskProgress.objects.filter(participant=participant, task=task).first()


def win(participant, giveaway):
    """Make `participant` the only entrant, end the giveaway and draw it."""
    reward = GiveawayRewardFactory(giveaway=giveaway, tag="custom_reward1")
    complete_all_tasks(participant)
    Giveaway.objects.filter(pk=giveaway.pk).update(
        starts_at=timezone.now() - timedelta(days=3), ends_at=timezone.now() - timedelta(minutes=1)
    )
    draw_giveaway(giveaway=Giveaway.objects.get(pk=giveaway.pk))
    return reward


# --- signature -----------------------------------------------------------------------------------------


def test_seed_signature_with_remark_completes_the_task(participant, sign_up):
    response = post(TASK_URL, sign_up_body())

    assert response.status_code == 200
    assert response.json() == {
        "code": 10000,
        "msg": "Success",
        "data": {"event": "sign_up", "task_completed": True, "value": 1, "required": 1},
    }
    assert progress(participant, sign_up).completed_at is not None


@pytest.mark.parametrize("sign", [SIGN_SIGN_UP_EMPTY_REMARK, SIGN_SIGN_UP_NO_REMARK])
def test_without_remark_both_string_forms_are_accepted(participant, sign_up, sign):
    response = post(TASK_URL, {"track_id": TRACK_ID, "event": "sign_up", "sign": sign})

    assert response.json()["code"] == 10000


def test_empty_remark_sent_signs_the_form_ending_in_remark(participant, sign_up):
    response = post(TASK_URL, sign_up_body(sign=SIGN_SIGN_UP_EMPTY_REMARK, remark=""))

    assert response.json()["code"] == 10000


def test_uppercase_hex_signature_is_accepted(participant, sign_up):
    response = post(TASK_URL, sign_up_body(sign=SIGN_SIGN_UP_WITH_REMARK.upper()))

    assert response.json()["code"] == 10000


def test_value_is_part_of_the_signed_string(participant, likes):
    response = post(TASK_URL, likes_body(3, SIGN_LIKES_VALUE_3))

    assert response.json()["data"]["task_completed"] is True


def test_value_as_a_digit_string_signs_the_same(participant, likes):
    response = post(TASK_URL, likes_body("3", SIGN_LIKES_VALUE_3))

    assert response.json()["code"] == 10000


def test_signature_without_value_does_not_cover_a_value(participant, likes):
    response = post(TASK_URL, likes_body(3, hmac_hex(f"track_id={TRACK_ID}&event=like_articles&remark=")))

    assert response.status_code == 401
    assert response.json() == {"code": 40101, "msg": "Bad signature.", "data": None}


def test_bad_signature_writes_nothing(participant, sign_up):
    response = post(TASK_URL, sign_up_body(sign="0" * 64))

    assert (response.status_code, response.json()["code"]) == (401, 40101)
    assert not TaskProgress.objects.exists()
    assert not CallbackAttempt.objects.exists()  # attempts are only kept for test participants


def test_signature_with_another_projects_key_is_refused(sign_up):
    other = GiveawayFactory()  # its own random key
    ParticipantFactory(giveaway=other, track_id=TRACK_ID)
    GiveawayTaskFactory(giveaway=other, event="sign_up")

    response = post(TASK_URL, sign_up_body())

    assert response.json()["code"] == 40101


def test_signature_over_a_changed_remark_is_refused(participant, sign_up):
    response = post(TASK_URL, sign_up_body(remark="remark "))  # whitespace is signed, never trimmed

    assert response.json()["code"] == 40101


def test_callbacks_need_no_csrf_token(participant, sign_up):
    response = post(TASK_URL, sign_up_body(), client=Client(enforce_csrf_checks=True))

    assert response.status_code == 200


def test_form_encoded_callback_is_accepted(participant, sign_up):
    body = urlencode(sign_up_body())

    response = Client().post(TASK_URL, data=body, content_type="application/x-www-form-urlencoded")

    assert response.json()["code"] == 10000


# --- error codes ---------------------------------------------------------------------------------------


def test_unknown_track_id(sign_up):
    response = post(TASK_URL, sign_up_body())

    assert response.status_code == 404
    assert response.json() == {"code": 40401, "msg": "Unknown track_id.", "data": None}


def test_unknown_event_writes_nothing(participant, sign_up):
    body = {"track_id": TRACK_ID, "event": "deposit", "sign": hmac_hex(f"track_id={TRACK_ID}&event=deposit&remark=")}

    response = post(TASK_URL, body)

    assert (response.status_code, response.json()["code"]) == (404, 40402)
    assert not TaskProgress.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"ends_at": timezone.now() - timedelta(minutes=1), "starts_at": timezone.now() - timedelta(days=2)},
        {"starts_at": timezone.now() + timedelta(hours=1), "ends_at": timezone.now() + timedelta(days=2)},
        {"status": Giveaway.Status.DRAFT},
        {"status": Giveaway.Status.CANCELLED},
    ],
    ids=["ended", "not-started", "draft", "cancelled"],
)
def test_task_outside_the_running_giveaway_is_refused(giveaway, participant, sign_up, change):
    Giveaway.objects.filter(pk=giveaway.pk).update(**change)

    response = post(TASK_URL, sign_up_body())

    assert (response.status_code, response.json()["code"]) == (409, 40901)
    assert not TaskProgress.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"event": "sign_up", "sign": SIGN_SIGN_UP_NO_REMARK},
        {"track_id": TRACK_ID, "sign": SIGN_SIGN_UP_NO_REMARK},
        {"track_id": TRACK_ID, "event": "sign_up"},
        {"track_id": TRACK_ID, "event": "sign_up", "value": -1, "sign": SIGN_SIGN_UP_NO_REMARK},
        {"track_id": TRACK_ID, "event": "sign_up", "value": 1.5, "sign": SIGN_SIGN_UP_NO_REMARK},
        {"track_id": TRACK_ID, "event": "sign_up", "value": True, "sign": SIGN_SIGN_UP_NO_REMARK},
        {"track_id": TRACK_ID, "event": "sign_up", "value": "3a", "sign": SIGN_SIGN_UP_NO_REMARK},
        {"track_id": TRACK_ID, "event": "sign_up", "value": 2**31, "sign": SIGN_SIGN_UP_NO_REMARK},
        {"track_id": ["x"], "event": "sign_up", "sign": SIGN_SIGN_UP_NO_REMARK},
    ],
    ids=["no-track-id", "no-event", "no-sign", "negative", "fraction", "boolean", "not-digits", "too-big", "list"],
)
def test_invalid_parameters(participant, sign_up, body):
    response = post(TASK_URL, body)

    assert response.status_code == 400
    assert response.json()["code"] == 40001
    assert response.json()["data"] is None
    assert not TaskProgress.objects.exists()


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"'])
def test_body_that_is_not_a_json_object(participant, raw):
    response = Client().post(TASK_URL, data=raw, content_type="application/json")

    assert (response.status_code, response.json()["code"]) == (400, 40001)


def test_unsupported_content_type(participant):
    response = Client().post(TASK_URL, data="track_id", content_type="text/plain")

    assert (response.status_code, response.json()["code"]) == (415, 40001)


@pytest.mark.parametrize("url", [TASK_URL, STATUS_URL, PRIZE_URL])
def test_only_post_is_accepted(url):
    response = Client().get(url)

    assert (response.status_code, response.json()["code"]) == (405, 40501)


def test_amount_task_without_value_is_invalid(participant, likes):
    body = {
        "track_id": TRACK_ID,
        "event": "like_articles",
        "sign": hmac_hex(f"track_id={TRACK_ID}&event=like_articles"),
    }

    response = post(TASK_URL, body)

    assert (response.status_code, response.json()["code"]) == (400, 40001)
    assert not TaskProgress.objects.exists()


def test_every_error_code_is_documented_in_the_schema():
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()

    for code in ERROR_CODES:
        assert f"`{code.value}`" in schema


# --- amounts and retries -------------------------------------------------------------------------------


def likes_at(value):
    return likes_body(value, hmac_hex(f"track_id={TRACK_ID}&event=like_articles&value={value}&remark="))


def test_running_total_below_the_amount_does_not_complete(participant, likes):
    response = post(TASK_URL, likes_at(2))

    assert response.json()["data"] == {"event": "like_articles", "task_completed": False, "value": 2, "required": 3}
    assert progress(participant, likes).completed_at is None


def test_running_total_reaching_the_amount_completes(participant, likes):
    post(TASK_URL, likes_at(1))
    post(TASK_URL, likes_at(2))
    response = post(TASK_URL, likes_at(3))

    assert response.json()["data"]["task_completed"] is True
    assert progress(participant, likes).amount == 3


def test_lower_total_after_completion_changes_nothing(participant, likes):
    post(TASK_URL, likes_at(3))
    completed_at = progress(participant, likes).completed_at

    response = post(TASK_URL, likes_at(1))

    assert response.json()["data"] == {"event": "like_articles", "task_completed": True, "value": 3, "required": 3}
    assert progress(participant, likes).completed_at == completed_at


def test_retried_callback_is_harmless(participant, sign_up):
    first = post(TASK_URL, sign_up_body())
    completed_at = progress(participant, sign_up).completed_at

    second = post(TASK_URL, sign_up_body())

    assert second.json() == first.json()
    assert TaskProgress.objects.count() == 1
    assert progress(participant, sign_up).completed_at == completed_at


# --- a participant whose callback this process verified --------------------------------------------
# Their next callbacks skip the read (one statement on PostgreSQL); whatever changed since must still count.


@pytest.fixture
def known(participant, sign_up, likes):
    assert post(TASK_URL, sign_up_body()).json()["code"] == 10000
    return participant


def test_known_participants_next_task_is_recorded(known, likes):
    response = post(TASK_URL, likes_at(2))

    assert response.json()["data"] == {"event": "like_articles", "task_completed": False, "value": 2, "required": 3}
    assert progress(known, likes).amount == 2


def test_another_projects_participant_signed_with_a_known_key_is_refused(known):
    """A host whose key this process knows signs a callback for another project's participant: nothing is
    recorded for it, and the answer is the other project's bad signature."""
    other = GiveawayFactory(project=GiveawayProjectFactory(api_key="another-project-key-" + "x" * 44))
    task = GiveawayTaskFactory(giveaway=other, event="sign_up")
    ParticipantFactory(giveaway=other, track_id="OTHERPROJECT")
    body = {"track_id": "OTHERPROJECT", "event": "sign_up", "remark": "remark"}
    body["sign"] = hmac_hex("track_id=OTHERPROJECT&event=sign_up&remark=remark")

    response = post(TASK_URL, body)

    assert (response.status_code, response.json()["code"]) == (401, 40101)
    assert not TaskProgress.objects.filter(task=task).exists()


def test_known_participant_signing_with_a_rotated_out_key_is_refused(known, giveaway, likes):
    rotate_api_key(project=giveaway.project)

    response = post(TASK_URL, likes_at(2))

    assert (response.status_code, response.json()["code"]) == (401, 40101)
    assert not TaskProgress.objects.filter(task=likes).exists()


def test_known_participant_after_the_giveaway_ended_is_refused(known, giveaway, likes):
    Giveaway.objects.filter(pk=giveaway.pk).update(ends_at=timezone.now() - timedelta(seconds=1))

    response = post(TASK_URL, likes_at(2))

    assert (response.status_code, response.json()["code"]) == (409, 40901)
    assert not TaskProgress.objects.filter(task=likes).exists()


@pytest.mark.parametrize(
    "change",
    [
        {"starts_at": timezone.now() + timedelta(hours=1), "ends_at": timezone.now() + timedelta(days=2)},
        {"status": Giveaway.Status.DRAFT},
        {"status": Giveaway.Status.CANCELLED},
    ],
    ids=["not-started", "draft", "cancelled"],
)
def test_known_key_outside_the_running_giveaway_is_refused(known, giveaway, likes, change):
    Giveaway.objects.filter(pk=giveaway.pk).update(**change)

    response = post(TASK_URL, likes_at(2))

    assert (response.status_code, response.json()["code"]) == (409, 40901)
    assert not TaskProgress.objects.filter(task=likes).exists()


def test_known_key_with_an_event_of_another_giveaway_of_the_project_is_refused(known, giveaway):
    deposit = GiveawayTaskFactory(giveaway=GiveawayFactory(project=giveaway.project), event="deposit")
    body = {"track_id": TRACK_ID, "event": "deposit", "sign": hmac_hex(f"track_id={TRACK_ID}&event=deposit&remark=")}

    response = post(TASK_URL, body)

    assert (response.status_code, response.json()["code"]) == (404, 40402)
    assert not TaskProgress.objects.filter(task=deposit).exists()


def test_known_participant_with_an_unknown_event_is_refused(known):
    body = {"track_id": TRACK_ID, "event": "deposit", "sign": hmac_hex(f"track_id={TRACK_ID}&event=deposit&remark=")}

    response = post(TASK_URL, body)

    assert (response.status_code, response.json()["code"]) == (404, 40402)


def test_known_participant_without_the_value_an_amount_task_needs_is_refused(known, likes):
    sign = hmac_hex(f"track_id={TRACK_ID}&event=like_articles")
    body = {"track_id": TRACK_ID, "event": "like_articles", "sign": sign}

    response = post(TASK_URL, body)

    assert (response.status_code, response.json()["code"]) == (400, 40001)
    assert not TaskProgress.objects.filter(task=likes).exists()


def test_remark_is_kept_with_the_progress(participant, sign_up):
    post(TASK_URL, sign_up_body())

    assert progress(participant, sign_up).last_remark == "remark"


# --- player status -------------------------------------------------------------------------------------


def test_status_before_any_task(participant, sign_up):
    response = post(STATUS_URL, {"track_id": TRACK_ID, "sign": SIGN_TRACK_ID})

    assert response.json() == {
        "code": 10000,
        "msg": "Success",
        "data": {"status": {"task_completed": False, "won": False}, "reward_tag": None},
    }


def test_status_after_every_task(participant, sign_up, likes):
    post(TASK_URL, sign_up_body())
    post(TASK_URL, likes_at(3))

    response = post(STATUS_URL, {"track_id": TRACK_ID, "sign": SIGN_TRACK_ID})

    assert response.json()["data"]["status"] == {"task_completed": True, "won": False}


def test_status_of_a_winner_carries_the_reward_tag(giveaway, participant, sign_up):
    win(participant, giveaway)

    response = post(STATUS_URL, {"track_id": TRACK_ID, "sign": SIGN_TRACK_ID})

    assert response.json()["data"] == {"status": {"task_completed": True, "won": True}, "reward_tag": "custom_reward1"}


def test_status_with_bad_signature(participant):
    response = post(STATUS_URL, {"track_id": TRACK_ID, "sign": SIGN_SIGN_UP_NO_REMARK})

    assert (response.status_code, response.json()["code"]) == (401, 40101)


def test_status_of_unknown_track_id():
    response = post(STATUS_URL, {"track_id": TRACK_ID, "sign": SIGN_TRACK_ID})

    assert (response.status_code, response.json()["code"]) == (404, 40401)


def test_status_with_missing_sign(participant):
    response = post(STATUS_URL, {"track_id": TRACK_ID})

    assert (response.status_code, response.json()["code"]) == (400, 40001)


# --- delivery ------------------------------------------------------------------------------------------


def test_prize_callback_records_delivery_once(giveaway, participant, sign_up):
    win(participant, giveaway)

    first = post(PRIZE_URL, {"track_id": TRACK_ID, "sign": SIGN_TRACK_ID})
    delivered_at = DrawWinner.objects.get().delivered_at
    second = post(PRIZE_URL, {"track_id": TRACK_ID, "sign": SIGN_TRACK_ID})

    assert first.json()["data"]["delivered"] is True
    assert first.json()["data"]["reward_tag"] == "custom_reward1"
    assert second.json() == first.json()
    assert DrawWinner.objects.get().delivered_at == delivered_at is not None


def test_send_event_records_delivery_after_the_end(giveaway, participant, sign_up):
    win(participant, giveaway)

    response = post(TASK_URL, {"track_id": TRACK_ID, "event": "send", "sign": SIGN_SEND})

    assert response.json()["code"] == 10000
    assert DrawWinner.objects.get().delivered_at is not None


def test_prize_callback_for_a_participant_who_did_not_win(participant):
    response = post(PRIZE_URL, {"track_id": TRACK_ID, "sign": SIGN_TRACK_ID})

    assert (response.status_code, response.json()["code"]) == (409, 40902)


def test_send_event_for_a_participant_who_did_not_win(participant):
    response = post(TASK_URL, {"track_id": TRACK_ID, "event": "send", "sign": SIGN_SEND})

    assert (response.status_code, response.json()["code"]) == (409, 40902)


def test_prize_callback_with_bad_signature_records_nothing(giveaway, participant, sign_up):
    win(participant, giveaway)

    response = post(PRIZE_URL, {"track_id": TRACK_ID, "sign": SIGN_SEND})

    assert response.json()["code"] == 40101
    assert DrawWinner.objects.get().delivered_at is None


# --- test participants ("Check API callback") ----------------------------------------------------------


@pytest.fixture
def tester(giveaway):
    return ParticipantFactory(giveaway=giveaway, track_id=TRACK_ID, email="", is_test=True)


def test_test_participant_callback_is_recorded_as_verified(tester, sign_up):
    post(TASK_URL, sign_up_body())

    attempt = CallbackAttempt.objects.get()
    assert (attempt.participant, attempt.event, attempt.signature_valid, attempt.result_code) == (
        tester,
        "sign_up",
        True,
        10000,
    )


def test_every_callback_of_a_test_participant_is_recorded(tester, sign_up):
    """A test participant's next callbacks take the full path too, so 'Check API callback' sees each."""
    post(TASK_URL, sign_up_body())
    post(TASK_URL, sign_up_body())

    assert CallbackAttempt.objects.filter(participant=tester, signature_valid=True).count() == 2


def test_test_participant_bad_signature_is_recorded_with_the_string_to_sign(tester, sign_up):
    post(TASK_URL, {"track_id": TRACK_ID, "event": "sign_up", "sign": "f" * 64})

    attempt = CallbackAttempt.objects.get()
    assert attempt.signature_valid is False
    assert attempt.result_code == 40101
    assert attempt.expected_string == f"track_id={TRACK_ID}&event=sign_up&remark="
    assert not TaskProgress.objects.exists()


def test_test_participant_may_check_a_draft_giveaway(giveaway, tester, sign_up):
    Giveaway.objects.filter(pk=giveaway.pk).update(status=Giveaway.Status.DRAFT)

    response = post(TASK_URL, sign_up_body())

    assert response.json()["code"] == 10000


def test_test_participant_refusal_after_a_good_signature_is_recorded_with_its_code(tester):
    post(TASK_URL, {"track_id": TRACK_ID, "event": "send", "sign": SIGN_SEND})

    attempt = CallbackAttempt.objects.get()
    assert (attempt.signature_valid, attempt.result_code, attempt.event) == (True, 40902, "send")
