from dataclasses import dataclass

from django.db.models import Count, F, FilteredRelation, Q

from giveaways import fairness
from giveaways.models import CallbackAttempt, Draw, DrawWinner, Giveaway, GiveawayTask, Participant, TaskProgress


def participant_by_track_id(track_id: str, *, with_task_event: str | None = None) -> Participant | None:
    """With its giveaway and project: the project's API key verifies the participant's callbacks.
    `with_task_event` also reads, in the same query, the giveaway's task with that event as `task_pk` and
    `task_required_amount` (both None when there is no such task)."""
    participants = Participant.objects.select_related("giveaway__project").filter(track_id=track_id)
    if with_task_event is not None:
        participants = participants.annotate(
            task=FilteredRelation("giveaway__tasks", condition=Q(giveaway__tasks__event=with_task_event)),
            task_pk=F("task__id"),
            task_required_amount=F("task__required_amount"),
        )
    return participants.first()


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
