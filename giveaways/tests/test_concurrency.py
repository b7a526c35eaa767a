import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from giveaways.models import Draw, DrawWinner, Giveaway, GiveawayTask, Participant, TaskProgress
from giveaways.services import DrawRefused, draw_giveaway, join_giveaway
from giveaways.tests.factories import (
    GiveawayFactory,
    GiveawayRewardFactory,
    GiveawayTaskFactory,
    ParticipantFactory,
    complete_all_tasks,
)
from rewardhub.testing import Client, run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def callback(participant, event, value):
    data = f"track_id={participant.track_id}&event={event}&value={value}&remark="
    sign = hmac.new(participant.giveaway.project.api_key.encode(), data.encode(), hashlib.sha256).hexdigest()
    body = {"track_id": participant.track_id, "event": event, "value": value, "sign": sign}
    return Client().post("/public/v1/giveaway/task/callback", json.dumps(body), content_type="application/json")


def test_concurrent_retries_of_one_callback_complete_the_task_once():
    task = GiveawayTaskFactory(kind=GiveawayTask.Kind.CUSTOM, event="likes", required_amount=3)
    participant = ParticipantFactory(giveaway=task.giveaway)

    responses = run_concurrently([lambda: callback(participant, "likes", 3)] * 8)

    assert [r.status_code for r in responses] == [200] * 8
    progress = TaskProgress.objects.get()
    assert (progress.amount, progress.completed_at is not None) == (3, True)


def test_concurrent_running_totals_keep_the_highest():
    task = GiveawayTaskFactory(kind=GiveawayTask.Kind.CUSTOM, event="likes", required_amount=10)
    participant = ParticipantFactory(giveaway=task.giveaway)

    responses = run_concurrently([lambda v=v: callback(participant, "likes", v) for v in range(1, 9)])

    assert all(r.json()["code"] == 10000 for r in responses)
    progress = TaskProgress.objects.get()
    assert (progress.amount, progress.completed_at) == (8, None)


def test_concurrent_joins_with_one_email_make_one_participant():
    giveaway = GiveawayFactory()

    results = run_concurrently([lambda: join_giveaway(giveaway=giveaway, email="ann@example.com")] * 6)

    assert Participant.objects.count() == 1
    assert sum(created for _, created in results) == 1
    assert {p.pk for p, _ in results} == {Participant.objects.get().pk}


def test_concurrent_draws_draw_once():
    giveaway = GiveawayFactory()
    GiveawayTaskFactory(giveaway=giveaway)
    GiveawayRewardFactory(giveaway=giveaway, winners=2)
    for _ in range(4):
        complete_all_tasks(ParticipantFactory(giveaway=giveaway))
    Giveaway.objects.filter(pk=giveaway.pk).update(
        starts_at=timezone.now() - timedelta(days=2), ends_at=timezone.now() - timedelta(minutes=1)
    )

    results = run_concurrently([lambda: draw_giveaway(giveaway=giveaway)] * 4)

    assert sum(isinstance(r, Draw) for r in results) == 1
    assert sum(isinstance(r, DrawRefused) for r in results) == 3
    assert DrawWinner.objects.count() == 2
