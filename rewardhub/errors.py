"""Refusals, and one error shape for the JSON APIs: {"ok": false, "error": <stable code>, "message": <text>}.

Services and input parsing raise `Refused`: what was refused and why, with no HTTP in it. Each API turns it into
its contract's answer in one place: the partner postback and the reward-app API (DRF) with `refusal_response` /
`api_exception_handler` and the status table below, the giveaway API with giveaways/codes.py, the offer networks
with their adapter's reply (postbacks/offers/networks)."""

import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import HttpResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from rewardhub import metrics


class Refused(Exception):
    """A request refused by the domain or by input parsing: `code` is stable (clients branch on it), `message`
    says why to a person."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


# The JSON APIs' HTTP status for each refusal; any other code is a 400 (the request itself is wrong).
JSON_API_STATUS = {
    "unauthorized": status.HTTP_401_UNAUTHORIZED,
    "user_banned": status.HTTP_403_FORBIDDEN,
    "install_not_verified": status.HTTP_403_FORBIDDEN,
    "unknown_uid": status.HTTP_404_NOT_FOUND,
    "payload_too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "unsupported_media_type": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
}


def json_api_status(refused: Refused) -> int:
    return JSON_API_STATUS.get(refused.code, status.HTTP_400_BAD_REQUEST)


def error_body(code: str, message: str) -> dict:
    return {"ok": False, "error": code, "message": message}


def json_response(body: dict, http_status: int = 200) -> HttpResponse:
    """Compact JSON of plain values: what JsonResponse sends, without its encoder class, at a hot path's cost."""
    return HttpResponse(
        json.dumps(body, separators=(",", ":")).encode(), status=http_status, content_type="application/json"
    )


def error_response(code: str, message: str, http_status: int) -> HttpResponse:
    metrics.outcome.set(code)
    return json_response(error_body(code, message), http_status)


def refusal_response(refused: Refused) -> HttpResponse:
    return error_response(refused.code, refused.message, json_api_status(refused))


_DRF_CODES = {
    exceptions.ParseError: "invalid_json",
    exceptions.NotAuthenticated: "unauthorized",
    exceptions.AuthenticationFailed: "unauthorized",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ValidationError: "invalid_request",
}


def api_exception_handler(exc, context):
    if isinstance(exc, SuspiciousOperation):
        exc = _suspicious_request_error(exc)
    if isinstance(exc, Refused):
        return Response(error_body(exc.code, exc.message), status=json_api_status(exc))
    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API error: let Django log it and answer 500
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    body = error_body(code, _flatten(exc.detail))
    return Response(body, status=response.status_code, headers=_kept_headers(response))


def _suspicious_request_error(exc: SuspiciousOperation) -> Refused:
    """Django's request limits (too many parameters, too large a body) and other suspicious requests, in the
    API's format rather than Django's HTML 400; still reported on the django.security logger, as Django does."""
    logging.getLogger(f"django.security.{type(exc).__name__}").warning("%s", exc)
    if isinstance(exc, RequestDataTooBig):
        return Refused("payload_too_large", "The request body is too large.")
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return Refused("too_many_parameters", f"A request carries at most {limit} parameters.")
    return Refused("bad_request", "The request is malformed.")


def _kept_headers(response) -> dict:
    return {name: response[name] for name in ("Retry-After", "WWW-Authenticate", "Allow") if name in response}


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{field}: {_flatten(value)}" for field, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    return str(detail)


def unauthorized(message: str = "Missing or invalid API secret.") -> Refused:
    return Refused("unauthorized", message)
