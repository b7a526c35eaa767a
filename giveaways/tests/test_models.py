import pytest
from django.db import IntegrityError

from giveaways.models import GiveawayTask, Participant, TaskProgress
from giveaways.services import join_giveaway
from giveaways.tests.factories import (
    GiveawayFactory,
    GiveawayProjectFactory,
    GiveawayTaskFactory,
    ParticipantFactory,
)

pytestmark = pytest.mark.django_db


def test_two_projects_cannot_share_an_api_key():
    GiveawayProjectFactory(api_key="A" * 64)

    with pytest.raises(IntegrityError):
        GiveawayProjectFactory(api_key="A" * 64)


def test_custom_task_needs_a_required_amount():
    with pytest.raises(IntegrityError):
        GiveawayTaskFactory(kind=GiveawayTask.Kind.CUSTOM, required_amount=None)


def test_only_custom_tasks_have_a_required_amount():
    with pytest.raises(IntegrityError):
        GiveawayTaskFactory(kind=GiveawayTask.Kind.DEPOSIT, required_amount=2)


def test_no_task_may_use_the_send_event():
    with pytest.raises(IntegrityError):
        GiveawayTaskFactory(event="send")


def test_one_progress_row_per_participant_and_task():
    task = GiveawayTaskFactory()
    participant = ParticipantFactory(giveaway=task.giveaway)
    TaskProgress.objects.create(participant=participant, task=task)

    with pytest.raises(IntegrityError):
        TaskProgress.objects.create(participant=participant, task=task)


def test_rejoining_returns_the_same_participant():
    giveaway = GiveawayFactory()
    first, created = join_giveaway(giveaway=giveaway, email="ann@example.com")

    again, created_again = join_giveaway(giveaway=giveaway, email=" ANN@example.com ")

    assert (again, created, created_again) == (first, True, False)
    assert Participant.objects.count() == 1


def test_track_ids_are_unique_across_giveaways():
    ParticipantFactory(track_id="same-track-id-1")

    with pytest.raises(IntegrityError):
        ParticipantFactory(track_id="same-track-id-1")


def test_track_id_must_be_at_least_11_characters():
    with pytest.raises(IntegrityError):
        ParticipantFactory(track_id="short")
