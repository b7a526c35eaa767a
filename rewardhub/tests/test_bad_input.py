"""Every API walked through the same bad inputs: a clear 4xx with its stable code, and nothing written.

Each endpoint is called with valid credentials (so a refusal is about the input, not about who sent it):
non-JSON and non-UTF-8 bodies, bodies over the 16 KiB limit, unknown fields, repeated keys and parameters.
"What is written" is the row count of every table a success would touch."""

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.conf import settings

from catalog.tests.factories import RewardGameFactory, StoreAppFactory, partner_secret_for
from giveaways.models import CallbackAttempt, TaskProgress
from giveaways.tests.factories import GiveawayTaskFactory, ParticipantFactory
from ledger.models import AppToken, LedgerEntry, RewardUser
from ledger.services import register_app_user
from postbacks.models import OfferConversion, OfferDelivery, UserPostback
from postbacks.tests.offer_factories import BASE_URL, BITLABS_SECRET, WANNADS_SECRET, bitlabs_path, integration
from rewardhub.testing import Client

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = settings.API_MAX_BODY_BYTES
API_KEY = "k" * 64
TRACK_ID = "BadInputTrack0123456789"
WRITTEN = (UserPostback, LedgerEntry, OfferConversion, RewardUser, AppToken, TaskProgress, CallbackAttempt)


@dataclass
class World:
    partner_secret: str
    app_token: str
    uid: str
    postback_id: int


@pytest.fixture(autouse=True)
def public_base_url(settings):
    settings.PUBLIC_BASE_URL = BASE_URL  # what the BitLabs signatures in offer_factories are made over


@pytest.fixture
def world() -> World:
    app = StoreAppFactory(pid="badapp")
    RewardGameFactory(gid="bad_game")
    registration = register_app_user(pid=app.pid, device_id="bad-device")
    integration(app, "bitlabs", "bad-bitlabs", BITLABS_SECRET)
    integration(app, "wannads", "bad-wannads", WANNADS_SECRET)
    task = GiveawayTaskFactory(event="sign_up", giveaway__project__api_key=API_KEY)
    ParticipantFactory(giveaway=task.giveaway, track_id=TRACK_ID)
    postback = UserPostback.objects.create(
        user=registration.user,
        game=RewardGameFactory(gid="other"),
        pid=app.pid,
        level_number=1,
        awarded=False,
        coin_delta=0,
    )
    return World(partner_secret_for(app), registration.token, str(registration.user.pk), postback.pk)


def counts() -> dict[str, int]:
    rows = {model.__name__: model.objects.count() for model in WRITTEN}
    return {**rows, "acknowledged postbacks": UserPostback.objects.filter(applied_at__isnull=False).count()}


def giveaway_sign(data: str) -> str:
    return hmac.new(API_KEY.encode(), data.encode(), hashlib.sha256).hexdigest()


# --- the JSON APIs: (name, path, valid body, headers) -------------------------------------------------------


def json_endpoints(world: World) -> dict[str, tuple[str, dict, dict]]:
    partner = {"Authorization": f"Bearer {world.partner_secret}"}
    app = {"Authorization": f"Bearer {world.app_token}"}
    return {
        "partner postback": (
            "/api/postback",
            {"pid": "badapp", "uid": world.uid, "gid": "bad_game", "level_number": 5},
            partner,
        ),
        "app register": ("/api/app/users", {"pid": "badapp", "device_id": "new-device"}, {}),
        "app ack": ("/api/app/me/postbacks/ack", {"ids": [world.postback_id]}, app),
        "giveaway task": (
            "/public/v1/giveaway/task/callback",
            {"track_id": TRACK_ID, "event": "sign_up", "sign": giveaway_sign(f"track_id={TRACK_ID}&event=sign_up")},
            {},
        ),
        "giveaway status": (
            "/public/v1/giveaway/player/status",
            {"track_id": TRACK_ID, "sign": giveaway_sign(f"track_id={TRACK_ID}")},
            {},
        ),
        "giveaway prize": (
            "/public/v1/giveaway/prize/callback",
            {"track_id": TRACK_ID, "sign": giveaway_sign(f"track_id={TRACK_ID}")},
            {},
        ),
    }


JSON_APIS = ["partner postback", "app register", "app ack", "giveaway task", "giveaway status", "giveaway prize"]
GIVEAWAY_APIS = {"giveaway task", "giveaway status", "giveaway prize"}


def error_code(name: str, response) -> object:
    """The giveaway API answers in its own envelope: every input refusal there is code 40001."""
    body = response.json()
    return body["code"] if name in GIVEAWAY_APIS else body["error"]


def expected(name: str, code: str) -> object:
    return 40001 if name in GIVEAWAY_APIS else code


def post_raw(path: str, data: bytes, headers: dict, content_type: str = "application/json"):
    return Client().post(path, data=data, content_type=content_type, headers=headers)


@pytest.mark.parametrize("name", JSON_APIS)
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"pid=badapp&level=5", id="form-text-as-json"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b'{"pid": "bad\xffapp"}', id="not-utf8"),
        pytest.param('{"pid": "badapp"}'.encode("utf-16"), id="utf16"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'"text"', id="string"),
        pytest.param(b'{"level_number": NaN}', id="nan"),
        pytest.param(b"[" * 5000 + b"]" * 5000, id="deep-nesting"),
    ],
)
def test_malformed_json_is_refused_and_writes_nothing(world, name, raw):
    path, _, headers = json_endpoints(world)[name]
    before = counts()
    response = post_raw(path, raw, headers)
    assert response.status_code == 400
    assert error_code(name, response) == expected(name, "invalid_json")
    assert counts() == before


@pytest.mark.parametrize("name", JSON_APIS)
def test_repeated_json_key_is_refused_and_writes_nothing(world, name):
    path, body, headers = json_endpoints(world)[name]
    first_key = next(iter(body))
    raw = json.dumps(body)[:-1] + f", {json.dumps(first_key)}: {json.dumps(body[first_key])}}}"
    before = counts()
    response = post_raw(path, raw.encode(), headers)
    assert response.status_code == 400
    assert error_code(name, response) == expected(name, "invalid_json")
    assert counts() == before


@pytest.mark.parametrize("name", JSON_APIS)
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
def test_body_over_the_limit_is_413_and_writes_nothing(world, name, declared):
    path, body, headers = json_endpoints(world)[name]
    raw = json.dumps({**body, "padding": "x" * LIMIT}).encode()
    before = counts()
    client = Client()
    if declared:
        response = client.post(path, data=raw, content_type="application/json", headers=headers)
    else:
        # The body is longer than its Content-Length says: only the first limit + 1 bytes are ever read.
        response = client.generic(
            "POST", path, data=raw, content_type="application/json", headers=headers, CONTENT_LENGTH=str(LIMIT + 1)
        )
    assert response.status_code == 413
    assert error_code(name, response) == expected(name, "payload_too_large")
    assert counts() == before


def test_body_of_exactly_the_limit_is_read(world):
    path, body, headers = json_endpoints(world)["app ack"]
    raw = json.dumps(body).encode()
    raw = raw[:-1] + b" " * (LIMIT - len(raw)) + b"}"
    assert len(raw) == LIMIT
    assert post_raw(path, raw, headers).status_code == 200


@pytest.mark.parametrize("name", ["partner postback", "app register", "app ack"])
def test_unknown_field_is_refused_and_writes_nothing(world, name):
    """Partner games and our own app: an unknown field means the caller expects something we would not do."""
    path, body, headers = json_endpoints(world)[name]
    before = counts()
    response = post_raw(path, json.dumps({**body, "coins": 1000}).encode(), headers)
    assert response.status_code == 400
    assert response.json()["error"] == "unknown_field"
    assert counts() == before


def test_giveaway_api_ignores_unknown_fields(world):
    """Hosts migrate snippets from the original platform unchanged; only the signed fields count."""
    path, body, headers = json_endpoints(world)["giveaway task"]
    response = post_raw(path, json.dumps({**body, "timestamp": 1700000000}).encode(), headers)
    assert response.status_code == 200
    assert TaskProgress.objects.get().completed_at is not None


@pytest.mark.parametrize("name", sorted(GIVEAWAY_APIS))
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"track_id=" + TRACK_ID.encode() + b"&track_id=other&sign=x", id="repeated-field"),
        pytest.param(b"track_id=%ff&sign=x", id="escaped-not-utf8"),
        pytest.param(b"track_id=\xff&sign=x", id="raw-not-utf8"),
    ],
)
def test_giveaway_form_body_with_repeated_or_non_utf8_fields_is_refused(world, name, raw):
    path, _, _ = json_endpoints(world)[name]
    before = counts()
    response = post_raw(path, raw, {}, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.json()["code"] == 40001
    assert counts() == before


def test_giveaway_form_body_over_the_limit_is_413(world):
    raw = urlencode({"track_id": TRACK_ID, "sign": "x", "remark": "x" * LIMIT}).encode()
    response = post_raw("/public/v1/giveaway/player/status", raw, {}, "application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response.json()["code"] == 40001


@pytest.mark.parametrize("path", ["/api/app/me/entries", "/api/app/me/postbacks"])
def test_app_list_refuses_a_repeated_query_parameter(world, path):
    response = Client().get(f"{path}?page_size=1&page_size=200", headers={"Authorization": f"Bearer {world.app_token}"})
    assert response.status_code == 400
    assert response.json()["error"] == "repeated_parameter"


@pytest.mark.parametrize("path", ["/api/app/me/entries", "/api/app/me/postbacks"])
def test_app_list_ignores_an_unknown_query_parameter(world, path):
    response = Client().get(f"{path}?utm_source=x", headers={"Authorization": f"Bearer {world.app_token}"})
    assert response.status_code == 200


# --- offer callbacks: parameters in the query string --------------------------------------------------------


def wannads_query(world: World, *pairs: tuple[str, str]) -> str:
    params = {"user_id": world.uid, "transaction_id": "wn-1", "reward": "100", "status": "credited"}
    signed = f"{params['user_id']}{params['transaction_id']}{params['reward']}{WANNADS_SECRET}"
    signature = hashlib.md5(signed.encode(), usedforsecurity=False).hexdigest()
    # Extra pairs first: Wannads signs the last value of each name, so the signature still holds.
    return urlencode([*pairs, *params.items(), ("signature", signature)])


def offer_rows() -> dict[str, int]:
    return {"conversions": OfferConversion.objects.count(), "entries": LedgerEntry.objects.count()}


def test_signed_wannads_callback_credits(world):
    """The baseline the refusals below differ from by one parameter."""
    response = Client().get(f"/api/callbacks/bad-wannads?{wannads_query(world)}")
    assert (response.status_code, response.content) == (200, b"OK")
    assert offer_rows() == {"conversions": 1, "entries": 1}


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("uid={uid}&tx=1&tx=2&val=100&type=COMPLETE", id="repeated-tx"),
        pytest.param("uid={uid}&tx=1&val=100&val=100000&type=COMPLETE", id="repeated-val"),
        pytest.param("uid={uid}&uid={uid}&tx=1&val=100&type=COMPLETE", id="repeated-uid-same-value"),
        pytest.param("uid={uid}&tx=%ff%fe&val=100&type=COMPLETE", id="tx-not-utf8"),
    ],
)
def test_signed_bitlabs_callback_with_repeated_or_broken_parameters_is_invalid(world, query):
    response = Client().get(bitlabs_path("bad-bitlabs", query.format(uid=world.uid)))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert offer_rows() == {"conversions": 0, "entries": 0}
    assert OfferDelivery.objects.get().verdict == "invalid"  # logged for support, nothing credited


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([("transaction_id", "wn-2")], id="repeated-transaction-id"),
        pytest.param([("reward", "100000")], id="repeated-reward"),
    ],
)
def test_signed_wannads_callback_with_a_repeated_parameter_is_invalid(world, extra):
    response = Client().get(f"/api/callbacks/bad-wannads?{wannads_query(world, *extra)}")
    assert response.status_code == 400
    assert response.content.startswith(b"ERROR: Parameter")
    assert offer_rows() == {"conversions": 0, "entries": 0}


def test_offer_callback_ignores_unknown_parameters(world):
    """Networks add parameters by design (aff_sub, subids, new fields); they must not cost a credit."""
    response = Client().get(f"/api/callbacks/bad-wannads?{wannads_query(world, ('new_network_field', 'x'))}")
    assert (response.status_code, response.content) == (200, b"OK")
    assert offer_rows() == {"conversions": 1, "entries": 1}


def test_offer_callback_with_more_parameters_than_django_accepts_is_400_and_not_logged(world):
    many = "&".join(f"p{n}=1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = Client().get(f"/api/callbacks/bad-wannads?{wannads_query(world)}&{many}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert OfferDelivery.objects.count() == 0
    assert offer_rows() == {"conversions": 0, "entries": 0}


def test_offer_callback_with_a_body_over_the_limit_is_413_and_not_logged(world):
    response = Client().post(
        f"/api/callbacks/bad-wannads?{wannads_query(world)}", data=b"x" * (LIMIT + 1), content_type="text/plain"
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert OfferDelivery.objects.count() == 0
    assert offer_rows() == {"conversions": 0, "entries": 0}
