import hashlib
import hmac
from collections import Counter
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError
from django.utils import timezone

from giveaways import fairness
from giveaways.models import Draw, DrawWinner, Giveaway
from giveaways.services import DrawRefused, draw_giveaway
from giveaways.tests.factories import (
    GiveawayFactory,
    GiveawayRewardFactory,
    GiveawayTaskFactory,
    ParticipantFactory,
    complete_all_tasks,
)

# Precomputed with sha256sum / openssl (see the test names): seed = sha256("fixed").
SEED = "992a93455c71fedd36ac9bbc439952c041cf61445958472af479269b8d873513"
SEED_COMMITMENT = "19e910f8a9f70fd3b254cf331fefb56e9c715d4160aeee1d057b03533e117ca2"
ALPHA = "0dbbca70c88b869ddc475887132e41b637d67bb50aee43afff3142270d05f028"  # sha256("alpha-track-0001")
BRAVO = "97e536441d21a4794bedc8809c515477d77722c8e3d0d746ddbf64594fbb0c6e"  # sha256("bravo-track-0002")
CHARLIE = "7e5393c9d31973504e529817990a93455b5848fb0b9ab923abd4eba5589db246"  # sha256("charlie-track-03")
ENTRANTS = [ALPHA, CHARLIE, BRAVO]  # sorted
DIGEST = "4656ed06381c3533a2c0091d784bbd0a1357d2d24bb665414da557cf19aa3147"  # sha256 of the three, "\n"-joined
# printf '%s:0' $DIGEST | openssl dgst -sha256 -hmac $SEED -> 0x30ae…, mod 3 = 1 (CHARLIE);
# printf '%s:1' …                                           -> 0x57fb…, mod 2 = 1 (BRAVO, from [ALPHA, BRAVO]).


def test_commitment_is_the_sha256_of_the_seed():
    assert fairness.commitment(SEED) == SEED_COMMITMENT


def test_entrant_hash_and_digest_known_answers():
    assert fairness.entrant_hash("alpha-track-0001") == ALPHA
    assert fairness.entrants_digest(ENTRANTS) == DIGEST


def test_draw_known_answer_computed_with_openssl():
    picks = fairness.draw_winners(server_seed=SEED, entrants=ENTRANTS, rewards=[("coupon", 1), ("tshirt", 1)])

    assert [(p.reward_tag, p.entrant) for p in picks] == [("coupon", CHARLIE), ("tshirt", BRAVO)]


def test_draw_is_deterministic():
    rewards = [("a", 2), ("b", 1)]

    first = fairness.draw_winners(server_seed=SEED, entrants=ENTRANTS, rewards=rewards)

    assert fairness.draw_winners(server_seed=SEED, entrants=ENTRANTS, rewards=rewards) == first


def test_nobody_wins_twice_and_slots_beyond_the_entrants_stay_empty():
    picks = fairness.draw_winners(server_seed=SEED, entrants=ENTRANTS, rewards=[("a", 2), ("b", 2)])

    assert len(picks) == 3
    assert sorted(p.entrant for p in picks) == sorted(ENTRANTS)


def test_numbers_at_or_above_the_last_full_multiple_are_rejected(monkeypatch):
    space = 1 << 256
    limit = space - space % 3
    outputs = iter([limit, space - 1, 7])  # the first two would favour low indexes; 7 mod 3 = 1
    monkeypatch.setattr(fairness._Numbers, "next", lambda self: next(outputs))

    picks = fairness.draw_winners(server_seed=SEED, entrants=ENTRANTS, rewards=[("a", 1)])

    assert picks[0].entrant == ENTRANTS[1]


def test_first_pick_is_uniform_chi_square():
    """5 entrants, 10,000 fixed seeds: chi-square with 4 degrees of freedom under 18.47 (p = 0.001)."""
    entrants = sorted(hashlib.sha256(f"entrant-{i}".encode()).hexdigest() for i in range(5))
    runs = 10_000
    counts = Counter(
        fairness.draw_winners(
            server_seed=hashlib.sha256(f"seed-{i}".encode()).hexdigest(), entrants=entrants, rewards=[("a", 1)]
        )[0].entrant
        for i in range(runs)
    )
    expected = runs / len(entrants)

    chi_square = sum((counts[e] - expected) ** 2 / expected for e in entrants)

    assert chi_square < 18.47


def test_second_pick_is_uniform_chi_square():
    """After the first winner leaves, each of the 4 others is equally likely: df 3, critical 16.27 (p = 0.001)."""
    entrants = sorted(hashlib.sha256(f"entrant-{i}".encode()).hexdigest() for i in range(5))
    runs = 10_000
    seconds = Counter()
    for i in range(runs):
        first, second = fairness.draw_winners(
            server_seed=hashlib.sha256(f"other-{i}".encode()).hexdigest(), entrants=entrants, rewards=[("a", 2)]
        )
        seconds[(entrants.index(second.entrant) - entrants.index(first.entrant)) % 5] += 1
    expected = runs / 4

    chi_square = sum((seconds[offset] - expected) ** 2 / expected for offset in range(1, 5))

    assert chi_square < 16.27


def test_a_reference_implementation_agrees_on_a_larger_draw():
    """Written from the published rules (fairness page), independently of giveaways.fairness."""
    entrants = sorted(hashlib.sha256(f"p{i}".encode()).hexdigest() for i in range(17))
    digest = hashlib.sha256("\n".join(entrants).encode()).hexdigest()
    pool, counter, expected = list(entrants), 0, []
    for tag, count in [("x", 3), ("y", 5)]:
        for _ in range(count):
            while True:
                mac = hmac.new(SEED.encode(), f"{digest}:{counter}".encode(), hashlib.sha256).digest()
                counter += 1
                x = int.from_bytes(mac, "big")
                if x < 2**256 - 2**256 % len(pool):
                    break
            expected.append((tag, pool.pop(x % len(pool))))

    picks = fairness.draw_winners(server_seed=SEED, entrants=entrants, rewards=[("x", 3), ("y", 5)])

    assert [(p.reward_tag, p.entrant) for p in picks] == expected


# --- the draw service ----------------------------------------------------------------------------------


@pytest.fixture
def ended():
    giveaway = GiveawayFactory()
    GiveawayTaskFactory(giveaway=giveaway)
    Giveaway.objects.filter(pk=giveaway.pk).update(
        starts_at=timezone.now() - timedelta(days=3), ends_at=timezone.now() - timedelta(minutes=1)
    )
    return Giveaway.objects.get(pk=giveaway.pk)


def finisher(giveaway, **kwargs):
    participant = ParticipantFactory(giveaway=giveaway, **kwargs)
    complete_all_tasks(participant)
    return participant


@pytest.mark.django_db
def test_only_participants_with_every_task_done_enter(ended):
    done = finisher(ended)
    ParticipantFactory(giveaway=ended)  # joined, did nothing
    finisher(ended, email="", is_test=True)

    draw = draw_giveaway(giveaway=ended)

    assert draw.entrants == [fairness.entrant_hash(done.track_id)]


@pytest.mark.django_db
def test_draw_records_winners_and_reveals_the_committed_seed(ended):
    GiveawayRewardFactory(giveaway=ended, winners=2)
    people = [finisher(ended) for _ in range(3)]

    draw = draw_giveaway(giveaway=ended)

    assert fairness.commitment(draw.server_seed) == ended.seed_commitment
    assert draw.entrants_digest == fairness.entrants_digest(sorted(fairness.entrant_hash(p.track_id) for p in people))
    assert DrawWinner.objects.filter(draw=draw).count() == 2


@pytest.mark.django_db
def test_one_participant_wins_at_most_one_reward(ended):
    GiveawayRewardFactory(giveaway=ended, winners=2)
    GiveawayRewardFactory(giveaway=ended, winners=2)
    finisher(ended)
    finisher(ended)

    draw = draw_giveaway(giveaway=ended)

    assert draw.winners.count() == 2
    assert draw.winners.values("participant").distinct().count() == 2


@pytest.mark.django_db
def test_draw_before_the_end_is_refused():
    giveaway = GiveawayFactory()

    with pytest.raises(DrawRefused, match="draw after that"):
        draw_giveaway(giveaway=giveaway)
    assert not Draw.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Giveaway.Status.DRAFT, Giveaway.Status.CANCELLED])
def test_draw_of_a_giveaway_that_is_not_live_is_refused(ended, status):
    Giveaway.objects.filter(pk=ended.pk).update(status=status)

    with pytest.raises(DrawRefused, match="not live"):
        draw_giveaway(giveaway=ended)


@pytest.mark.django_db
def test_a_draw_is_final(ended):
    GiveawayRewardFactory(giveaway=ended)
    finisher(ended)
    first = draw_giveaway(giveaway=ended)
    finisher(ended)

    with pytest.raises(DrawRefused, match="already been drawn"):
        draw_giveaway(giveaway=ended)
    assert list(Draw.objects.all()) == [first]


@pytest.mark.django_db
def test_the_database_refuses_a_second_draw(ended):
    draw_giveaway(giveaway=ended)

    with pytest.raises(IntegrityError):
        Draw.objects.create(giveaway=ended, server_seed=SEED, entrants=[], entrants_digest=DIGEST, rewards=[])


@pytest.mark.django_db
def test_draw_without_entrants_is_final_and_reveals_the_seed(ended):
    GiveawayRewardFactory(giveaway=ended)

    draw = draw_giveaway(giveaway=ended)

    assert (draw.entrants, draw.winners.count()) == ([], 0)
    assert fairness.commitment(draw.server_seed) == ended.seed_commitment


@pytest.mark.django_db
def test_draw_giveaways_draws_only_ended_undrawn_live_giveaways(ended):
    running = GiveawayFactory()
    out = StringIO()

    call_command("draw_giveaways", stdout=out)
    call_command("draw_giveaways", stdout=out)

    assert list(Draw.objects.values_list("giveaway", flat=True)) == [ended.pk]
    assert not Draw.objects.filter(giveaway=running).exists()
    assert "No giveaway is due for a draw." in out.getvalue()


# --- verify_draw ---------------------------------------------------------------------------------------


@pytest.fixture
def drawn(ended):
    GiveawayRewardFactory(giveaway=ended, winners=2, tag="first")
    GiveawayRewardFactory(giveaway=ended, winners=1, tag="second")
    for _ in range(5):
        finisher(ended)
    return draw_giveaway(giveaway=ended)


@pytest.mark.django_db
def test_verify_draw_confirms_a_genuine_draw(drawn):
    out = StringIO()

    call_command("verify_draw", drawn.giveaway.slug, stdout=out)

    assert "The draw matches its published data." in out.getvalue()


@pytest.mark.django_db
def test_verify_draw_detects_a_swapped_winner(drawn):
    loser = next(p for p in drawn.giveaway.participants.all() if not p.wins.exists())
    DrawWinner.objects.filter(draw=drawn, pick=0).update(participant=loser)

    with pytest.raises(CommandError, match="does NOT match"):
        call_command("verify_draw", drawn.giveaway.slug, stdout=StringIO())


@pytest.mark.django_db
def test_verify_draw_detects_a_seed_that_was_not_committed(drawn):
    Draw.objects.filter(pk=drawn.pk).update(server_seed=SEED)
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("verify_draw", drawn.giveaway.slug, stdout=out)
    assert "FAIL SHA-256 of the revealed seed equals the commitment" in out.getvalue()


@pytest.mark.django_db
def test_verify_draw_detects_a_changed_entrants_list(drawn):
    Draw.objects.filter(pk=drawn.pk).update(entrants=drawn.entrants[1:])
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("verify_draw", drawn.giveaway.slug, stdout=out)
    assert "FAIL SHA-256 of the entrants list" in out.getvalue()


@pytest.mark.django_db
def test_verify_draw_of_an_undrawn_giveaway(ended):
    with pytest.raises(CommandError, match="No draw"):
        call_command("verify_draw", ended.slug)
