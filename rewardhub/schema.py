"""Shared OpenAPI pieces: the error body, the partner API's two auth headers, and the fast lane's routes."""

from drf_spectacular.generators import EndpointEnumerator
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.views import APIView

# Security schemes are declared in settings.SPECTACULAR_SETTINGS["APPEND_COMPONENTS"].
PARTNER_AUTH = [{"PartnerBearer": []}, {"PartnerApiSecretHeader": []}]


class ErrorSchema(serializers.Serializer):
    ok = serializers.BooleanField(default=False)
    error = serializers.CharField(help_text="Stable machine-readable code.")
    message = serializers.CharField(help_text="Human-readable explanation.")


def error_responses(*pairs: tuple[int, str]) -> dict[int, OpenApiResponse]:
    """{status: OpenApiResponse(ErrorSchema)} with the codes each status can carry."""
    return {code: OpenApiResponse(ErrorSchema, description=f"Error codes: {codes}.") for code, codes in pairs}


def document_hot_paths(endpoints: list[tuple]) -> list[tuple]:
    """drf-spectacular's preprocessing hook: the endpoints it found in the URLconf (DRF views only), plus the fast
    lane's (rewardhub.urls.HOT_PATHS), which are plain coroutines. drf-spectacular describes an APIView's handler
    methods, so each documented route gets a class of its own whose methods carry the `extend_schema` its table
    entry declares: the class only describes, it never serves a request."""
    from rewardhub.urls import HOT_PATHS  # the URLconf imports the apps' APIs, which import this module

    enumerator = EndpointEnumerator()
    for hot_path in HOT_PATHS:
        if not hot_path.docs:
            continue
        described = {method: docs(handler_for(method)) for method, docs in hot_path.docs.items()}
        view = type(f"{hot_path.view.__name__}_schema", (APIView,), described).as_view()
        path = enumerator.get_path_from_regex(hot_path.route)
        endpoints += [(path, hot_path.route, method.upper(), view) for method in hot_path.docs]
    return endpoints


def handler_for(method: str):
    def handler(self, request, **kwargs):
        raise NotImplementedError("Only describes a fast-lane route for the schema (rewardhub.hot_paths).")

    handler.__name__ = method
    return handler
