"""One API credential can never act for another partner, store app, integration or giveaway project.

Each test pairs credential A with subject B, checks the refusal and that nothing of B's changed, and sends
the same request with B's own credential as a control (so the refusal is the credential's doing, not a typo).
The per-API suites hold more cases of the same rule (test_partner_api, test_app_sync, test_app_api,
test_bitlabs_callbacks, giveaways/test_api); this module is the complete matrix in one place.
"""

import hashlib
import hmac
from urllib.parse import urlencode

import pytest

from catalog.tests.factories import RewardGameFactory, StoreAppFactory, partner_secret_for
from giveaways.models import TaskProgress
from giveaways.tests.factories import (
    GiveawayFactory,
    GiveawayProjectFactory,
    GiveawayTaskFactory,
    ParticipantFactory,
)
from ledger.models import LedgerEntry
from ledger.services import issue_app_token
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferConversion, UserPostback
from postbacks.tests.offer_factories import integration
from rewardhub.testing import Client

pytestmark = pytest.mark.django_db(transaction=True)

BASE_URL = "https://rewards.example.com"


@pytest.fixture(autouse=True)
def public_base_url(settings):
    settings.PUBLIC_BASE_URL = BASE_URL


@pytest.fixture
def app_a():
    return StoreAppFactory(pid="app-a")


@pytest.fixture
def app_b():
    return StoreAppFactory(pid="app-b")


def coins(user) -> int:
    user.refresh_from_db()
    return user.coins


# --- partner secrets: store app A's secret never acts for store app B ------------------------------------


def partner_postback(secret, pid, uid, level=5):
    return Client().post(
        "/api/postback",
        {"pid": pid, "uid": str(uid), "gid": "my_game", "level_number": level},
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )


def test_partner_secret_of_app_a_cannot_post_for_pid_b(app_a, app_b):
    RewardGameFactory(gid="my_game")
    user_b = RewardUserFactory(store_app=app_b)

    refused = partner_postback(partner_secret_for(app_a), "app-b", user_b.id)

    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized"
    assert (UserPostback.objects.count(), coins(user_b)) == (0, 0)
    assert partner_postback(partner_secret_for(app_b), "app-b", user_b.id).json()["coinDelta"] == 25


def test_partner_secret_of_app_a_cannot_credit_a_user_of_app_b_under_its_own_pid(app_a, app_b):
    RewardGameFactory(gid="my_game")
    user_b = RewardUserFactory(store_app=app_b)

    refused = partner_postback(partner_secret_for(app_a), "app-a", user_b.id)

    assert (refused.status_code, refused.json()["error"]) == (404, "unknown_uid")
    assert (UserPostback.objects.count(), coins(user_b)) == (0, 0)


# --- app tokens: user X's token never reads or acknowledges for user Y ----------------------------------


def app_request(method, path, token, **kwargs):
    return getattr(Client(), method)(path, headers={"Authorization": f"Bearer {token}"}, **kwargs)


@pytest.fixture
def two_users(app_a):
    game = RewardGameFactory(gid="my_game")
    user_x, user_y = RewardUserFactory(store_app=app_a), RewardUserFactory(store_app=app_a)
    secret = partner_secret_for(app_a)
    for user in (user_x, user_y):
        partner_postback(secret, "app-a", user.id, level=5)
    return user_x, user_y, game


def test_app_token_of_user_x_reads_only_x_whatever_the_query_says(two_users):
    user_x, user_y, _ = two_users
    token_x = issue_app_token(user=user_x)[1]

    me = app_request("get", f"/api/app/me?id={user_y.id}&uid={user_y.id}", token_x).json()
    entries = app_request("get", f"/api/app/me/entries?user={user_y.id}", token_x).json()["results"]
    postbacks = app_request("get", f"/api/app/me/postbacks?uid={user_y.id}", token_x).json()["results"]

    x_postback = UserPostback.objects.get(user=user_x)
    assert me["id"] == str(user_x.id)
    assert {entry["id"] for entry in entries} == set(
        LedgerEntry.objects.filter(user=user_x).values_list("id", flat=True)
    )
    assert [postback["id"] for postback in postbacks] == [x_postback.id]


def test_app_token_of_user_x_cannot_acknowledge_user_ys_postbacks(two_users):
    user_x, user_y, _ = two_users
    y_postback = UserPostback.objects.get(user=user_y)

    refused = app_request(
        "post",
        "/api/app/me/postbacks/ack",
        issue_app_token(user=user_x)[1],
        data={"ids": [y_postback.id]},
        content_type="application/json",
    )

    assert refused.json() == {"acked": [], "already_acked": [], "not_found": [y_postback.id]}
    y_postback.refresh_from_db()
    assert y_postback.applied_at is None
    control = app_request(
        "post",
        "/api/app/me/postbacks/ack",
        issue_app_token(user=user_y)[1],
        data={"ids": [y_postback.id]},
        content_type="application/json",
    )
    assert control.json()["acked"] == [y_postback.id]


def test_an_app_token_is_not_a_partner_secret_and_a_partner_secret_is_not_an_app_token(app_a):
    RewardGameFactory(gid="my_game")
    user = RewardUserFactory(store_app=app_a)

    as_partner = partner_postback(issue_app_token(user=user)[1], "app-a", user.id)
    as_app = app_request("get", "/api/app/me", partner_secret_for(app_a))

    assert (as_partner.status_code, as_app.status_code) == (401, 401)
    assert coins(user) == 0


# --- offer-network integrations: integration A's secret never signs for integration B -------------------


def wannads_url(slug, secret, user_id, transaction_id="tx-1", reward="100"):
    signed = f"{user_id}{transaction_id}{reward}{secret}"
    signature = hashlib.md5(signed.encode(), usedforsecurity=False).hexdigest()
    query = urlencode(
        {
            "user_id": user_id,
            "transaction_id": transaction_id,
            "reward": reward,
            "status": "credited",
            "signature": signature,
        }
    )
    return f"/api/callbacks/{slug}?{query}"


def bitlabs_url(slug, secret, user_id, tx="tx-1", val="100"):
    path = f"/api/callbacks/{slug}?" + urlencode(
        {"uid": user_id, "tx": tx, "val": val, "type": "COMPLETE", "offer_state": "NONE"}
    )
    digest = hmac.new(secret.encode(), f"{BASE_URL}{path}".encode(), hashlib.sha1).hexdigest()
    return f"{path}&hash={digest}"


def test_wannads_callback_signed_with_integration_a_secret_is_refused_at_integration_b(app_a):
    integration(app_a, "wannads", "wn-a", "secret-of-a")
    integration(app_a, "wannads", "wn-b", "secret-of-b")
    user = RewardUserFactory(store_app=app_a)

    refused = Client().get(wannads_url("wn-b", "secret-of-a", user.id))

    assert (refused.status_code, refused.content) == (403, b"ERROR: The signature does not match.")
    assert (OfferConversion.objects.count(), coins(user)) == (0, 0)
    assert Client().get(wannads_url("wn-b", "secret-of-b", user.id)).content == b"OK"


def test_bitlabs_callback_signed_with_integration_a_secret_is_refused_at_integration_b(app_a):
    integration(app_a, "bitlabs", "bl-a", "secret-of-a")
    integration(app_a, "bitlabs", "bl-b", "secret-of-b")
    user = RewardUserFactory(store_app=app_a)

    refused = Client().get(bitlabs_url("bl-b", "secret-of-a", user.id))

    assert (refused.status_code, refused.json()["error"]) == (403, "bad_signature")
    assert (OfferConversion.objects.count(), coins(user)) == (0, 0)
    assert Client().get(bitlabs_url("bl-b", "secret-of-b", user.id)).status_code == 200


def test_integration_of_store_app_a_cannot_credit_a_user_of_store_app_b(app_a, app_b):
    integration(app_a, "wannads", "wn-a", "secret-of-a")
    user_b = RewardUserFactory(store_app=app_b)

    refused = Client().get(wannads_url("wn-a", "secret-of-a", user_b.id))

    assert refused.status_code == 404
    assert (OfferConversion.objects.count(), coins(user_b)) == (0, 0)


# --- giveaway projects: project A's API key never signs for a participant of project B ------------------

KEY_A = "A" * 64
KEY_B = "B" * 64


def sign(key, text):
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def giveaway_post(path, body):
    return Client().post(path, body, content_type="application/json")


@pytest.fixture
def participant_b():
    GiveawayProjectFactory(api_key=KEY_A)
    giveaway_b = GiveawayFactory(project=GiveawayProjectFactory(api_key=KEY_B))
    GiveawayTaskFactory(giveaway=giveaway_b, event="sign_up")
    return ParticipantFactory(giveaway=giveaway_b)


def task_body(participant, key):
    return {
        "track_id": participant.track_id,
        "event": "sign_up",
        "sign": sign(key, f"track_id={participant.track_id}&event=sign_up"),
    }


def test_task_callback_signed_with_project_a_key_is_refused_for_a_participant_of_project_b(participant_b):
    refused = giveaway_post("/public/v1/giveaway/task/callback", task_body(participant_b, KEY_A))

    assert (refused.status_code, refused.json()["code"]) == (401, 40101)
    assert not TaskProgress.objects.filter(participant=participant_b, completed_at__isnull=False).exists()
    control = giveaway_post("/public/v1/giveaway/task/callback", task_body(participant_b, KEY_B))
    assert control.json()["data"]["task_completed"] is True


@pytest.mark.parametrize("path", ["/public/v1/giveaway/player/status", "/public/v1/giveaway/prize/callback"])
def test_status_and_prize_calls_signed_with_project_a_key_are_refused_for_project_b(participant_b, path):
    track_id = participant_b.track_id

    refused = giveaway_post(path, {"track_id": track_id, "sign": sign(KEY_A, f"track_id={track_id}")})

    assert (refused.status_code, refused.json()["code"]) == (401, 40101)
    control = giveaway_post(path, {"track_id": track_id, "sign": sign(KEY_B, f"track_id={track_id}")})
    assert control.json()["code"] != 40101


def test_a_giveaway_api_key_is_not_a_partner_secret(app_a):
    RewardGameFactory(gid="my_game")
    user = RewardUserFactory(store_app=app_a)

    refused = partner_postback(KEY_A, "app-a", user.id)

    assert refused.status_code == 401
    assert coins(user) == 0
