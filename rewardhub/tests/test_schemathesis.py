"""schemathesis drives every operation of `/api/schema/` through the production application (rewardhub.asgi,
fast lane included, by rewardhub.testing.Client): no 5xx, every status code documented, every response body
matching its schema. Half of the examples carry valid credentials and ids (a partner secret, an app token, a
real callback slug, a signed track_id) so they reach past authentication; the rest, and the negative mode, send
whatever the schema does not allow."""

import hashlib
import hmac
import itertools
import json
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import pytest
import requests
import schemathesis
from django.conf import settings
from django.core.cache import cache
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from requests.utils import requote_uri
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from urllib3 import HTTPResponse

from catalog.tests.factories import RewardGameFactory, StoreAppFactory, partner_secret_for
from giveaways import signing
from giveaways.tests.factories import GiveawayTaskFactory, ParticipantFactory
from ledger.services import register_app_user
from postbacks.tests.offer_factories import BITLABS_SECRET, WANNADS_SECRET, integration
from rewardhub.testing import Client

# Fixed seed, derandomized: CI runs the same cases every time. Examples per operation and phase are bounded so
# the whole module stays well under two minutes.
MAX_EXAMPLES = 30
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20240607,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        # Function-scoped fixtures (the credentials) are shared by the examples of one operation on purpose.
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
    }
)
OFFER_DEFAULTS = {
    "tx": "fuzz-{turn}",
    "val": "10",
    "type": "COMPLETE",
    "transaction_id": "fuzz-{turn}",
    "reward": "10",
    "status": "credited",
}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

BASE_URL = "http://testserver"
# What /api/schema/ serves, generated in-process: the application serves nothing before the test database exists.
schema = schemathesis.openapi.from_dict(
    json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True))), config=CONFIG
)

pytestmark = pytest.mark.django_db(transaction=True)


class ThroughTheApplication(requests.adapters.BaseAdapter):
    """requests' transport for schemathesis: each request goes to the production application by Client."""

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        url = urlsplit(request.url)
        headers = {name: value for name, value in request.headers.items() if name.lower() != "content-type"}
        answer = Client().generic(
            request.method,
            url.path,
            request.body or b"",
            request.headers.get("Content-Type", ""),
            headers=headers,
            QUERY_STRING=url.query,
        )
        response = requests.Response()
        response.status_code, response.reason = answer.status_code, answer.reason_phrase
        response.headers.update(answer.headers)
        # schemathesis reads the headers from the wire's response, as requests' own adapter leaves it.
        response.raw = HTTPResponse(headers=answer.headers.items(), status=answer.status_code, version=11)
        response._content = answer.content
        response.url, response.request = request.url, request
        return response

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def session() -> requests.Session:
    session = requests.Session()
    session.mount(BASE_URL, ThroughTheApplication())
    return session


@dataclass
class Credentials:
    partner_secret: str
    app_token: str
    pid: str
    gid: str
    uid: str
    slugs: list[str]
    track_id: str
    api_key: str
    events: list[str]


@pytest.fixture
def credentials() -> Credentials:
    cache.clear()  # the registration throttle counts per IP across tests
    app = StoreAppFactory(pid="fuzzapp")
    game = RewardGameFactory(gid="fuzz_game", play_package="com.example.fuzz")
    registration = register_app_user(pid=app.pid, device_id="fuzz-device")
    integration(app, "bitlabs", "fuzz-bitlabs", BITLABS_SECRET)
    integration(app, "wannads", "fuzz-wannads", WANNADS_SECRET)
    task = GiveawayTaskFactory(event="sign_up")
    counted = GiveawayTaskFactory(giveaway=task.giveaway, event="like_articles", kind="custom", required_amount=3)
    participant = ParticipantFactory(giveaway=task.giveaway, track_id="FuzzTrackId0123456789a")
    return Credentials(
        partner_secret=partner_secret_for(app),
        app_token=registration.token,
        pid=app.pid,
        gid=game.gid,
        uid=str(registration.user.pk),
        slugs=["fuzz-bitlabs", "fuzz-wannads"],
        track_id=participant.track_id,
        api_key=task.giveaway.project.api_key,
        events=[task.event, counted.event, "send"],
    )


def with_credentials(case, creds: Credentials, turn: int) -> None:
    """Make the generated request one a real caller could send, keeping the generated values elsewhere."""
    path = case.operation.path
    body = case.body if isinstance(case.body, dict) else None
    if path == "/api/postback":
        _as_partner(case, body, creds, turn)
    elif path.startswith("/api/app/"):
        _as_reward_app(case, body, creds)
    elif path.startswith("/api/callbacks/"):
        _as_offer_network(case, creds, turn)
    elif path.startswith("/public/v1/giveaway/") and body is not None:
        _as_giveaway_host(body, creds, turn)


def _as_partner(case, body: dict | None, creds: Credentials, turn: int) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {creds.partner_secret}"}
    if body is not None and turn % 2:
        body.update(pid=creds.pid, uid=creds.uid, gid=creds.gid)


def _as_reward_app(case, body: dict | None, creds: Credentials) -> None:
    if case.operation.path != "/api/app/users":
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {creds.app_token}"}
    elif body is not None:
        body["pid"] = creds.pid


def _as_offer_network(case, creds: Credentials, turn: int) -> None:
    slug = creds.slugs[turn % 2]
    case.path_parameters = {**(case.path_parameters or {}), "slug": slug}
    query = case.query if isinstance(case.query, dict) else None
    if query is not None and all(isinstance(value, str) for value in query.values()):
        query.update(uid=creds.uid, user_id=creds.uid)
        if turn % 3:  # fill what the generator left out, so most signed callbacks move coins
            for name, value in OFFER_DEFAULTS.items():
                query.setdefault(name, value.format(turn=turn))
        sign_offer_callback(slug, query)


def _as_giveaway_host(body: dict, creds: Credentials, turn: int) -> None:
    body["track_id"] = creds.track_id
    if "event" in body:
        body["event"] = creds.events[turn % 3]
    body["sign"] = signing.sign(creds.api_key, _signed_string(body))


def sign_offer_callback(slug: str, query: dict) -> None:
    """The networks' recipes, over the query as requests encodes it (dict order, requote_uri), so generated
    callbacks pass verification and reach parsing and the ledger."""
    if slug == "fuzz-wannads":
        signed = query.get("user_id", "") + query.get("transaction_id", "") + query.get("reward", "") + WANNADS_SECRET
        query["signature"] = hashlib.md5(signed.encode(), usedforsecurity=False).hexdigest()
        return
    query.pop("hash", None)
    url = f"{settings.PUBLIC_BASE_URL}/api/callbacks/{slug}?{requote_uri(urlencode(list(query.items())))}"
    query["hash"] = hmac.new(BITLABS_SECRET.encode(), url.encode(), hashlib.sha1).hexdigest()


def _signed_string(body: dict) -> str:
    if "event" not in body:
        return signing.track_id_string(body["track_id"])
    value = body.get("value")
    return signing.task_callback_strings(
        track_id=body["track_id"],
        event=body["event"],
        value=None if value is None else str(value),
        remark=body.get("remark") if isinstance(body.get("remark"), str) else None,
    )[0]


# Which examples get credentials, and which slug or event: a plain counter, so a run is reproducible
# (schemathesis does not combine `given` strategies with the schema's examples).
_turns = itertools.count()


@schema.parametrize()
# The credentials are shared by the examples of one operation on purpose: rows the examples write add up.
@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api_matches_its_schema(case, credentials, session):
    turn = next(_turns)
    if turn % 4:  # three in four carry credentials
        with_credentials(case, credentials, turn)
    case.call_and_validate(session=session, base_url=BASE_URL, checks=CHECKS)
