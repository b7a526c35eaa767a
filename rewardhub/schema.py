"""Shared OpenAPI pieces: the error body and the partner API's two auth headers."""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

# Security schemes are declared in settings.SPECTACULAR_SETTINGS["APPEND_COMPONENTS"].
PARTNER_AUTH = [{"PartnerBearer": []}, {"PartnerApiSecretHeader": []}]


class ErrorSchema(serializers.Serializer):
    ok = serializers.BooleanField(default=False)
    error = serializers.CharField(help_text="Stable machine-readable code.")
    message = serializers.CharField(help_text="Human-readable explanation.")


def error_responses(*pairs: tuple[int, str]) -> dict[int, OpenApiResponse]:
    """{status: OpenApiResponse(ErrorSchema)} with the codes each status can carry."""
    return {code: OpenApiResponse(ErrorSchema, description=f"Error codes: {codes}.") for code, codes in pairs}
