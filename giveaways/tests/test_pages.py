import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from giveaways import fairness
from giveaways.models import Giveaway, GiveawayTask, Participant, TaskProgress
from giveaways.services import draw_giveaway
from giveaways.tests.factories import (
    GiveawayFactory,
    GiveawayRewardFactory,
    GiveawayTaskFactory,
    ParticipantFactory,
    complete_all_tasks,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def giveaway():
    giveaway = GiveawayFactory(slug="summer", title="Summer giveaway")
    GiveawayTaskFactory(giveaway=giveaway, name="Create an account", event="sign_up")
    GiveawayTaskFactory(
        giveaway=giveaway,
        kind=GiveawayTask.Kind.CUSTOM,
        name="Like 3 articles",
        event="like_articles",
        required_amount=3,
        website_url="https://host.example.com/blog?utm_source=gw&track_id=stale",
    )
    GiveawayRewardFactory(giveaway=giveaway, name="$50 coupon", tag="coupon50")
    return giveaway


def end(giveaway):
    Giveaway.objects.filter(pk=giveaway.pk).update(
        starts_at=timezone.now() - timedelta(days=3), ends_at=timezone.now() - timedelta(minutes=1)
    )
    return Giveaway.objects.get(pk=giveaway.pk)


def test_page_shows_tasks_rewards_end_and_commitment(giveaway):
    page = Client().get("/g/summer").content.decode()

    assert "Create an account" in page and "Like 3 articles" in page
    assert "$50 coupon" in page
    assert f"Ends {giveaway.ends_at:%Y-%m-%d %H:%M} UTC" in page
    assert giveaway.seed_commitment in page


def test_draft_giveaway_is_not_public(giveaway):
    Giveaway.objects.filter(pk=giveaway.pk).update(status=Giveaway.Status.DRAFT)

    assert Client().get("/g/summer").status_code == 404


def test_join_gives_an_unguessable_track_id_and_a_personal_link(giveaway):
    response = Client().post("/g/summer/join", {"email": "Ann@Example.com"})

    participant = Participant.objects.get()
    assert participant.email == "ann@example.com"
    assert re.fullmatch(r"[A-Za-z0-9_-]{11,}", participant.track_id)
    assert response.status_code == 302
    assert response["Location"] == f"/g/summer?track_id={participant.track_id}"


def test_joined_browser_sees_its_progress(giveaway):
    client = Client()
    client.post("/g/summer/join", {"email": "ann@example.com"})

    page = client.get("/g/summer").content.decode()

    assert "Your progress" in page
    assert "0 / 3" in page


def test_joining_twice_with_one_email_reveals_nothing(giveaway):
    first = ParticipantFactory(giveaway=giveaway, email="ann@example.com")

    response = Client().post("/g/summer/join", {"email": "ANN@example.com"}, follow=True)

    assert Participant.objects.count() == 1
    assert first.track_id not in response.content.decode()
    assert "already joined" in response.content.decode()


def test_joining_an_ended_giveaway_is_refused(giveaway):
    end(giveaway)

    response = Client().post("/g/summer/join", {"email": "ann@example.com"}, follow=True)

    assert not Participant.objects.exists()
    assert "not open for entries" in response.content.decode()


def test_invalid_email_is_refused(giveaway):
    Client().post("/g/summer/join", {"email": "not-an-email"})

    assert not Participant.objects.exists()


def test_progress_shows_done_and_partial_tasks(giveaway):
    participant = ParticipantFactory(giveaway=giveaway)
    sign_up, likes = giveaway.tasks.all()
    TaskProgress.objects.create(participant=participant, task=sign_up, amount=1, completed_at=timezone.now())
    TaskProgress.objects.create(participant=participant, task=likes, amount=2)

    page = Client().get(f"/g/summer?track_id={participant.track_id}").content.decode()

    assert "✓ done" in page
    assert "2 / 3" in page


def test_task_button_records_the_click_and_redirects_with_track_id(giveaway):
    participant = ParticipantFactory(giveaway=giveaway)
    likes = giveaway.tasks.get(event="like_articles")

    response = Client().get(f"/g/summer/tasks/{likes.pk}?track_id={participant.track_id}")

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "host.example.com", "/blog")
    assert parse_qs(location.query) == {"utm_source": ["gw"], "track_id": [participant.track_id]}
    progress = TaskProgress.objects.get(participant=participant, task=likes)
    assert progress.clicks == 1 and progress.first_clicked_at is not None and progress.completed_at is None


def test_every_click_is_counted(giveaway):
    participant = ParticipantFactory(giveaway=giveaway)
    task = giveaway.tasks.first()
    for _ in range(2):
        Client().get(f"/g/summer/tasks/{task.pk}?track_id={participant.track_id}")

    assert TaskProgress.objects.get().clicks == 2


def test_task_redirect_with_unknown_track_id(giveaway):
    response = Client().get(f"/g/summer/tasks/{giveaway.tasks.first().pk}?track_id=nobody-knows-me")

    assert response.status_code == 404
    assert not TaskProgress.objects.exists()


def test_task_of_another_giveaway_is_not_found(giveaway):
    participant = ParticipantFactory(giveaway=giveaway)
    foreign = GiveawayTaskFactory()

    response = Client().get(f"/g/summer/tasks/{foreign.pk}?track_id={participant.track_id}")

    assert response.status_code == 404


def test_task_redirect_after_the_end_goes_back_to_the_page(giveaway):
    participant = ParticipantFactory(giveaway=giveaway)
    end(giveaway)

    response = Client().get(f"/g/summer/tasks/{giveaway.tasks.first().pk}?track_id={participant.track_id}")

    assert response["Location"] == "/g/summer"
    assert not TaskProgress.objects.exists()


def test_fairness_page_keeps_the_seed_secret_before_the_draw(giveaway):
    page = Client().get("/g/summer/fairness").content.decode()

    assert giveaway.seed_commitment in page
    assert giveaway.server_seed not in page


def test_fairness_page_publishes_seed_entrants_and_winners_after_the_draw(giveaway):
    participant = ParticipantFactory(giveaway=giveaway)
    complete_all_tasks(participant)
    draw = draw_giveaway(giveaway=end(giveaway))

    page = Client().get("/g/summer/fairness").content.decode()

    assert draw.server_seed in page
    assert draw.entrants_digest in page
    assert fairness.entrant_hash(participant.track_id) in page
    assert participant.track_id not in page  # track_ids claim rewards: only their hashes are published


# --- claim ---------------------------------------------------------------------------------------------


@pytest.fixture
def winner(giveaway):
    participant = ParticipantFactory(giveaway=giveaway)
    complete_all_tasks(participant)
    draw_giveaway(giveaway=end(giveaway))
    return participant


def test_claim_page_shows_the_winner_the_reward_and_its_link(giveaway, winner):
    page = Client().get(f"/g/summer/claim?track_id={winner.track_id}").content.decode()

    reward = giveaway.rewards.get()
    assert "Congratulations" in page
    assert "$50 coupon" in page
    assert reward.image.url in page
    assert f'href="https://host.example.com/claim?lang=en&amp;track_id={winner.track_id}"' in page


def test_claim_page_for_a_participant_who_did_not_win(giveaway, winner):
    other = ParticipantFactory(giveaway=giveaway)

    page = Client().get(f"/g/summer/claim?track_id={other.track_id}").content.decode()

    assert "Congratulations" not in page
    assert "had not completed every task" in page


def test_claim_page_before_the_draw(giveaway):
    participant = ParticipantFactory(giveaway=giveaway)
    complete_all_tasks(participant)

    page = Client().get(f"/g/summer/claim?track_id={participant.track_id}").content.decode()

    assert "The draw has not happened yet" in page
    assert "you are in the draw" in page


def test_claim_page_with_unknown_track_id(giveaway):
    assert Client().get("/g/summer/claim?track_id=unknown-track").status_code == 404
