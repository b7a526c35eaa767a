"""Real threads against PostgreSQL: simultaneous copies and conflicting states of one offer."""

import pytest
from django.core.management import call_command

from catalog.tests.factories import StoreAppFactory
from ledger.models import LedgerEntry
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferConversion
from postbacks.tests.offer_factories import (
    BITLABS_SECRET,
    KIWIWALL_SECRET,
    USER_ID,
    WANNADS_SECRET,
    bitlabs_offer,
    integration,
    kiwiwall_path,
    wannads_path,
)
from rewardhub.testing import Client, run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)
ROUNDS = 5


@pytest.fixture
def user():
    app = StoreAppFactory(pid="cashgiraffe")
    integration(app, "bitlabs", "bl", BITLABS_SECRET)
    integration(app, "wannads", "wn", WANNADS_SECRET)
    integration(app, "kiwiwall", "kw", KIWIWALL_SECRET)
    return RewardUserFactory(id=USER_ID, store_app=app)


def fetch(path):
    return lambda: Client().get(path)


def balances(user):
    user.refresh_from_db()
    return user.coins, user.held_coins


def test_simultaneous_copies_of_a_postback_credit_once(user):
    replies = run_concurrently([fetch(wannads_path("wn", transaction_id="wn-1", reward="100"))] * 8)

    assert [(r.status_code, r.content) for r in replies] == [(200, b"OK")] * 8
    assert balances(user) == (100, 0)
    assert LedgerEntry.objects.count() == 1


def test_simultaneous_copies_of_a_kiwiwall_postback_credit_once(user):
    replies = run_concurrently([fetch(kiwiwall_path("kw", trans_id="kw-1", amount="30"))] * 8)

    assert [(r.status_code, r.content) for r in replies] == [(200, b"1")] * 8
    assert balances(user) == (30, 0)
    assert LedgerEntry.objects.count() == 1


def test_kiwiwall_offers_sharing_a_signature_at_once_all_credit(user):
    # Kiwiwall signs sub_id and amount: a user's offers of the same amount carry one signature, none is a forgery.
    paths = [kiwiwall_path("kw", trans_id=f"kw-same-{n}", amount="30") for n in range(4)]

    replies = run_concurrently([fetch(path) for path in paths])

    assert [r.content for r in replies] == [b"1"] * 4
    assert balances(user) == (120, 0)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_kiwiwall_credit_racing_its_reversal_nets_to_zero(user, round_):
    tx = f"kw-race-{round_}"
    credit = kiwiwall_path("kw", trans_id=tx, amount="30")
    reversal = kiwiwall_path("kw", trans_id=tx, amount="-30", status="2")

    replies = run_concurrently([fetch(credit), fetch(reversal), fetch(credit), fetch(reversal)])

    assert [r.content for r in replies] == [b"1"] * 4
    assert balances(user) == (0, 0)
    call_command("ledger_audit")


def test_simultaneous_copies_of_a_completed_offer_credit_once(user):
    replies = run_concurrently([fetch(bitlabs_offer("bl", "o-1", "40", offer_state="COMPLETED"))] * 8)

    assert sorted(r.json()["result"] for r in replies) == ["accepted"] + ["duplicate"] * 7
    assert balances(user) == (40, 0)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_credit_racing_its_rejection_nets_to_zero(user, round_):
    tx = f"wn-race-{round_}"
    credit = wannads_path("wn", transaction_id=tx, reward="100")
    rejection = wannads_path("wn", transaction_id=tx, reward="-100", status="rejected")

    replies = run_concurrently([fetch(credit), fetch(rejection), fetch(credit), fetch(rejection)])

    assert [r.content for r in replies] == [b"OK"] * 4
    assert balances(user) == (0, 0)
    assert OfferConversion.objects.count() == 2
    call_command("ledger_audit")


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_completed_offer_racing_its_reconciliation_nets_to_zero(user, round_):
    tx = f"o-race-{round_}"
    completed = bitlabs_offer("bl", tx, "40", offer_state="COMPLETED")
    reconciled = bitlabs_offer("bl", tx, "40", offer_state="RECONCILED")

    replies = run_concurrently([fetch(completed), fetch(reconciled)])

    assert [r.status_code for r in replies] == [200, 200]
    assert balances(user) == (0, 0)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_pending_racing_completed_leaves_the_coins_available_and_nothing_held(user, round_):
    tx = f"o-pc-{round_}"
    pending = bitlabs_offer("bl", tx, "40", offer_state="PENDING")
    completed = bitlabs_offer("bl", tx, "40", offer_state="COMPLETED")

    run_concurrently([fetch(pending), fetch(completed), fetch(pending), fetch(completed)])

    assert balances(user) == (40, 0)
    call_command("ledger_audit")


def test_many_offers_for_one_user_at_once_all_credit(user):
    paths = [bitlabs_offer("bl", f"o-many-{n}", "10", offer_state="COMPLETED") for n in range(8)]

    run_concurrently([fetch(path) for path in paths])

    assert balances(user) == (80, 0)
