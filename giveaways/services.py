"""Every write of the giveaways app: projects' API keys, joining, clicks, signed callbacks, draws."""

import secrets
import string
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.services import hash_secret
from giveaways import fairness, selectors, signing
from giveaways.codes import CallbackError, RefusedParticipant, ResultCode
from giveaways.models import (
    RESERVED_EVENT_SEND,
    CallbackAttempt,
    Draw,
    DrawWinner,
    Giveaway,
    GiveawayProject,
    GiveawayTask,
    Participant,
    TaskProgress,
)
from rewardhub.db import Database
from rewardhub.errors import Refused

API_KEY_ALPHABET = string.ascii_letters + string.digits
API_KEY_LENGTH = 64


# --- projects and giveaways ---------------------------------------------------------------------------


def _new_api_key() -> tuple[str, str]:
    key = "".join(secrets.choice(API_KEY_ALPHABET) for _ in range(API_KEY_LENGTH))
    return key, hash_secret(key)


def assign_new_api_key(project: GiveawayProject) -> None:
    """For a project about to be created (the admin's add form)."""
    project.api_key, project.api_key_hash = _new_api_key()


def create_project(*, name: str, website_links: str = "") -> GiveawayProject:
    project = GiveawayProject(name=name, website_links=website_links)
    assign_new_api_key(project)
    project.save()
    return project


def rotate_api_key(*, project: GiveawayProject) -> str:
    """Only on the host's deliberate request: every integration must switch to the new key."""
    assign_new_api_key(project)
    project.api_key_rotated_at = timezone.now()
    project.save(update_fields=["api_key", "api_key_hash", "api_key_rotated_at"])
    return project.api_key


def assign_server_seed(giveaway: Giveaway) -> None:
    """At creation: the seed stays secret until the draw, its SHA-256 is public from the start."""
    giveaway.server_seed = fairness.new_server_seed()
    giveaway.seed_commitment = fairness.commitment(giveaway.server_seed)


def create_giveaway(*, project: GiveawayProject, **fields) -> Giveaway:
    giveaway = Giveaway(project=project, **fields)
    assign_server_seed(giveaway)
    giveaway.save()
    return giveaway


# --- participants -------------------------------------------------------------------------------------


class JoinRefused(Refused):
    def __init__(self, message: str):
        super().__init__("not_open", message)


def _new_track_id() -> str:
    return secrets.token_urlsafe(16)  # 22 URL-safe characters, 128 random bits


def join_giveaway(*, giveaway: Giveaway, email: str) -> tuple[Participant, bool]:
    """(participant, created). The same email joins once; the unique constraint decides under races."""
    if not giveaway.is_running():
        raise JoinRefused("This giveaway is not open for entries.")
    email = email.strip().lower()
    try:
        with transaction.atomic():
            return Participant.objects.create(giveaway=giveaway, email=email, track_id=_new_track_id()), True
    except IntegrityError:
        return Participant.objects.get(giveaway=giveaway, email=email, is_test=False), False


def create_test_participant(*, giveaway: Giveaway) -> Participant:
    return Participant.objects.create(giveaway=giveaway, is_test=True, track_id=_new_track_id())


def _progress_row(participant: Participant, task: GiveawayTask) -> int:
    return TaskProgress.objects.get_or_create(participant=participant, task=task)[0].pk


def record_click(*, participant: Participant, task: GiveawayTask) -> None:
    with transaction.atomic():
        TaskProgress.objects.filter(pk=_progress_row(participant, task)).update(
            clicks=F("clicks") + 1, first_clicked_at=Coalesce(F("first_clicked_at"), Value(timezone.now()))
        )


# --- the signed callback API --------------------------------------------------------------------------


@dataclass
class _Attempt:
    signature_valid: bool = False
    code: ResultCode = ResultCode.SUCCESS
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Caller:
    """Who a signed call is about: the participant and the API key that must have signed it."""

    participant_id: int
    giveaway_id: int
    track_id: str
    is_test: bool
    api_key: str = field(repr=False)

    @classmethod
    def of(cls, participant: Participant) -> "_Caller":
        return cls(
            participant.pk,
            participant.giveaway_id,
            participant.track_id,
            participant.is_test,
            participant.giveaway.project.api_key,
        )


@asynccontextmanager
async def _verified(
    db: Database, caller: _Caller, endpoint: str, event: str, candidates: list[str], signature: str
) -> AsyncIterator[_Attempt]:
    """Check the signature before anything is written; for test participants record the attempt
    (bad signatures included) so 'Check API callback' can show it."""
    attempt = _Attempt(signature_valid=signing.matches(caller.api_key, candidates, signature))
    try:
        if not attempt.signature_valid:
            raise CallbackError(ResultCode.BAD_SIGNATURE, "Bad signature.")
        yield attempt
    except CallbackError as error:
        attempt.code = error.result
        error.participant = RefusedParticipant(caller.giveaway_id, caller.track_id, event)
        await _log_attempt(db, caller, endpoint, event, candidates[0], attempt)
        raise
    else:
        await _log_attempt(db, caller, endpoint, event, candidates[0], attempt)


async def _log_attempt(
    db: Database, caller: _Caller, endpoint: str, event: str, expected: str, attempt: _Attempt
) -> None:
    if caller.is_test:
        await db.orm(
            CallbackAttempt.objects.create,
            participant_id=caller.participant_id,
            endpoint=endpoint,
            event=event,
            signature_valid=attempt.signature_valid,
            expected_string=expected,
            result_code=attempt.code,
        )


def _participant(track_id: str) -> Participant:
    participant = selectors.participant_by_track_id(track_id)
    if participant is None:
        raise CallbackError(ResultCode.UNKNOWN_TRACK_ID, "Unknown track_id.")
    return participant


async def task_callback(
    *, db: Database, track_id: str, event: str, value: str | None, remark: str | None, sign: str
) -> dict:
    """Mark the participant's task done (or raise its running total); `event=send` reports delivery."""
    candidates = signing.task_callback_strings(track_id=track_id, event=event, value=value, remark=remark)
    if event == RESERVED_EVENT_SEND:
        participant = await db.orm(_participant, track_id)
        caller = _Caller.of(participant)
        async with _verified(db, caller, CallbackAttempt.Endpoint.TASK, event, candidates, sign) as attempt:
            attempt.data = await db.orm(_record_delivery, participant)
        return attempt.data
    if (data := await _record_with_known_key(db, track_id, event, value, remark, candidates, sign)) is not None:
        return data
    target = await selectors.task_callback_target(db, track_id, event)
    if target is None:
        raise CallbackError(ResultCode.UNKNOWN_TRACK_ID, "Unknown track_id.")
    caller = _Caller(target.participant_id, target.giveaway_id, track_id, target.is_test, target.api_key)
    async with _verified(db, caller, CallbackAttempt.Endpoint.TASK, event, candidates, sign) as attempt:
        attempt.data = await _record_task_event(db, target, event, value, remark)
    _remember(hash_secret(target.api_key), target.api_key)
    return attempt.data


# The unique (participant, task) row is created or updated in place, in one statement with no transaction. The
# stored total only ever rises and the first completion time is kept, so retries and reordered calls are harmless.
# _RECORD_KNOWN_SQL ends with the same upsert: a change to one is a change to both.
_RECORD_PROGRESS_SQL = """
INSERT INTO giveaway_task_progress
    (participant_id, task_id, clicks, amount, completed_at, last_remark, updated_at)
VALUES (%(participant)s, %(task)s, 0, %(amount)s, %(completed_at)s, %(remark)s, %(now)s)
ON CONFLICT (participant_id, task_id) DO UPDATE SET
    amount = CASE WHEN excluded.amount > giveaway_task_progress.amount
                  THEN excluded.amount ELSE giveaway_task_progress.amount END,
    completed_at = COALESCE(giveaway_task_progress.completed_at, excluded.completed_at),
    last_remark = CASE WHEN %(has_remark)s THEN excluded.last_remark ELSE giveaway_task_progress.last_remark END,
    updated_at = excluded.updated_at
RETURNING amount, completed_at
"""


# Project keys this process verified a task callback with, by their hash, the most recently used last. A host reports
# each participant's tasks one by one, so the next callbacks of its participants are checked against these keys
# first, and a match is recorded by one statement only if the participant's project still has that key and everything
# else the read would have checked holds (_RECORD_KNOWN_SQL). Only a hint: no match, or a statement that finds
# nothing, takes the full path, which reads, verifies and answers with the right error; a rotated-out key matches
# nothing the statement accepts and ages out. Few keys: a callback that matches none costs an HMAC per key and
# candidate string (16 keys, two strings: ~50 µs).
_known_keys: OrderedDict[str, str] = OrderedDict()
KNOWN_KEYS = 16

# The progress upsert of _RECORD_PROGRESS_SQL, from a row only the participant's current state yields: the
# participant (not a test one) in a running giveaway whose project has the key the signature matched, a task of
# that giveaway with this event, and a value where the task counts one.
_RECORD_KNOWN_SQL = """
WITH task AS (
    SELECT p.id AS participant_id, t.id AS task_id,
           CASE WHEN t.required_amount > 0 THEN %(value)s::bigint ELSE 1 END AS amount,
           GREATEST(t.required_amount, 1) AS required
    FROM giveaway_participants p
    JOIN giveaways g ON g.id = p.giveaway_id
    JOIN giveaway_projects project ON project.id = g.project_id
    JOIN giveaway_tasks t ON t.giveaway_id = g.id AND t.event = %(event)s
    WHERE p.track_id = %(track_id)s AND NOT p.is_test
      AND project.api_key_hash = %(api_key_hash)s
      AND g.status = %(live)s AND g.starts_at <= %(now)s AND %(now)s < g.ends_at
      AND (COALESCE(t.required_amount, 0) = 0 OR %(value)s::bigint IS NOT NULL)
),
progress AS (
    INSERT INTO giveaway_task_progress
        (participant_id, task_id, clicks, amount, completed_at, last_remark, updated_at)
    SELECT participant_id, task_id, 0, amount, CASE WHEN amount >= required THEN %(now)s END, %(remark)s, %(now)s
    FROM task
    ON CONFLICT (participant_id, task_id) DO UPDATE SET
        amount = CASE WHEN excluded.amount > giveaway_task_progress.amount
                      THEN excluded.amount ELSE giveaway_task_progress.amount END,
        completed_at = COALESCE(giveaway_task_progress.completed_at, excluded.completed_at),
        last_remark = CASE WHEN %(has_remark)s THEN excluded.last_remark ELSE giveaway_task_progress.last_remark END,
        updated_at = excluded.updated_at
    RETURNING amount, completed_at
)
SELECT progress.amount, progress.completed_at, task.required FROM progress, task
"""


def _remember(key_hash: str, api_key: str) -> None:
    _known_keys.pop(key_hash, None)
    _known_keys[key_hash] = api_key
    if len(_known_keys) > KNOWN_KEYS:
        _known_keys.popitem(last=False)


async def _record_with_known_key(
    db: Database, track_id: str, event: str, value: str | None, remark: str | None, candidates: list[str], sign: str
) -> dict | None:
    """The task recorded in one round trip when `sign` matches a key this process knows, or None (nothing written)."""
    known = reversed(list(_known_keys.items()))
    key_hash, key = next(((h, key) for h, key in known if signing.matches(key, candidates, sign)), (None, None))
    if key is None:
        return None
    row = await db.fetchone(
        _RECORD_KNOWN_SQL,
        {
            "track_id": track_id,
            "api_key_hash": key_hash,
            "live": Giveaway.Status.LIVE,
            "now": timezone.now(),
            "event": event,
            "value": None if value is None else int(value),
            "remark": remark or "",
            "has_remark": bool(remark),
        },
    )
    if row is None:
        return None
    _remember(key_hash, key)
    return _progress_data(event, *row)


async def _record_task_event(
    db: Database, target: selectors.TaskCallbackTarget, event: str, value: str | None, remark: str | None
) -> dict:
    if target.task_id is None:
        raise CallbackError(ResultCode.UNKNOWN_EVENT, f"Unknown event '{event}' for this giveaway.")
    # Test participants exist so hosts can check their integration before and after the giveaway runs.
    if not target.is_test and not target.giveaway_running:
        raise CallbackError(ResultCode.GIVEAWAY_NOT_RUNNING, "The giveaway is not running.")
    required_amount = target.task_required_amount
    if required_amount and value is None:
        raise CallbackError(
            ResultCode.INVALID_PARAMS, f"'value' (the participant's running total) is required for event '{event}'."
        )
    amount = int(value) if required_amount else 1
    required = required_amount or 1
    now = timezone.now()
    stored_amount, completed_at = await db.fetchone(
        _RECORD_PROGRESS_SQL,
        {
            "participant": target.participant_id,
            "task": target.task_id,
            "amount": amount,
            "completed_at": now if amount >= required else None,
            "remark": remark or "",
            "has_remark": bool(remark),
            "now": now,
        },
    )
    return _progress_data(event, stored_amount, completed_at, required)


def _progress_data(event: str, amount: int, completed_at, required: int) -> dict:
    """What a task callback answers: the participant's stored progress on the task."""
    return {"event": event, "task_completed": completed_at is not None, "value": amount, "required": required}


def _record_delivery(participant: Participant) -> dict:
    win = selectors.win_of(participant)
    if win is None:
        raise CallbackError(ResultCode.NOT_A_WINNER, "This track_id has not won a reward.")
    DrawWinner.objects.filter(pk=win.pk, delivered_at=None).update(delivered_at=timezone.now())
    win.refresh_from_db(fields=["delivered_at"])
    return {"reward_tag": win.reward.tag, "delivered": True, "delivered_at": win.delivered_at}


async def player_status(*, db: Database, track_id: str, sign: str) -> dict:
    participant = await db.orm(_participant, track_id)
    candidates = [signing.track_id_string(track_id)]
    async with _verified(db, _Caller.of(participant), CallbackAttempt.Endpoint.STATUS, "", candidates, sign) as attempt:
        attempt.data = await db.orm(_status, participant)
    return attempt.data


def _status(participant: Participant) -> dict:
    win = selectors.win_of(participant)
    return {
        "status": {"task_completed": selectors.all_tasks_completed(participant), "won": win is not None},
        "reward_tag": win.reward.tag if win else None,
    }


async def prize_callback(*, db: Database, track_id: str, sign: str) -> dict:
    participant = await db.orm(_participant, track_id)
    candidates = [signing.track_id_string(track_id)]
    async with _verified(db, _Caller.of(participant), CallbackAttempt.Endpoint.PRIZE, "", candidates, sign) as attempt:
        attempt.data = await db.orm(_record_delivery, participant)
    return attempt.data


# --- draws --------------------------------------------------------------------------------------------


class DrawRefused(Refused):
    def __init__(self, message: str):
        super().__init__("draw_refused", message)


def draw_giveaway(*, giveaway: Giveaway, now: datetime | None = None) -> Draw:
    """Draw once, after the end; final. The one-to-one Draw row refuses a second draw in the database."""
    now = now or timezone.now()
    with transaction.atomic():
        giveaway = Giveaway.objects.select_for_update().get(pk=giveaway.pk)
        if Draw.objects.filter(giveaway=giveaway).exists():
            raise DrawRefused(f"'{giveaway.slug}' has already been drawn.")
        if giveaway.status != Giveaway.Status.LIVE:
            raise DrawRefused(f"'{giveaway.slug}' is {giveaway.get_status_display().lower()}, not live.")
        if not giveaway.has_ended(now):
            raise DrawRefused(f"'{giveaway.slug}' ends at {giveaway.ends_at:%Y-%m-%d %H:%M} UTC; draw after that.")
        track_ids = {fairness.entrant_hash(t): t for t in selectors.eligible_track_ids(giveaway)}
        entrants = sorted(track_ids)
        rewards = list(giveaway.rewards.all())
        picks = fairness.draw_winners(
            server_seed=giveaway.server_seed, entrants=entrants, rewards=[(r.tag, r.winners) for r in rewards]
        )
        try:
            with transaction.atomic():
                draw = Draw.objects.create(
                    giveaway=giveaway,
                    server_seed=giveaway.server_seed,
                    entrants=entrants,
                    entrants_digest=fairness.entrants_digest(entrants),
                    rewards=[[r.tag, r.winners] for r in rewards],
                    drawn_at=now,
                )
        except IntegrityError:
            raise DrawRefused(f"'{giveaway.slug}' has already been drawn.") from None
        participants = dict(
            Participant.objects.filter(track_id__in=[track_ids[p.entrant] for p in picks]).values_list("track_id", "pk")
        )
        reward_pks = {r.tag: r.pk for r in rewards}
        DrawWinner.objects.bulk_create(
            DrawWinner(
                draw=draw,
                reward_id=reward_pks[p.reward_tag],
                participant_id=participants[track_ids[p.entrant]],
                pick=i,
            )
            for i, p in enumerate(picks)
        )
    return draw


def draw_due_giveaways(*, now: datetime | None = None) -> list[Draw | DrawRefused]:
    """Every live giveaway that has ended and not been drawn; one failure does not stop the others."""
    now = now or timezone.now()
    due = Giveaway.objects.filter(status=Giveaway.Status.LIVE, ends_at__lte=now, draw__isnull=True).order_by("ends_at")
    results = []
    for giveaway in due:
        try:
            results.append(draw_giveaway(giveaway=giveaway, now=now))
        except DrawRefused as refused:
            results.append(refused)
    return results
