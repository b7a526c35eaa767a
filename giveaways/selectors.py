from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from giveaways import fairness
from giveaways.models import CallbackAttempt, Draw, DrawWinner, Giveaway, GiveawayTask, Participant, TaskProgress
from rewardhub.crypto import decrypt
from rewardhub.db import Database


def participant_by_track_id(track_id: str) -> Participant | None:
    """With its giveaway and project: the project's API key verifies the participant's callbacks."""
    return Participant.objects.select_related("giveaway__project").filter(track_id=track_id).first()


@dataclass(frozen=True)
class TaskCallbackTarget:
    """What a task callback needs, read in one query (the hot path reads no model instances)."""

    participant_id: int
    giveaway_id: int
    is_test: bool
    api_key: str
    giveaway_running: bool
    task_id: int | None  # None: the giveaway has no task with this event
    task_required_amount: int | None


_TASK_CALLBACK_TARGET_SQL = """
SELECT p.id, g.id, p.is_test, project.api_key,
       g.status = %(live)s AND g.starts_at <= %(now)s AND %(now)s < g.ends_at,
       t.id, t.required_amount
FROM giveaway_participants p
JOIN giveaways g ON g.id = p.giveaway_id
JOIN giveaway_projects project ON project.id = g.project_id
LEFT JOIN giveaway_tasks t ON t.giveaway_id = g.id AND t.event = %(event)s
WHERE p.track_id = %(track_id)s
"""


async def task_callback_target(db: Database, track_id: str, event: str) -> TaskCallbackTarget | None:
    now = Giveaway._meta.get_field("starts_at").get_db_prep_value(timezone.now(), connection)
    row = await db.fetchone(
        _TASK_CALLBACK_TARGET_SQL, {"live": Giveaway.Status.LIVE, "now": now, "event": event, "track_id": track_id}
    )
    if row is None:
        return None
    participant_id, giveaway_id, is_test, api_key, running, task_id, required_amount = row
    return TaskCallbackTarget(
        participant_id, giveaway_id, bool(is_test), decrypt(api_key), bool(running), task_id, required_amount
    )


@dataclass(frozen=True)
class TaskState:
    task: GiveawayTask
    amount: int
    completed: bool


def task_states(participant: Participant) -> list[TaskState]:
    rows = {p.task_id: p for p in TaskProgress.objects.filter(participant=participant)}
    return [
        TaskState(
            task, rows[task.pk].amount if task.pk in rows else 0, bool(task.pk in rows and rows[task.pk].completed_at)
        )
        for task in participant.giveaway.tasks.all()
    ]


def all_tasks_completed(participant: Participant) -> bool:
    tasks = GiveawayTask.objects.filter(giveaway_id=participant.giveaway_id).count()
    done = TaskProgress.objects.filter(participant=participant, completed_at__isnull=False).count()
    return done == tasks


def eligible_track_ids(giveaway: Giveaway) -> list[str]:
    """Participants who completed every task; test participants never enter a draw."""
    tasks = giveaway.tasks.count()
    return list(
        Participant.objects.filter(giveaway=giveaway, is_test=False)
        .annotate(done=Count("progress", filter=Q(progress__completed_at__isnull=False)))
        .filter(done=tasks)
        .values_list("track_id", flat=True)
    )


def win_of(participant: Participant) -> DrawWinner | None:
    return DrawWinner.objects.select_related("reward").filter(participant=participant).first()


def draw_of(giveaway: Giveaway) -> Draw | None:
    return Draw.objects.filter(giveaway=giveaway).first()


def latest_attempts(participant: Participant, limit: int = 20) -> list[CallbackAttempt]:
    return list(CallbackAttempt.objects.filter(participant=participant)[:limit])


@dataclass(frozen=True)
class Check:
    label: str
    ok: bool


def verify_draw(draw: Draw) -> list[Check]:
    """Recompute the draw from its published data (commitment, seed, entrants, rewards) and compare."""
    entrants, rewards = draw.entrants, [(tag, winners) for tag, winners in draw.rewards]
    recorded = [
        (w.reward.tag, fairness.entrant_hash(w.participant.track_id))
        for w in draw.winners.select_related("reward", "participant").order_by("pick")
    ]
    recomputed = [
        (p.reward_tag, p.entrant)
        for p in fairness.draw_winners(server_seed=draw.server_seed, entrants=entrants, rewards=rewards)
    ]
    return [
        Check(
            "SHA-256 of the revealed seed equals the commitment published at creation",
            fairness.commitment(draw.server_seed) == draw.giveaway.seed_commitment,
        ),
        Check("entrants are listed once each, in sorted order", entrants == sorted(set(entrants))),
        Check(
            "SHA-256 of the entrants list equals the published entrants digest",
            fairness.entrants_digest(entrants) == draw.entrants_digest,
        ),
        Check("recomputed winners equal the recorded winners", recomputed == recorded),
    ]


@dataclass(frozen=True)
class RunningGiveaway:
    giveaway: Giveaway
    entries: int  # real participants: test participants never enter
    completions: int  # of them, those who completed every task


def running_giveaways(now=None) -> list[RunningGiveaway]:
    """Live giveaways between their start and end, with their entries and completions, for the console."""
    now = now or timezone.now()
    live = Giveaway.objects.filter(status=Giveaway.Status.LIVE, starts_at__lte=now, ends_at__gt=now)
    running = []
    for giveaway in live.annotate(task_count=Count("tasks", distinct=True)).order_by("ends_at")[:20]:
        entrants = Participant.objects.filter(giveaway=giveaway, is_test=False)
        completed = entrants.annotate(done=Count("progress", filter=Q(progress__completed_at__isnull=False)))
        running.append(RunningGiveaway(giveaway, entrants.count(), completed.filter(done=giveaway.task_count).count()))
    return running
