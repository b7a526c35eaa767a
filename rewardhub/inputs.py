"""What every API does with a request before a view sees it: bodies of at most API_MAX_BODY_BYTES (413),
UTF-8 JSON objects that name each key once, form and query parameters that appear once, and (where the
API says so) no fields it does not know. Every refusal is Refused with a stable code."""

import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl

from django.conf import settings
from rest_framework import serializers
from rest_framework.parsers import BaseParser

from rewardhub.errors import Refused


class PayloadTooLarge(Refused):
    def __init__(self):
        super().__init__("payload_too_large", f"The body must be at most {settings.API_MAX_BODY_BYTES} bytes.")


def read_limited(stream, meta: Mapping) -> bytes:
    """The body, refused before it is read when its declared length is over the limit, and refused anyway
    when more bytes arrive than that (never more than limit + 1 bytes are read)."""
    limit = settings.API_MAX_BODY_BYTES
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise PayloadTooLarge()
    raw = stream.read(limit + 1) if stream is not None else b""
    if len(raw) > limit:
        raise PayloadTooLarge()
    return raw


def load_json_object(raw: bytes) -> dict:
    try:
        body = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicate_keys, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Refused("invalid_json", "The body must be valid UTF-8 JSON.") from None
    if not isinstance(body, dict):
        raise Refused("invalid_json", "The body must be a JSON object.")
    return body


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    body = dict(pairs)
    if len(body) != len(pairs):  # Refused, not a ValueError, so it passes the handler above
        raise Refused("invalid_json", "The body repeats a key; send each field once.")
    return body


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python accepts them, JSON does not


# JSON's \u0000 and lone \ud800-\udfff escapes decode to text PostgreSQL refuses (a DataError, or a
# UnicodeEncodeError in the driver): a 500 unless refused first.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def is_storable_text(value: str) -> bool:
    return _UNSTORABLE.search(value) is None


def unique_params(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A parameter sent twice is ambiguous (which one counts?), so it is refused rather than guessed."""
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise Refused("repeated_parameter", f"Parameter '{name[:40]}' is repeated; send each parameter once.")
        params[name] = value
    return params


def reject_repeated_query_params(request) -> None:
    repeated = next((name for name, values in request.GET.lists() if len(values) > 1), None)
    if repeated is not None:
        raise Refused("repeated_parameter", f"Parameter '{repeated[:40]}' is repeated; send each parameter once.")


class LimitedJSONParser(BaseParser):
    """DRF's JSON parser with the body limit, strict UTF-8 and no repeated keys."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        return load_json_object(read_limited(stream, parser_context["request"].META))


def parse_form(raw: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise Refused("invalid_form", "The body must be UTF-8 form data.") from None
    return unique_params(pairs)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare: a client that sends one expects something we would not do."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise Refused("unknown_field", f"Unknown field(s): {', '.join(name[:40] for name in unknown)}.")
        return super().to_internal_value(data)
