"""Offer-network callbacks (seeds 002/003) against gunicorn on PostgreSQL, from real client threads."""

import random

import pytest

from ledger.models import RewardUser
from postbacks.models import OfferConversion
from rewardhub.soak.clients import fire_simultaneously, run_clients
from rewardhub.soak.figures import FIGURES
from rewardhub.soak.workloads import (
    audit_ledger,
    bitlabs,
    call_amount,
    check_offers,
    expected_offer_balances,
    mixed_offer_callbacks,
    provision_offers,
    wannads,
)

pytestmark = [pytest.mark.soak, pytest.mark.django_db(transaction=True)]
RACING_USERS = 50


@pytest.fixture
def offers(server):
    return provision_offers(base_url=server.base_url, users=RACING_USERS)


def balances(user_ids) -> dict[str, tuple[int, int]]:
    rows = RewardUser.objects.filter(pk__in=user_ids).values_list("pk", "coins", "held_coins")
    return {str(pk): (coins, held) for pk, coins, held in rows}


def test_200_simultaneous_retries_of_a_bitlabs_completion_credit_once(server, offers):
    uid = offers.user_ids[0]

    exchanges = fire_simultaneously(server.base_url, [bitlabs(offers, uid, "o-1", 40, "COMPLETED")] * 200)

    FIGURES.record("offer callbacks: 200 identical BitLabs at once", exchanges)
    assert [exchange.status for exchange in exchanges] == [200] * 200
    assert sorted(exchange.json()["result"] for exchange in exchanges) == ["accepted"] + ["duplicate"] * 199
    assert balances([uid]) == {uid: (40, 0)}
    assert check_offers(offers, exchanges, faults=False).problems == []
    audit_ledger()


def test_200_simultaneous_retries_of_a_wannads_credit_credit_once(server, offers):
    uid = offers.user_ids[0]

    exchanges = fire_simultaneously(server.base_url, [wannads(offers, uid, "wn-1", 100, "credited")] * 200)

    FIGURES.record("offer callbacks: 200 identical Wannads at once", exchanges)
    assert {(exchange.status, exchange.body) for exchange in exchanges} == {(200, b"OK")}
    assert OfferConversion.objects.count() == 1
    assert balances([uid]) == {uid: (100, 0)}
    audit_ledger()


def test_completed_racing_its_reconciliation_ends_with_nothing_credited_or_held(server, offers):
    """Per user, two copies each of COMPLETED and RECONCILED of one offer, all 200 requests released together."""
    racing = [
        bitlabs(offers, uid, f"race-{n}", 30 + n, state)
        for n, uid in enumerate(offers.user_ids)
        for state in ("COMPLETED", "RECONCILED", "COMPLETED", "RECONCILED")
    ]

    exchanges = fire_simultaneously(server.base_url, racing)

    FIGURES.record("offer callbacks: COMPLETED racing RECONCILED", exchanges)
    assert balances(offers.user_ids) == dict.fromkeys(offers.user_ids, (0, 0))
    assert check_offers(offers, exchanges, faults=False).problems == []
    audit_ledger()


def test_pending_racing_its_completion_ends_credited_and_not_held(server, offers):
    racing = [
        bitlabs(offers, uid, f"race-{n}", 30 + n, state)
        for n, uid in enumerate(offers.user_ids)
        for state in ("PENDING", "COMPLETED", "PENDING", "COMPLETED")
    ]

    exchanges = fire_simultaneously(server.base_url, racing)

    FIGURES.record("offer callbacks: PENDING racing COMPLETED", exchanges)
    assert balances(offers.user_ids) == {uid: (30 + n, 0) for n, uid in enumerate(offers.user_ids)}
    assert check_offers(offers, exchanges, faults=False).problems == []
    audit_ledger()


def test_mixed_offer_callbacks_from_16_clients_end_as_their_states_say_in_any_order(server):
    offers = provision_offers(base_url=server.base_url, users=100)
    sent = mixed_offer_callbacks(offers, random.Random(2), bitlabs_per_user=3, wannads_per_user=2)

    exchanges = run_clients(server.base_url, sent, clients=16)

    FIGURES.record(f"offer callbacks: {len(sent):,} mixed states, 100 users, 16 clients", exchanges)
    assert len(exchanges) == len(sent)
    assert check_offers(offers, exchanges, faults=False).problems == []
    expected = expected_offer_balances({(*exchange.call.key, call_amount(exchange.call)) for exchange in exchanges})
    assert balances(offers.user_ids) == {uid: expected.get(uid, (0, 0)) for uid in offers.user_ids}
    audit_ledger()
