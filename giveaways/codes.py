"""Stable result codes of the giveaway API (the original platform's envelope: `code`, `msg`, `data`).

Hosts branch on `code`; the HTTP status says the same thing for generic clients. Codes never change meaning.
"""

from dataclasses import dataclass
from enum import IntEnum

from rest_framework import status

from rewardhub.errors import Refused


class ResultCode(IntEnum):
    SUCCESS = 10000
    INVALID_PARAMS = 40001
    BAD_SIGNATURE = 40101
    UNKNOWN_TRACK_ID = 40401
    UNKNOWN_EVENT = 40402
    METHOD_NOT_ALLOWED = 40501
    GIVEAWAY_NOT_RUNNING = 40901
    NOT_A_WINNER = 40902
    THROTTLED = 42901


# code: (HTTP status, meaning); documented in the OpenAPI schema from this table.
ERROR_CODES: dict[ResultCode, tuple[int, str]] = {
    ResultCode.INVALID_PARAMS: (
        status.HTTP_400_BAD_REQUEST,
        "Invalid parameters: the body is not a JSON object, a field is missing or malformed, or `value` is "
        "missing for a task with a required amount, or a form field is repeated. Unsupported content types answer "
        "415 and bodies over 16 KiB answer 413 with this code. Fields the API does not know are ignored.",
    ),
    ResultCode.BAD_SIGNATURE: (
        status.HTTP_401_UNAUTHORIZED,
        "Bad signature: `sign` is not the HMAC-SHA256 of the documented string with the project's API key.",
    ),
    ResultCode.UNKNOWN_TRACK_ID: (status.HTTP_404_NOT_FOUND, "Unknown track_id."),
    ResultCode.UNKNOWN_EVENT: (status.HTTP_404_NOT_FOUND, "Unknown event: no task of this giveaway has this event."),
    ResultCode.METHOD_NOT_ALLOWED: (status.HTTP_405_METHOD_NOT_ALLOWED, "Only POST is accepted."),
    ResultCode.GIVEAWAY_NOT_RUNNING: (
        status.HTTP_409_CONFLICT,
        "Giveaway not running: tasks are only recorded between the giveaway's start and end.",
    ),
    ResultCode.NOT_A_WINNER: (
        status.HTTP_409_CONFLICT,
        "Not a winner: delivery (`event=send`, prize/callback) can only be reported for a drawn winner.",
    ),
    ResultCode.THROTTLED: (
        status.HTTP_429_TOO_MANY_REQUESTS,
        "Throttled: too many bad signatures from your IP address; every request is refused for the number of "
        "seconds in the Retry-After header.",
    ),
}

SUCCESS_MSG = "Success"


@dataclass(frozen=True)
class RefusedParticipant:
    """Whom a refused callback was about, once it named an existing participant: what the API records it by."""

    giveaway_id: int
    track_id: str
    event: str


class CallbackError(Refused):
    """A refusal of the giveaway API with its result code; the API renders it in the envelope with the code's
    HTTP status (ERROR_CODES)."""

    def __init__(self, result: ResultCode, message: str):
        super().__init__(result.name.lower(), message)
        self.result = result
        self.participant: RefusedParticipant | None = None  # set by the service once the participant is known
