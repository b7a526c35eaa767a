import hashlib
import hmac
import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from giveaways import fairness, services
from giveaways.models import Draw, Giveaway, GiveawayProject, Participant
from giveaways.tests.factories import (
    GiveawayFactory,
    GiveawayProjectFactory,
    GiveawayRewardFactory,
    GiveawayTaskFactory,
    ParticipantFactory,
    complete_all_tasks,
)
from rewardhub.testing import Client as ApiClient

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def test_new_project_gets_a_64_character_key_stored_encrypted(staff):
    staff.post("/admin/giveaways/giveawayproject/add/", {"name": "Casino", "website_links": "https://a.example"})

    project = GiveawayProject.objects.get()
    assert re.fullmatch(r"[A-Za-z0-9]{64}", project.api_key)
    assert project.api_key_hash == hashlib.sha256(project.api_key.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM giveaway_projects")
        assert project.api_key not in cursor.fetchone()[0]


def test_project_page_shows_the_key(staff):
    project = GiveawayProjectFactory()

    page = staff.get(f"/admin/giveaways/giveawayproject/{project.pk}/change/").content.decode()

    assert project.api_key in page


def test_editing_a_project_keeps_its_key(staff):
    project = GiveawayProjectFactory()

    staff.post(f"/admin/giveaways/giveawayproject/{project.pk}/change/", {"name": "Renamed", "website_links": ""})

    project_after = GiveawayProject.objects.get()
    assert (project_after.name, project_after.api_key) == ("Renamed", project.api_key)


def test_rotating_the_key_needs_a_confirmation(staff):
    project = GiveawayProjectFactory()

    staff.get(f"/admin/giveaways/giveawayproject/{project.pk}/rotate-key/")
    assert GiveawayProject.objects.get().api_key == project.api_key

    staff.post(f"/admin/giveaways/giveawayproject/{project.pk}/rotate-key/")
    rotated = GiveawayProject.objects.get()
    assert rotated.api_key != project.api_key
    assert re.fullmatch(r"[A-Za-z0-9]{64}", rotated.api_key)
    assert rotated.api_key_rotated_at is not None


def test_new_giveaway_in_the_admin_gets_a_seed_commitment(staff):
    project = GiveawayProjectFactory()
    now = timezone.now()
    form = {
        "project": project.pk,
        "title": "Spring",
        "slug": "spring",
        "description": "",
        "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": "00:00:00",
        "ends_at_0": (now + timedelta(days=7)).strftime("%Y-%m-%d"),
        "ends_at_1": "00:00:00",
        "status": "live",
        **{
            f"{prefix}-{k}": v
            for prefix in ("tasks", "rewards")
            for k, v in {"TOTAL_FORMS": 0, "INITIAL_FORMS": 0}.items()
        },
    }

    response = staff.post("/admin/giveaways/giveaway/add/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    giveaway = Giveaway.objects.get()
    assert giveaway.seed_commitment == fairness.commitment(giveaway.server_seed)


def test_admin_draw_button_draws_an_ended_giveaway(staff):
    giveaway = GiveawayFactory()
    Giveaway.objects.filter(pk=giveaway.pk).update(
        starts_at=timezone.now() - timedelta(days=2), ends_at=timezone.now() - timedelta(hours=1)
    )

    staff.post(f"/admin/giveaways/giveaway/{giveaway.pk}/draw/")

    assert Draw.objects.filter(giveaway=giveaway).exists()


def test_after_the_draw_the_page_links_to_the_results_instead_of_the_draw_button(staff):
    giveaway = GiveawayFactory()
    Giveaway.objects.filter(pk=giveaway.pk).update(
        starts_at=timezone.now() - timedelta(days=2), ends_at=timezone.now() - timedelta(hours=1)
    )
    before = staff.get(f"/admin/giveaways/giveaway/{giveaway.pk}/change/").content.decode()

    after = staff.post(f"/admin/giveaways/giveaway/{giveaway.pk}/draw/", follow=True).content.decode()

    draw_button = f'href="/admin/giveaways/giveaway/{giveaway.pk}/draw/"'
    assert draw_button in before
    assert draw_button not in after
    assert f'href="/admin/giveaways/draw/{Draw.objects.get().pk}/change/">Draw results' in after


def test_the_slug_help_shows_the_public_address_in_full(staff):
    page = staff.get("/admin/giveaways/giveaway/add/").content.decode()

    assert "the public page is /g/ followed by it, e.g. /g/summer-coupon" in page


def test_admin_draw_button_before_the_end_explains_and_draws_nothing(staff):
    giveaway = GiveawayFactory()

    response = staff.post(f"/admin/giveaways/giveaway/{giveaway.pk}/draw/", follow=True)

    assert not Draw.objects.exists()
    assert "draw after that" in response.content.decode()


# --- Check API callback --------------------------------------------------------------------------------


@pytest.fixture
def task():
    return GiveawayTaskFactory(event="sign_up", website_url="https://host.example.com/signup?ref=gw")


def start_check(staff, task):
    response = staff.post(f"/admin/giveaways/giveaway/{task.giveaway_id}/tasks/{task.pk}/check-callback/")
    return Participant.objects.get(is_test=True), response["Location"]


def callback(track_id, sign, event="sign_up"):
    body = {"track_id": track_id, "event": event, "sign": sign}
    return ApiClient().post("/public/v1/giveaway/task/callback", data=json.dumps(body), content_type="application/json")


def test_check_callback_creates_a_test_participant_and_shows_the_link(staff, task):
    participant, status_url = start_check(staff, task)

    page = staff.get(status_url).content.decode()

    assert participant.email == "" and participant.is_test
    assert f"https://host.example.com/signup?ref=gw&amp;track_id={participant.track_id}" in page
    assert "No callback received yet." in page
    assert 'http-equiv="refresh"' in page


def test_check_callback_shows_a_verified_callback(staff, task):
    participant, status_url = start_check(staff, task)
    key = task.giveaway.project.api_key
    sign = hmac.new(key.encode(), f"track_id={participant.track_id}&event=sign_up&remark=".encode(), "sha256")
    callback(participant.track_id, sign.hexdigest())

    page = staff.get(status_url).content.decode()

    assert "Received and verified" in page
    assert "event <code>sign_up</code>" in page


def test_check_callback_shows_the_string_to_sign_but_never_the_key(staff, task):
    participant, status_url = start_check(staff, task)
    callback(participant.track_id, "a" * 64)

    page = staff.get(status_url).content.decode()

    assert "Received with a bad signature" in page
    assert f"<code>track_id={participant.track_id}&amp;event=sign_up&amp;remark=</code>" in page
    assert task.giveaway.project.api_key not in page


def test_check_callback_get_creates_nothing(staff, task):
    staff.get(f"/admin/giveaways/giveaway/{task.giveaway_id}/tasks/{task.pk}/check-callback/")

    assert not Participant.objects.exists()


def test_giveaway_change_page_links_each_task_to_its_check(staff, task):
    page = staff.get(f"/admin/giveaways/giveaway/{task.giveaway_id}/change/").content.decode()

    assert f"/admin/giveaways/giveaway/{task.giveaway_id}/tasks/{task.pk}/check-callback/" in page


@pytest.mark.parametrize("model", ["giveawayproject", "giveaway", "participant", "draw", "callbackattempt"])
def test_admin_lists_open(staff, task, model):
    Participant.objects.create(giveaway=task.giveaway, is_test=True, track_id="test-track-id-1")

    response = staff.get(f"/admin/giveaways/{model}/?q=test")

    assert response.status_code == 200


def test_tasks_and_rewards_are_frozen_once_drawn(staff, task):
    Giveaway.objects.filter(pk=task.giveaway_id).update(
        starts_at=timezone.now() - timedelta(days=2), ends_at=timezone.now() - timedelta(hours=1)
    )
    staff.post(f"/admin/giveaways/giveaway/{task.giveaway_id}/draw/")

    page = staff.get(f"/admin/giveaways/giveaway/{task.giveaway_id}/change/").content.decode()

    assert 'name="tasks-0-name"' not in page
    assert 'name="tasks-0-event"' not in page
    assert 'name="rewards-__prefix__-name"' not in page  # the empty form that adding needs


def test_support_lists_winners_not_yet_delivered(staff):
    giveaway = GiveawayFactory()
    GiveawayTaskFactory(giveaway=giveaway)
    first, second = ParticipantFactory(giveaway=giveaway), ParticipantFactory(giveaway=giveaway)
    GiveawayRewardFactory(giveaway=giveaway, winners=2)
    for participant in (first, second):
        complete_all_tasks(participant)
    draw = services.draw_giveaway(giveaway=giveaway, now=giveaway.ends_at + timedelta(minutes=1))
    draw.winners.filter(participant=first).update(delivered_at=timezone.now())

    page = staff.get("/admin/giveaways/drawwinner/?delivered=no").content.decode()

    assert second.email in page
    assert first.email not in page
