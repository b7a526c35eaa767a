"""Input PostgreSQL cannot store (NUL, unpaired surrogates), amounts beyond Decimal's range and more parameters
than Django parses, sent to every API and page through the production ASGI application (rewardhub.tests.test_asgi).
Each answers a 4xx in its own format, never a 500; a wrong secret is still a 401 that the failed-authentication
throttle counts; nothing is written or credited, and an offer delivery is logged as `invalid`."""

import json
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client as DjangoClient

from catalog.tests.factories import RewardGameFactory, StoreAppFactory, partner_secret_for
from giveaways.models import CallbackAttempt, TaskProgress
from giveaways.tests.factories import GiveawayTaskFactory, ParticipantFactory
from ledger.models import LedgerEntry, RewardUser
from ledger.services import register_app_user
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferConversion, OfferDelivery, UserPostback
from postbacks.tests.offer_factories import BASE_URL, BITLABS_SECRET, WANNADS_SECRET, bitlabs_offer, wannads_path
from postbacks.tests.offer_factories import integration as offer_integration
from rewardhub.tests.test_asgi import serve

pytestmark = pytest.mark.django_db(transaction=True)

NUL = "a\x00b"
SURROGATE = "a\ud800b"  # what JSON's lone "\ud800" escape decodes to
TOO_MANY = "&".join(f"p{n}=1" for n in range(2000))  # DATA_UPLOAD_MAX_NUMBER_FIELDS is 1000


@pytest.fixture(autouse=True)
def public_base_url(settings):
    settings.PUBLIC_BASE_URL = BASE_URL  # what the BitLabs signatures in offer_factories are made over


def request(method: str, path: str, *, body: bytes = b"", headers: dict | None = None):
    """serve()'s arguments; with Content-Length, as a client sends it (Django's handler reads no more)."""
    return (method, path), {"body": body, "headers": {**(headers or {}), "Content-Length": str(len(body))}}


def post_json(path: str, body: dict, headers: dict | None = None):
    return request(
        "POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )


def written() -> dict[str, int]:
    models = (UserPostback, LedgerEntry, OfferConversion, RewardUser, TaskProgress, CallbackAttempt)
    return {model.__name__: model.objects.count() for model in models}


# --- partner postback API ---------------------------------------------------------------------------------------


@pytest.fixture
def partner():
    app = StoreAppFactory(pid="nulapp")
    RewardGameFactory(gid="nul_game")
    return {"user": RewardUserFactory(store_app=app), "secret": partner_secret_for(app)}


def partner_postback(partner, secret=None, **fields):
    body = {"pid": "nulapp", "uid": str(partner["user"].pk), "gid": "nul_game", "level_number": 5, **fields}
    return post_json("/api/postback", body, {"Authorization": f"Bearer {secret or partner['secret']}"})


@pytest.mark.parametrize("text", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize("field", ["pid", "gid", "game_id", "reason"])
def test_partner_postback_with_unstorable_text_is_invalid_field_and_writes_nothing(partner, field, text):
    fields = {field: text, "gid": None} if field == "game_id" else {field: text}
    before = written()
    (answer,) = serve(partner_postback(partner, **fields))
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_field")
    assert written() == before


def test_partner_postback_with_nul_and_a_wrong_secret_is_401_and_counted(partner, settings):
    settings.AUTH_FAILURE_LIMIT = 2
    *strangers, valid_after = serve(
        partner_postback(partner, secret="wrong", gid=NUL),
        partner_postback(partner, secret="wrong", gid=NUL),
        partner_postback(partner),
    )
    assert [(a.status_code, a.json()["error"]) for a in strangers] == [(401, "unauthorized")] * 2
    assert (valid_after.status_code, valid_after.json()["error"]) == (429, "throttled")  # both failures counted


# --- offer callbacks --------------------------------------------------------------------------------------------


@pytest.fixture
def offer_user():
    app = StoreAppFactory()
    offer_integration(app, "bitlabs", "nul-bitlabs", BITLABS_SECRET)
    offer_integration(app, "wannads", "nul-wannads", WANNADS_SECRET)
    return RewardUserFactory(store_app=app)


def test_callback_slug_with_nul_is_an_unknown_callback_url(offer_user):
    (answer,) = serve(request("GET", "/api/callbacks/nul-bit\x00labs"))  # as the server decodes %00 in the path
    assert (answer.status_code, answer.content) == (404, b"Unknown callback URL.")
    assert not OfferDelivery.objects.exists()


def nothing_credited() -> bool:
    return not OfferConversion.objects.exists() and not LedgerEntry.objects.exists()


@pytest.mark.parametrize(
    "val, type_",
    [("9e999999999", "COMPLETE"), ("1E+16", "COMPLETE"), ("-9e999999999", "RECONCILIATION")],
    ids=["huge-exponent", "just-out-of-range", "huge-reconciliation"],
)
def test_signed_bitlabs_amount_beyond_range_is_invalid_and_logged(offer_user, val, type_):
    url = bitlabs_offer("nul-bitlabs", "huge-1", val, type_=type_, uid=offer_user.pk, ref="huge-0")
    (answer,) = serve(request("GET", url))
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid" and "out of range" in answer.json()["message"]
    assert OfferDelivery.objects.get().verdict == "invalid"  # logged for support; the network stops retrying
    assert nothing_credited()


def test_signed_wannads_reward_beyond_range_is_invalid_and_logged(offer_user):
    (answer,) = serve(request("GET", wannads_path("nul-wannads", user_id=offer_user.pk, reward="9e999999999")))
    assert answer.status_code == 400
    assert answer.content.startswith(b"ERROR: Parameter 'reward' is out of range")
    assert OfferDelivery.objects.get().verdict == "invalid"
    assert nothing_credited()


# --- reward app API ---------------------------------------------------------------------------------------------


@pytest.fixture
def app_token():
    StoreAppFactory(pid="nulapp")
    return register_app_user(pid="nulapp", device_id="nul-device").token


@pytest.mark.parametrize("path", ["/api/app/me", "/api/app/me/entries", "/api/app/me/postbacks", "/api/app/games"])
def test_app_api_answers_too_many_parameters_in_its_json_format(app_token, path):
    (answer,) = serve(request("GET", f"{path}?{TOO_MANY}", headers={"Authorization": f"Bearer {app_token}"}))
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == "too_many_parameters"


@pytest.mark.parametrize("field", ["pid", "device_id"])
def test_app_registration_with_nul_is_invalid_and_writes_nothing(app_token, field):
    before = written()
    (answer,) = serve(post_json("/api/app/users", {"pid": "nulapp", "device_id": "other-device", field: NUL}))
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")
    assert written() == before


def test_app_token_with_nul_is_unauthorized(app_token):
    (answer,) = serve(request("GET", "/api/app/me", headers={"Authorization": f"Bearer {app_token}\x00"}))
    assert (answer.status_code, answer.json()["error"]) == (401, "unauthorized")


# --- giveaway API and public pages ------------------------------------------------------------------------------


@pytest.fixture
def participant():
    task = GiveawayTaskFactory(event="sign_up")
    return ParticipantFactory(giveaway=task.giveaway)


@pytest.mark.parametrize(
    "path, body",
    [
        ("/public/v1/giveaway/task/callback", {"track_id": NUL, "event": "sign_up"}),
        ("/public/v1/giveaway/task/callback", {"event": NUL}),
        ("/public/v1/giveaway/task/callback", {"event": "sign_up", "remark": NUL}),
        ("/public/v1/giveaway/player/status", {"track_id": NUL}),
        ("/public/v1/giveaway/prize/callback", {"track_id": NUL}),
    ],
    ids=["task-track_id", "task-event", "task-remark", "status-track_id", "prize-track_id"],
)
def test_giveaway_api_with_nul_is_invalid_parameters(participant, path, body):
    before = written()
    (answer,) = serve(post_json(path, {"track_id": participant.track_id, "sign": "0" * 64, **body}))
    assert (answer.status_code, answer.json()["code"]) == (400, 40001)
    assert written() == before


@pytest.mark.parametrize("page", ["", "/claim", "/tasks/{task}"], ids=["landing", "claim", "task-link"])
def test_giveaway_page_with_nul_track_id_is_400(participant, page):
    giveaway = participant.giveaway
    path = f"/g/{giveaway.slug}{page.format(task=giveaway.tasks.get().pk)}?{urlencode({'track_id': NUL})}"
    before = written()
    (answer,) = serve(request("GET", path))
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert written() == before


# --- admin ------------------------------------------------------------------------------------------------------


def session_cookie(user) -> dict:
    client = DjangoClient()
    client.force_login(user)
    return {"Cookie": f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"}


ADMIN_NUL_PATHS = {
    "list-filter": "/admin/postbacks/offerdelivery/?verdict__exact=a%00b",
    "field-lookup": "/admin/ledger/rewarduser/?device_id=a%00b",
    "search": "/admin/ledger/rewarduser/?q=a%00b",
    "custom-view-path": "/admin/giveaways/giveaway/{giveaway}/check-callback/a\x00b/",
    "autocomplete": "/admin/autocomplete/?term=a%00b&app_label=ledger&model_name=ledgerentry&field_name=user",
}


@pytest.mark.parametrize("path", ADMIN_NUL_PATHS.values(), ids=ADMIN_NUL_PATHS.keys())
def test_admin_refuses_nul_with_400(participant, admin_user, path):
    (answer,) = serve(request("GET", path.format(giveaway=participant.giveaway_id), headers=session_cookie(admin_user)))
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")


def test_admin_sends_a_stranger_with_nul_to_the_login_page_first():
    (answer,) = serve(request("GET", ADMIN_NUL_PATHS["field-lookup"]))
    assert answer.status_code == 302 and answer.headers["location"].startswith("/admin/login/")


def test_admin_action_on_a_selected_id_with_nul_is_400(admin_user, app_token):
    client = DjangoClient()
    client.force_login(admin_user)
    response = client.post("/admin/ledger/apptoken/", {"action": "revoke", "_selected_action": [NUL]})
    assert response.status_code == 400
