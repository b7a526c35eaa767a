"""A player on a phone: joins a giveaway from its public page and, after the draw, claims the reward."""

from datetime import timedelta

import pytest

from giveaways import services
from giveaways.models import Participant
from giveaways.tests.factories import GiveawayFactory, GiveawayRewardFactory, GiveawayTaskFactory, complete_all_tasks
from rewardhub.tests.browser.conftest import fits_the_screen

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_a_player_joins_on_a_phone_and_claims_the_reward(phone, server):
    giveaway = GiveawayFactory(slug="summer-coupon", title="Summer coupon")
    GiveawayTaskFactory(giveaway=giveaway, name="Sign up on our website", event="sign_up")
    GiveawayRewardFactory(giveaway=giveaway, name="$50 coupon", reward_url="https://host.example.com/claim?lang=en")
    phone.route("https://host.example.com/**", lambda route: route.fulfill(body="Reward delivered"))  # the host

    phone.goto(f"{server}/g/summer-coupon")
    assert fits_the_screen(phone)
    phone.get_by_label("Your email address").fill("player@example.com")
    phone.get_by_role("button", name="Join").tap()
    phone.wait_for_url("**/g/summer-coupon?track_id=*")
    participant = Participant.objects.get(email="player@example.com")
    complete_all_tasks(participant)  # as the host's signed callbacks would
    services.draw_giveaway(giveaway=giveaway, now=giveaway.ends_at + timedelta(minutes=1))

    phone.goto(f"{server}/g/summer-coupon/claim")  # this browser joined: its entry is remembered
    assert phone.get_by_role("heading", name="Congratulations, you won!").is_visible()
    assert fits_the_screen(phone)
    phone.get_by_role("link", name="Claim your reward").tap()

    phone.wait_for_url(f"https://host.example.com/claim?lang=en&track_id={participant.track_id}")
    assert phone.get_by_text("Reward delivered").is_visible()
