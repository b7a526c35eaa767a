from django.core.exceptions import TooManyFieldsSent
from django.core.handlers.wsgi import get_str_from_wsgi
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers

from postbacks.models import OfferwallIntegration
from postbacks.offers.networks import get_network
from postbacks.offers.services import receive_callback
from rewardhub import auth_throttle
from rewardhub.db import Database
from rewardhub.errors import Refused, error_response, refusal_response
from rewardhub.inputs import read_limited
from rewardhub.schema import ErrorSchema


class CallbackResultSchema(serializers.Serializer):
    ok = serializers.BooleanField()
    result = serializers.ChoiceField(["accepted", "duplicate"])
    message = serializers.CharField()


def _query(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.QUERY, required=False, description=description)


_ERROR_FORMS = (
    "In the network's format: BitLabs a JSON error body; Wannads, ayeT, AdGem and Revlum text/plain "
    "`ERROR: <message>`; Lootably, Kiwiwall and CPX `0`."
)


def _error_forms(status: int, verdicts: str) -> dict:
    """An error in both of the networks' formats: BitLabs' JSON body, Wannads' `ERROR: <message>` text."""
    return {
        (status, "application/json"): OpenApiResponse(ErrorSchema, description=f"{verdicts}. {_ERROR_FORMS}"),
        (status, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description=f"{verdicts}. {_ERROR_FORMS}"),
    }


def unknown_callback_url() -> HttpResponse:
    return HttpResponse("Unknown callback URL.", status=404, content_type="text/plain")


# Served by the fast lane (rewardhub.urls.HOT_PATHS), without DRF: parameters come from the raw query string,
# which BitLabs signs as sent, and no authentication classes, throttles or content negotiation apply. DRF only
# describes it, for /api/schema/ (CALLBACK_DOCS).
async def offer_callback(request, db: Database, slug: str) -> HttpResponse:
    """Server-to-server callbacks from offer networks, every method; the integration's provider decides the
    contract."""
    if request.method not in ("GET", "POST"):
        response = error_response("method_not_allowed", f'Method "{request.method}" not allowed.', 405)
        response["Allow"] = "GET, POST"
        return response
    try:
        body = read_limited(request, request.META)
    except Refused as refused:
        return refusal_response(refused)
    if "\x00" in slug:  # no integration has one, and PostgreSQL text cannot hold it to look it up
        return unknown_callback_url()
    source_ip = auth_throttle.client_ip(request)
    if retry_after := await auth_throttle.ais_blocked("offer", source_ip):
        return await db.orm(_throttled_reply, slug, retry_after)
    try:
        reply = await receive_callback(
            db=db,
            slug=slug,
            method=request.method,
            path=request.path,
            raw_query=get_str_from_wsgi(request.META, "QUERY_STRING", ""),
            body=body,
            meta=request.META,
            source_ip=source_ip,
        )
    except TooManyFieldsSent as error:  # refused before anything is read or logged, as a body over the limit
        return error_response("invalid", str(error), 400)
    if reply is None:
        return unknown_callback_url()
    return HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)


CALLBACK_DOCS = extend_schema(
    operation_id="offer_callback",
    summary="Offer-network callback (BitLabs, Wannads, ayeT-Studios, AdGem, Lootably, Kiwiwall, Revlum, CPX)",
    description=(
        "Called by an offer network when a user's offer changes state. The slug names the offerwall "
        "integration, whose network decides the contract: the parameters, the signature (in the query, a header "
        "or over a JSON body), the reversal signal and the answer its retries expect; the integration's admin "
        "page shows the URL template with its macros and what the signature covers. Every delivery is logged. "
        "Each transaction id and state moves coins at most once; a repeat is answered like the first. "
        "The parameters below are BitLabs' and Wannads' (the README has every network's): BitLabs' `hash` is the "
        "lowercase hex HMAC-SHA1 of the full URL without the trailing `&hash=…`; Wannads' `signature` the "
        "lowercase hex MD5 of `user_id . transaction_id . reward . secret`. GET, or POST where the network posts "
        "(a form for Kiwiwall and Revlum, JSON for AdGem v3)."
    ),
    tags=["Offer networks"],
    auth=[],
    parameters=[
        _query("uid", "BitLabs: reward user id."),
        _query("tx", "BitLabs: transaction id."),
        _query("val", "BitLabs: reward in app currency."),
        _query("raw", "BitLabs: reward in USD."),
        _query("type", "BitLabs: COMPLETE, SCREENOUT, RECONCILIATION or START_BONUS."),
        _query("offer_state", "BitLabs: NONE, PENDING, COMPLETED or RECONCILED."),
        _query("ref", "BitLabs: the original transaction of a reconciliation."),
        _query("ban_state", "BitLabs ban callback: ACTIVE or BANNED."),
        _query("ban_reason", "BitLabs ban callback: the network's reason."),
        _query("debug", "BitLabs: `true` for a test delivery: verified and logged, no coins move."),
        _query("hash", "BitLabs: the signature, last in the query string."),
        _query("user_id", "Wannads: reward user id."),
        _query("transaction_id", "Wannads: transaction id."),
        _query("reward", "Wannads: reward in app currency."),
        _query("status", "Wannads: credited or rejected (legacy 1 or 2)."),
        _query("signature", "Wannads: the signature."),
    ],
    request=None,
    responses={
        (200, "application/json"): OpenApiResponse(
            CallbackResultSchema, description="BitLabs: accepted, or a duplicate of an earlier delivery."
        ),
        (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Wannads: `OK`, also for duplicates."),
        **_error_forms(400, "invalid"),
        **_error_forms(403, "bad_signature or ip_refused"),
        **_error_forms(404, "unknown_user, or no integration with this slug (plain text)"),
        (413, "application/json"): OpenApiResponse(
            ErrorSchema, description="payload_too_large: a POST body over 16 KiB, refused before it is logged."
        ),
        (429, "application/json"): OpenApiResponse(
            ErrorSchema,
            description=f"throttled: too many bad signatures or refused IPs from this IP; see Retry-After. "
            f"{_ERROR_FORMS}",
        ),
    },
)


def _throttled_reply(slug: str, retry_after: int) -> HttpResponse:
    """In the network's own format (one read, only for an IP that is already refused)."""
    integration = OfferwallIntegration.objects.filter(slug=slug).only("provider").first()
    if integration is None:
        return unknown_callback_url()
    reply = get_network(integration.provider).throttled(auth_throttle.THROTTLED_MESSAGE)
    response = HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)
    response["Retry-After"] = str(retry_after)
    return response
