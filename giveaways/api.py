"""The giveaway platform's signed API (seeds 000/001), at the original paths so hosts only change the base URL.

Answers use the original envelope `{"code": 10000, "msg": "Success", "data": …}`; refusals carry a stable
code from `giveaways.codes` and the fitting HTTP status.
"""

import json
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable
from functools import cache

from django.http import HttpResponse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import SkipField
from rest_framework.utils.encoders import JSONEncoder

from giveaways import services
from giveaways.codes import ERROR_CODES, SUCCESS_MSG, CallbackError, ResultCode
from rewardhub import auth_throttle, metrics
from rewardhub.db import Database
from rewardhub.errors import Refused, json_api_status
from rewardhub.inputs import load_json_object, parse_form, read_limited
from rewardhub.models import RefusedCall
from rewardhub.refused_calls import record_refused_call

MAX_RUNNING_TOTAL = 2_147_483_647  # the progress column's range


def envelope(code: int, msg: str, data, http_status: int = 200) -> HttpResponse:
    """Encoded as DRF's JSONRenderer would (compact, UTF-8, its date format), without its negotiation."""
    metrics.outcome.set(ResultCode(code).name.lower())
    body = json.dumps(
        {"code": int(code), "msg": msg, "data": data}, cls=JSONEncoder, ensure_ascii=False, separators=(",", ":")
    )
    body = body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return HttpResponse(body.encode(), status=http_status, content_type="application/json")


@extend_schema_field({"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+$"}]})
class RunningTotalField(serializers.Field):
    """A whole number >= 0, as a JSON number or a string of digits. Keeps the text that was signed."""

    default_error_messages = {"invalid": "Must be a whole number of at least 0."}

    def to_internal_value(self, data) -> str:
        if isinstance(data, int) and not isinstance(data, bool):
            data = str(data)
        if not isinstance(data, str) or not re.fullmatch(r"[0-9]{1,10}", data) or int(data) > MAX_RUNNING_TOTAL:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


def _text(max_length: int, **kwargs) -> serializers.CharField:
    # Whitespace is kept: the signature covers the exact text the host sent.
    return serializers.CharField(max_length=max_length, trim_whitespace=False, **kwargs)


class SignedTrackIdRequest(serializers.Serializer):
    track_id = _text(64, help_text="The participant's track_id from your website link's query.")
    sign = _text(128, help_text="Lowercase hex HMAC-SHA256 of `track_id=<track_id>` keyed with your API key.")


class TaskCallbackRequest(serializers.Serializer):
    track_id = _text(64, help_text="The participant's track_id from your website link's query.")
    event = _text(64, help_text="The task's event key, or `send` to report a winner's reward delivered.")
    value = RunningTotalField(
        required=False, help_text="For tasks with a required amount: the participant's running total."
    )
    remark = _text(500, required=False, allow_blank=True, allow_null=True, help_text="Optional free text.")
    sign = _text(
        128,
        help_text=(
            "Lowercase hex HMAC-SHA256 keyed with your API key over `track_id=<track_id>&event=<event>&remark=<remark>`"
            " or, with a value, `track_id=…&event=…&value=…&remark=…`. Without a remark the string may end in "
            "`&remark=` or stop before it."
        ),
    )


class TaskProgressData(serializers.Serializer):
    event = serializers.CharField()
    task_completed = serializers.BooleanField(help_text="This task is done for the participant.")
    value = serializers.IntegerField(help_text="Highest running total received (1 once a plain task is done).")
    required = serializers.IntegerField(help_text="Running total that completes the task.")


class DeliveryData(serializers.Serializer):
    reward_tag = serializers.CharField()
    delivered = serializers.BooleanField()
    delivered_at = serializers.DateTimeField(help_text="First time delivery was reported; repeats keep it.")


class PlayerStatusFlags(serializers.Serializer):
    task_completed = serializers.BooleanField(help_text="Every task of the giveaway is done.")
    won = serializers.BooleanField(help_text="The participant won a reward in the draw.")


class PlayerStatusData(serializers.Serializer):
    status = PlayerStatusFlags()
    reward_tag = serializers.CharField(allow_null=True, help_text="The won reward's tag, or null.")


def _envelope_schema(name: str, data) -> serializers.Serializer:
    return type(
        name,
        (serializers.Serializer,),
        {
            "code": serializers.IntegerField(help_text="10000: success."),
            "msg": serializers.CharField(),
            "data": data,
        },
    )


class GiveawayErrorSchema(serializers.Serializer):
    code = serializers.IntegerField(help_text="Stable error code (see the table in the operation's description).")
    msg = serializers.CharField(help_text="Human-readable explanation.")
    data = serializers.JSONField(allow_null=True, default=None, help_text="Always null.")


def _error_responses(*codes: ResultCode) -> dict[int, OpenApiResponse]:
    by_status = defaultdict(list)
    for code in (ResultCode.INVALID_PARAMS, *codes, ResultCode.THROTTLED):
        by_status[ERROR_CODES[code][0]].append(code)
    by_status[413].append(ResultCode.INVALID_PARAMS)
    by_status[415].append(ResultCode.INVALID_PARAMS)
    by_status[405].append(ResultCode.METHOD_NOT_ALLOWED)
    return {
        http_status: OpenApiResponse(
            GiveawayErrorSchema, description="; ".join(f"`{c.value}`: {ERROR_CODES[c][1]}" for c in found)
        )
        for http_status, found in sorted(by_status.items())
    }


ERROR_TABLE = "\n".join(
    f"| {code.value} | {http_status} | {meaning} |" for code, (http_status, meaning) in ERROR_CODES.items()
)
CODES_DESCRIPTION = (
    '\n\nEvery answer is `{"code", "msg", "data"}`; `code` 10000 is success. Nothing is written unless '
    "`sign` holds.\n\n| code | HTTP | meaning |\n|---|---|---|\n" + ERROR_TABLE
)


# Served by the fast lane (rewardhub.urls.HOT_PATHS), without DRF's request wrapping, content negotiation and
# serializer machinery: signed by the project's API key in the body, so no session, no CSRF, no DRF
# authentication. DRF describes them for /api/schema/ (the *_DOCS below), and its fields still validate each
# parameter (with their messages), run directly (_validated).
async def task_callback(request, db: Database) -> HttpResponse:
    return await _answer(request, db, _task_callback)


async def player_status(request, db: Database) -> HttpResponse:
    return await _answer(request, db, _player_status)


async def prize_callback(request, db: Database) -> HttpResponse:
    return await _answer(request, db, _prize_callback)


async def _task_callback(request, db: Database) -> dict:
    params = _validated(request, TaskCallbackRequest)
    return await services.task_callback(
        db=db,
        track_id=params["track_id"],
        event=params["event"],
        value=params.get("value"),
        remark=params.get("remark"),
        sign=params["sign"],
    )


async def _player_status(request, db: Database) -> dict:
    params = _validated(request, SignedTrackIdRequest)
    return await services.player_status(db=db, track_id=params["track_id"], sign=params["sign"])


async def _prize_callback(request, db: Database) -> dict:
    params = _validated(request, SignedTrackIdRequest)
    return await services.prize_callback(db=db, track_id=params["track_id"], sign=params["sign"])


async def _answer(request, db: Database, answer: Callable[..., Awaitable[dict]]) -> HttpResponse:
    """Every method: the envelope of `answer`'s data, or of the refusal."""
    ip = auth_throttle.client_ip(request)
    if retry_after := await auth_throttle.ais_blocked("giveaway", ip):
        response = envelope(ResultCode.THROTTLED, auth_throttle.THROTTLED_MESSAGE, None, 429)
        response["Retry-After"] = str(retry_after)
        return response
    try:
        if request.method != "POST":
            raise CallbackError(ResultCode.METHOD_NOT_ALLOWED, "Only POST is accepted.")
        return envelope(ResultCode.SUCCESS, SUCCESS_MSG, await answer(request, db))
    except CallbackError as error:
        unauthenticated = error.result == ResultCode.BAD_SIGNATURE
        if unauthenticated:
            await auth_throttle.arecord_failure("giveaway", ip)
        http_status = ERROR_CODES[error.result][0]
        if (participant := error.participant) is not None:  # naming no participant, it is a scanner's: not kept
            await record_refused_call(
                db,
                source=RefusedCall.Source.GIVEAWAY_CALLBACK,
                refused=error,
                status=http_status,
                source_ip=ip,
                path=request.path,
                giveaway_id=participant.giveaway_id,
                user_id=participant.track_id,
                event=participant.event,
                unauthenticated=unauthenticated,
            )
        return envelope(error.result, error.message, None, http_status)
    except Refused as refused:  # the body itself (rewardhub.inputs): its status says too large, not JSON, …
        return envelope(ResultCode.INVALID_PARAMS, refused.message, None, json_api_status(refused))


def _validated(request, serializer_class) -> dict:
    data = _body(request)
    params, problems = {}, {}
    for field in _fields(serializer_class):
        try:
            params[field.field_name] = field.run_validation(field.get_value(data))
        except SkipField:
            pass
        except ValidationError as exc:
            problems[field.field_name] = exc.detail
    if problems:
        details = "; ".join(f"{name}: {' '.join(map(str, errors))}" for name, errors in problems.items())
        raise CallbackError(ResultCode.INVALID_PARAMS, f"Invalid parameters: {details}")
    return params


@cache
def _fields(serializer_class) -> list[serializers.Field]:
    """The request's fields, bound once per process: validating a value keeps no state in a field."""
    return list(serializer_class().fields.values())


_FORM = "application/x-www-form-urlencoded"


def _body(request) -> dict:
    """A JSON object or a form, at most API_MAX_BODY_BYTES, UTF-8, each key once; no body reads as no parameters."""
    raw = read_limited(request, request.META)
    if not raw:
        return {}
    if request.content_type == _FORM:
        return parse_form(raw)
    if request.content_type == "application/json":
        return load_json_object(raw)
    raise Refused("unsupported_media_type", f'Unsupported media type "{request.content_type}" in request.')


_TAGS = ["Giveaway callbacks"]


TASK_CALLBACK_DOCS = extend_schema(
    operation_id="giveaway_task_callback",
    summary="Report a participant's task (or a winner's reward delivery)",
    description=(
        "Marks the participant's task with this `event` done. For a task with a required amount, `value` is "
        "the participant's running total and the task completes when it reaches the amount; a lower or "
        "repeated total changes nothing, so retries are harmless. `event=send` on a winner's track_id "
        "records that you delivered the reward." + CODES_DESCRIPTION
    ),
    tags=_TAGS,
    auth=[],
    request=TaskCallbackRequest,
    responses={
        200: _envelope_schema(
            "TaskCallbackResponse",
            PolymorphicProxySerializer(
                component_name="TaskCallbackData",
                serializers=[TaskProgressData, DeliveryData],
                resource_type_field_name=None,
            ),
        ),
        **_error_responses(
            ResultCode.BAD_SIGNATURE,
            ResultCode.UNKNOWN_TRACK_ID,
            ResultCode.UNKNOWN_EVENT,
            ResultCode.GIVEAWAY_NOT_RUNNING,
            ResultCode.NOT_A_WINNER,
        ),
    },
    examples=[
        OpenApiExample(
            "Like 3 articles: the participant's second like",
            request_only=True,
            value={
                "track_id": "MVNHLLEEwIRd8vJ0gYkQ2w",
                "event": "like_articles",
                "value": 2,
                "remark": "article 42",
                "sign": "<hex HMAC-SHA256 of track_id=…&event=like_articles&value=2&remark=article 42>",
            },
        )
    ],
)


PLAYER_STATUS_DOCS = extend_schema(
    operation_id="giveaway_player_status",
    summary="A participant's status: all tasks done, won, reward tag",
    description="Read-only; sign `track_id=<track_id>`." + CODES_DESCRIPTION,
    tags=_TAGS,
    auth=[],
    request=SignedTrackIdRequest,
    responses={
        200: _envelope_schema("PlayerStatusResponse", PlayerStatusData()),
        **_error_responses(ResultCode.BAD_SIGNATURE, ResultCode.UNKNOWN_TRACK_ID),
    },
)


PRIZE_CALLBACK_DOCS = extend_schema(
    operation_id="giveaway_prize_callback",
    summary="Report a winner's reward delivered",
    description=(
        "Records the first delivery time; repeats answer the same. Sign `track_id=<track_id>`." + CODES_DESCRIPTION
    ),
    tags=_TAGS,
    auth=[],
    request=SignedTrackIdRequest,
    responses={
        200: _envelope_schema("PrizeCallbackResponse", DeliveryData()),
        **_error_responses(ResultCode.BAD_SIGNATURE, ResultCode.UNKNOWN_TRACK_ID, ResultCode.NOT_A_WINNER),
    },
)
