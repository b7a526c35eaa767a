"""Partner postbacks (seed 004) against gunicorn on PostgreSQL, from real client threads."""

import random
from collections import defaultdict

import pytest

from ledger.models import RewardUser
from rewardhub.soak import calls
from rewardhub.soak.clients import fire_simultaneously, run_clients
from rewardhub.soak.figures import FIGURES
from rewardhub.soak.workloads import audit_ledger, check_partner, mixed_postbacks, provision_partner, seed_coins

pytestmark = [pytest.mark.soak, pytest.mark.django_db(transaction=True)]


def test_200_simultaneous_identical_postbacks_credit_once(server):
    setup = provision_partner(users=1)
    uid = setup.user_ids[0]
    call = calls.partner_postback(secret=setup.secret, pid=setup.pid, uid=uid, gid=setup.gid, level=10)

    exchanges = fire_simultaneously(server.base_url, [call] * 200)

    FIGURES.record("partner postbacks: 200 identical at once", exchanges)
    assert [exchange.status for exchange in exchanges] == [200] * 200
    bodies = [exchange.json() for exchange in exchanges]
    assert sorted(bool(body.get("duplicate")) for body in bodies) == [False] + [True] * 199
    assert RewardUser.objects.get(pk=uid).coins == 25
    assert check_partner(setup, exchanges, faults=False).problems == []
    audit_ledger()


def test_5000_mixed_postbacks_from_16_clients_pay_each_milestone_once(server):
    setup = provision_partner(users=100)

    exchanges = run_clients(server.base_url, mixed_postbacks(setup, random.Random(4), count=5000), clients=16)

    FIGURES.record("partner postbacks: 5,000 mixed, 100 users, 16 clients", exchanges)
    assert len(exchanges) == 5000
    assert check_partner(setup, exchanges, faults=False).problems == []
    # The seed's table applied to the distinct levels each user was sent, computed here from the requests.
    expected = defaultdict(int)
    for _, uid, level in {exchange.call.key for exchange in exchanges if exchange.status == 200}:
        expected[uid] += seed_coins(level)
    balances = dict(RewardUser.objects.filter(pk__in=setup.user_ids).values_list("pk", "coins"))
    assert {str(pk): coins for pk, coins in balances.items()} == {uid: expected[uid] for uid in setup.user_ids}
    audit_ledger()
