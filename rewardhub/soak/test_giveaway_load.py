"""Giveaway task callbacks (seeds 000/001) against gunicorn on PostgreSQL, from real client threads."""

import random

import pytest

from giveaways.models import GiveawayTask, TaskProgress
from giveaways.tests.factories import GiveawayTaskFactory, ParticipantFactory
from rewardhub.soak import calls
from rewardhub.soak.clients import fire_simultaneously, run_clients
from rewardhub.soak.figures import FIGURES

pytestmark = [pytest.mark.soak, pytest.mark.django_db(transaction=True)]
PARTICIPANTS = 20
REQUIRED = 20


def test_200_simultaneous_retries_of_a_task_callback_complete_it_once(server):
    task = GiveawayTaskFactory(kind=GiveawayTask.Kind.SIGN_UP, event="sign_up")
    participant = ParticipantFactory(giveaway=task.giveaway)
    api_key = task.giveaway.project.api_key
    call = calls.giveaway_task_callback(api_key=api_key, track_id=participant.track_id, event="sign_up")

    exchanges = fire_simultaneously(server.base_url, [call] * 200)

    FIGURES.record("giveaway task callbacks: 200 identical at once", exchanges)
    assert [exchange.status for exchange in exchanges] == [200] * 200
    expected = {"event": "sign_up", "task_completed": True, "value": 1, "required": 1}
    assert all(exchange.json() == {"code": 10000, "msg": "Success", "data": expected} for exchange in exchanges)
    progress = TaskProgress.objects.get()
    assert (progress.amount, progress.completed_at is not None) == (1, True)


def test_concurrent_running_totals_only_ever_rise_and_complete_the_task_once(server):
    """Every running total 1..20 twice per participant, shuffled, from 16 clients. An answer received before
    another request was sent never shows more progress than that request's answer: progress is monotonic."""
    task = GiveawayTaskFactory(kind=GiveawayTask.Kind.CUSTOM, event="likes", required_amount=REQUIRED)
    participants = ParticipantFactory.create_batch(PARTICIPANTS, giveaway=task.giveaway)
    api_key = task.giveaway.project.api_key
    sent = [
        calls.giveaway_task_callback(api_key=api_key, track_id=p.track_id, event="likes", value=value)
        for p in participants
        for value in range(1, REQUIRED + 1)
        for _ in range(2)
    ]
    random.Random(3).shuffle(sent)

    exchanges = run_clients(server.base_url, sent, clients=16)

    FIGURES.record(f"giveaway task callbacks: {len(sent):,} running totals, 16 clients", exchanges)
    assert {exchange.status for exchange in exchanges} == {200}
    by_participant = {}
    for exchange in exchanges:
        data = exchange.json()["data"]
        _, track_id, _, value = exchange.call.key
        assert data["value"] >= value
        assert data["task_completed"] == (data["value"] >= REQUIRED)
        by_participant.setdefault(track_id, []).append((exchange.sent_at, exchange.received_at, data["value"]))
    for answers in by_participant.values():
        for _, earlier_received, earlier_value in answers:
            later = [value for sent_at, _, value in answers if sent_at > earlier_received]
            assert all(value >= earlier_value for value in later)
    rows = TaskProgress.objects.values_list("participant__track_id", "amount", "completed_at")
    assert len(rows) == PARTICIPANTS
    assert all(amount == REQUIRED and completed_at is not None for _, amount, completed_at in rows)
