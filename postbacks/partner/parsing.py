"""Strict parsing of the partner postback body: every rejection is Refused with a stable code (a 400)."""

import uuid
from dataclasses import dataclass

from postbacks.models import MAX_LEVEL
from rewardhub.errors import Refused
from rewardhub.inputs import is_storable_text, load_json_object

# Canonical field name → accepted spellings, preferred first (seed 004).
ALIASES = {
    "pid": ("pid",),
    "uid": ("uid", "userId", "user_id"),
    "gid": ("gid", "game_id", "gameId"),
    "level_number": ("level_number", "level"),
    "reason": ("reason",),
}
KNOWN_FIELDS = frozenset(name for spellings in ALIASES.values() for name in spellings)
MAX_REASON_LENGTH = 500


@dataclass(frozen=True)
class PartnerPostbackRequest:
    pid: str
    uid: uuid.UUID
    gid: str
    level_number: int
    reason: str | None


def parse_partner_postback(raw: bytes) -> PartnerPostbackRequest:
    body = load_json_object(raw)
    unknown = sorted(set(body) - KNOWN_FIELDS)
    if unknown:
        raise Refused("unknown_field", f"Unknown field(s): {', '.join(unknown)}.")
    reason = _field(body, "reason", required=False)
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH):
        raise Refused("invalid_field", f"reason must be a string of at most {MAX_REASON_LENGTH} characters.")
    return PartnerPostbackRequest(
        pid=_identifier(body, "pid", max_length=64),
        uid=_uuid(body, "uid"),
        gid=_identifier(body, "gid", max_length=100),
        level_number=_level(body),
        reason=reason or None,
    )


def _field(body: dict, name: str, *, required: bool = True):
    """The value under the canonical name or one alias; two different spellings must agree."""
    present = [body[spelling] for spelling in ALIASES[name] if body.get(spelling) is not None]
    if not present:
        if required:
            raise Refused("missing_field", f"{name} is required.")
        return None
    if any(value != present[0] for value in present[1:]):
        raise Refused("invalid_field", f"{name} is given under several names with different values.")
    if isinstance(present[0], str) and not is_storable_text(present[0]):
        raise Refused("invalid_field", f"{name} cannot contain NUL characters or unpaired surrogates.")
    return present[0]


def _identifier(body: dict, name: str, *, max_length: int) -> str:
    value = _field(body, name)
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise Refused("invalid_field", f"{name} must be a non-empty string of at most {max_length} characters.")
    return value


def _uuid(body: dict, name: str) -> uuid.UUID:
    value = _field(body, name)
    try:
        if not isinstance(value, str) or len(value) != 36:
            raise ValueError
        return uuid.UUID(value)
    except ValueError:
        raise Refused(
            "invalid_field", f"{name} must be a UUID such as a1b2c3d4-e5f6-7890-abcd-ef1234567890."
        ) from None


def _level(body: dict) -> int:
    value = _field(body, "level_number")
    # bool is an int in Python; JSON true is not a level.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LEVEL:
        raise Refused("invalid_field", f"level_number must be an integer from 1 to {MAX_LEVEL}.")
    return value
