from django.conf import settings
from django.core.handlers.wsgi import get_str_from_wsgi
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from postbacks.ip_allowlist import client_ip
from postbacks.offers import receive_callback
from rewardhub.errors import error_response
from rewardhub.schema import ErrorSchema


class CallbackResultSchema(serializers.Serializer):
    ok = serializers.BooleanField()
    result = serializers.ChoiceField(["accepted", "duplicate"])
    message = serializers.CharField()


def _query(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.QUERY, required=False, description=description)


_ERROR_FORMS = "BitLabs integrations: JSON error body. Wannads integrations: text/plain `ERROR: <message>`."


class OfferCallbackApi(APIView):
    """Server-to-server callbacks from offer networks; the integration's provider decides the contract.

    A hot path with nothing for DRF to do (parameters come from the raw query string, which BitLabs signs as
    sent; no authentication classes, throttles or content negotiation apply): `dispatch` serves it as a plain
    Django view, and DRF only describes it for the schema."""

    def dispatch(self, request, *args, **kwargs):
        if request.method not in ("GET", "POST"):
            response = error_response("method_not_allowed", f'Method "{request.method}" not allowed.', 405)
            response["Allow"] = "GET, POST"
            return response
        return self.get(request, *args, **kwargs)

    @extend_schema(
        operation_id="offer_callback",
        summary="Offer-network callback (BitLabs, Wannads)",
        description=(
            "Called by an offer network when a user's offer changes state. The slug names the offerwall "
            "integration; the admin shows the exact URL template for each. Every delivery is logged. "
            "BitLabs: `hash` is the lowercase hex HMAC-SHA1 of the full URL without the trailing `&hash=…`. "
            "Wannads: `signature` is the lowercase hex MD5 of `user_id . transaction_id . reward . secret`. "
            "Each transaction id and state (or status) moves coins at most once; a repeat is answered like the "
            "first. POST is accepted too, with the parameters in the query string."
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
            (400, "application/json"): OpenApiResponse(ErrorSchema, description=f"invalid. {_ERROR_FORMS}"),
            (403, "application/json"): OpenApiResponse(
                ErrorSchema, description=f"bad_signature or ip_refused. {_ERROR_FORMS}"
            ),
            (404, "application/json"): OpenApiResponse(
                ErrorSchema, description=f"unknown_user, or no integration with this slug. {_ERROR_FORMS}"
            ),
        },
    )
    def get(self, request, slug):
        meta = request.META
        reply = receive_callback(
            slug=slug,
            method=request.method,
            path=request.path,
            raw_query=get_str_from_wsgi(meta, "QUERY_STRING", ""),
            source_ip=client_ip(
                meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR", ""), settings.TRUSTED_PROXY_HOPS
            ),
        )
        if reply is None:
            return HttpResponse("Unknown callback URL.", status=404, content_type="text/plain")
        return HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)

    @extend_schema(exclude=True)
    def post(self, request, slug):
        return self.get(request, slug)
