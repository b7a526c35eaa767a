"""Round trips per giveaway task callback, counted as production sends them (BEGIN and COMMIT included)."""

import hashlib
import hmac
import json

import pytest

from giveaways.tests.factories import GiveawayFactory, GiveawayProjectFactory, GiveawayTaskFactory, ParticipantFactory
from rewardhub.testing import Client

pytestmark = pytest.mark.django_db(transaction=True)

API_KEY = "3lhpTSAJd6XDgBe4XWcozob4iMmYUlkPc9c4fwnoydGk4Bh5lSA3qrSiqgXeJcX7"
TRACK_ID = "MVNHLLEEwIR"
# HMAC-SHA256 of "track_id=MVNHLLEEwIR&event=sign_up&remark=remark" keyed with API_KEY (openssl dgst -sha256 -hmac).
SIGN = "e7c4b187b81501a40f52d7366e8463e2cdbad563851e37f55ce7fa63b016931c"


@pytest.fixture
def participant():
    giveaway = GiveawayFactory(project=GiveawayProjectFactory(api_key=API_KEY))
    GiveawayTaskFactory(giveaway=giveaway, event="sign_up")
    return ParticipantFactory(giveaway=giveaway, track_id=TRACK_ID)


def callback():
    body = {"track_id": TRACK_ID, "event": "sign_up", "remark": "remark", "sign": SIGN}
    return Client().post("/public/v1/giveaway/task/callback", json.dumps(body), content_type="application/json")


def test_first_completion_query_count(participant, assert_num_statements):
    with assert_num_statements(2):
        assert callback().json()["data"]["task_completed"] is True


def test_known_participants_next_callback_query_count(participant, assert_num_statements):
    """A participant whose project's key this process verified a callback with: one statement on PostgreSQL
    (services._RECORD_KNOWN_SQL)."""
    callback()
    with assert_num_statements(1):
        assert callback().json()["data"]["task_completed"] is True


def test_next_participant_of_a_known_project_query_count(participant, assert_num_statements):
    """Hosts report many participants: once one callback verified the project's key, the next participant's first
    callback is one statement too."""
    callback()
    ParticipantFactory(giveaway=participant.giveaway, track_id="NEXTPARTICIPANT")
    body = {"track_id": "NEXTPARTICIPANT", "event": "sign_up", "remark": "remark"}
    body["sign"] = hmac.new(
        API_KEY.encode(), b"track_id=NEXTPARTICIPANT&event=sign_up&remark=remark", hashlib.sha256
    ).hexdigest()
    with assert_num_statements(1):
        response = Client().post("/public/v1/giveaway/task/callback", json.dumps(body), content_type="application/json")
    assert response.json()["data"]["task_completed"] is True
