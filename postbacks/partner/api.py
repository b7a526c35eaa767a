from dataclasses import dataclass

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers

from catalog.selectors import partner_pid_of_secret
from postbacks.models import MAX_LEVEL
from postbacks.partner.parsing import MAX_REASON_LENGTH, parse_partner_postback
from postbacks.partner.services import PostbackOutcome, record_partner_postback
from rewardhub import auth_throttle, metrics
from rewardhub.db import Database
from rewardhub.errors import Refused, error_response, json_response, refusal_response, unauthorized
from rewardhub.inputs import read_limited
from rewardhub.models import RefusedCall
from rewardhub.refused_calls import record_refused_call
from rewardhub.schema import PARTNER_AUTH, error_responses

DUPLICATE_MESSAGE = "Duplicate postback for this user, game, and level"
BANNED_MESSAGE = "The user is banned: the level was recorded without coins"


class PostbackRequestSchema(serializers.Serializer):
    pid = serializers.CharField(max_length=64, help_text="Store app pid from the install referrer.")
    uid = serializers.UUIDField(help_text="Reward user id from the install referrer. Aliases: userId, user_id.")
    gid = serializers.CharField(
        max_length=100, help_text="Game id from the install referrer. Aliases: game_id, gameId."
    )
    level_number = serializers.IntegerField(
        min_value=1, max_value=MAX_LEVEL, help_text="Completed level. Alias: level."
    )
    reason = serializers.CharField(
        required=False, max_length=MAX_REASON_LENGTH, help_text="Free text, stored in the postback's metadata."
    )


class PostbackUserSchema(serializers.Serializer):
    id = serializers.UUIDField()
    coins = serializers.IntegerField(help_text="Balance after this postback.")
    appId = serializers.CharField(help_text="The user's store app pid.")
    deviceId = serializers.CharField()


class PostbackRecordedSchema(serializers.Serializer):
    ok = serializers.BooleanField()
    awarded = serializers.BooleanField(help_text="True when this level credited coins.")
    milestone = serializers.BooleanField(help_text="True for every 5th level.")
    pid = serializers.CharField()
    gid = serializers.CharField()
    game_id = serializers.CharField()
    level_number = serializers.IntegerField()
    coinDelta = serializers.IntegerField()
    user = PostbackUserSchema()
    banned = serializers.BooleanField(required=False, help_text="Present (true) when an operator banned the user.")
    message = serializers.CharField(required=False, help_text="Why nothing was credited to a banned user.")


class PostbackDuplicateSchema(serializers.Serializer):
    ok = serializers.BooleanField()
    awarded = serializers.BooleanField()
    duplicate = serializers.BooleanField()
    pid = serializers.CharField()
    gid = serializers.CharField()
    level_number = serializers.IntegerField()
    message = serializers.CharField()


# Served by the fast lane (rewardhub.urls.HOT_PATHS), without DRF: its request wrapping, content negotiation
# and rendering add nothing here (the raw body is parsed by parse_partner_postback to answer with the contract's
# codes, the secret is checked by record_partner_postback). DRF only describes it, for /api/schema/ (POSTBACK_DOCS).
async def partner_postback(request, db: Database) -> HttpResponse:
    """The hottest path: every method."""
    if request.method != "POST":
        response = error_response("method_not_allowed", f'Method "{request.method}" not allowed.', 405)
        response["Allow"] = "POST"
        return response
    ip = auth_throttle.client_ip(request)
    if retry_after := await auth_throttle.ais_blocked("partner", ip):
        response = error_response("throttled", auth_throttle.THROTTLED_MESSAGE, 429)
        response["Retry-After"] = str(retry_after)
        return response
    named = PostbackNamed()
    try:
        return await _record(request, db, named)
    except Refused as refused:
        unauthenticated = refused.code == "unauthorized"
        if unauthenticated:
            await auth_throttle.arecord_failure("partner", ip)
        # Only a pid its secret proved is a label (any other refusal comes after that): a pid anyone may send would
        # let them add series.
        proven = not unauthenticated and refused.code != "unknown_pid"
        metrics.count(metrics.PARTNER_POSTBACKS, named.pid if proven else "-", refused.code)
        response = refusal_response(refused)
        await record_refused_call(
            db,
            source=RefusedCall.Source.PARTNER_POSTBACK,
            refused=refused,
            status=response.status_code,
            source_ip=ip,
            path=request.path,
            **vars(named),
            unauthenticated=unauthenticated,
        )
        return response


@dataclass
class PostbackNamed:
    """What a refused postback named, as far as it was read: what support finds it by (rewardhub.refused_calls)."""

    pid: str = ""
    user_id: str = ""
    gid: str = ""
    level_number: int | None = None


async def _record(request, db: Database, named: PostbackNamed) -> HttpResponse:
    secret = partner_secret(request)
    try:
        payload = parse_partner_postback(read_limited(request, request.META))
    except Refused:
        # Authentication comes first: a stranger learns nothing about what a valid body looks like.
        named.pid = (secret and await db.orm(partner_pid_of_secret, secret)) or ""
        if not named.pid:
            raise unauthorized() from None
        raise
    named.pid, named.user_id, named.gid = payload.pid, str(payload.uid), payload.gid
    named.level_number = payload.level_number
    if not secret:
        raise unauthorized()
    outcome = await record_partner_postback(db=db, secret=secret, **vars(payload))
    result = "duplicate" if outcome.duplicate else "accepted"
    metrics.outcome.set(result)
    metrics.count(metrics.PARTNER_POSTBACKS, outcome.target.pid, result)
    metrics.coins_moved("partner_postback", outcome.coin_delta)
    return json_response(postback_body(outcome))


POSTBACK_DOCS = extend_schema(
    operation_id="partner_postback",
    summary="Report a completed level",
    description=(
        "Records the level once per user, game and level; credits coins on every 5th level "
        "(1-30: 25, 31-70: 15, 71-90: 10, 91-100: 5, 101-130: 2, 131+: 1). A repeat answers 200 "
        "with `duplicate: true`. A user banned by an operator has the level recorded without coins "
        f"(`awarded: false`, `coinDelta: 0`, `banned: true`). Bodies over {settings.API_MAX_BODY_BYTES} bytes "
        "get 413."
    ),
    tags=["Partner games"],
    auth=PARTNER_AUTH,
    # Explicit media type: with no parser classes drf-spectacular would publish no request body at all.
    request={"application/json": PostbackRequestSchema},
    responses={
        200: OpenApiResponse(
            PolymorphicProxySerializer(
                component_name="PostbackResult",
                serializers=[PostbackRecordedSchema, PostbackDuplicateSchema],
                resource_type_field_name=None,
            ),
            description="Recorded (credited on a milestone), or a duplicate of an earlier postback.",
        ),
        **error_responses(
            (
                400,
                "invalid_json, unknown_field, missing_field, invalid_field, unknown_pid, unknown_gid, game_inactive",
            ),
            (401, "unauthorized: missing or invalid API secret, or a secret for another pid"),
            (404, "unknown_uid: no such user in this store app"),
            (413, "payload_too_large"),
            (429, "throttled: too many failed authentications from this IP; see Retry-After"),
            (503, "service_unavailable: the database is unreachable; nothing was stored, retry"),
        ),
    },
    examples=[
        OpenApiExample(
            "Level 10",
            request_only=True,
            value={
                "pid": "cashgiraffe",
                "uid": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
                "gid": "my_game",
                "level_number": 10,
            },
        )
    ],
)


def partner_secret(request) -> str:
    """`Authorization: Bearer <secret>` or `X-Reward-Api-Secret: <secret>`; "" when there is none."""
    meta = request.META  # not request.headers, which copies every header first
    scheme, _, credentials = meta.get("HTTP_AUTHORIZATION", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else meta.get("HTTP_X_REWARD_API_SECRET", "")


def postback_body(outcome: PostbackOutcome) -> dict:
    target = outcome.target
    if outcome.duplicate:
        return {
            "ok": True,
            "awarded": False,
            "duplicate": True,
            "pid": target.pid,
            "gid": target.gid,
            "level_number": outcome.level_number,
            "message": DUPLICATE_MESSAGE,
        }
    body = {
        "ok": True,
        "awarded": outcome.coin_delta > 0,
        "milestone": outcome.milestone,
        "pid": target.pid,
        "gid": target.gid,
        "game_id": target.gid,
        "level_number": outcome.level_number,
        "coinDelta": outcome.coin_delta,
        "user": {"id": str(target.user_id), "coins": outcome.coins, "appId": target.pid, "deviceId": target.device_id},
    }
    if target.banned:
        body.update(banned=True, message=BANNED_MESSAGE)
    return body
