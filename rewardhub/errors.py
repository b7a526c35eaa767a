"""One error shape for the JSON APIs: {"ok": false, "error": <stable code>, "message": <human text>}."""

import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import HttpResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApiError(exceptions.APIException):
    """An error with a stable machine-readable code; raise it from API views and services."""

    def __init__(self, code: str, message: str, http_status: int = status.HTTP_400_BAD_REQUEST):
        super().__init__(message, code)
        self.error_code = code
        self.status_code = http_status


def error_body(code: str, message: str) -> dict:
    return {"ok": False, "error": code, "message": message}


def json_response(body: dict, http_status: int = 200) -> HttpResponse:
    """Compact JSON of plain values: what JsonResponse sends, without its encoder class, at a hot path's cost."""
    return HttpResponse(
        json.dumps(body, separators=(",", ":")).encode(), status=http_status, content_type="application/json"
    )


def error_response(code: str, message: str, http_status: int) -> HttpResponse:
    return json_response(error_body(code, message), http_status)


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
    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API error: let Django log it and answer 500
    if isinstance(exc, ApiError):
        code, message = exc.error_code, str(exc.detail)
    else:
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
        message = _flatten(exc.detail)
    return Response(error_body(code, message), status=response.status_code, headers=_kept_headers(response))


def _suspicious_request_error(exc: SuspiciousOperation) -> ApiError:
    """Django's request limits (too many parameters, too large a body) and other suspicious requests, in the
    API's format rather than Django's HTML 400; still reported on the django.security logger, as Django does."""
    logging.getLogger(f"django.security.{type(exc).__name__}").warning("%s", exc)
    if isinstance(exc, RequestDataTooBig):
        return ApiError("payload_too_large", "The request body is too large.", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return ApiError("too_many_parameters", f"A request carries at most {limit} parameters.")
    return ApiError("bad_request", "The request is malformed.")


def _kept_headers(response) -> dict:
    return {name: response[name] for name in ("Retry-After", "WWW-Authenticate", "Allow") if name in response}


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{field}: {_flatten(value)}" for field, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    return str(detail)


def unauthorized(message: str = "Missing or invalid API secret.") -> ApiError:
    return ApiError("unauthorized", message, status.HTTP_401_UNAUTHORIZED)
