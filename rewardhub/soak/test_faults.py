"""The mixed load against gunicorn on PostgreSQL while workers are killed and PostgreSQL restarts.

Clients behave like partners and networks: a 503 or no answer is retried (a bounded number of times). Every
attempt and its answer is kept. Afterwards: every success answer is stored and credited exactly once, nothing
unsent is stored, balances equal their entries and the seed's coins for what is stored, there was no 500, and
the same server (never restarted) answers normally again.
"""

import itertools
import random
from collections import Counter
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection

from rewardhub.soak.clients import Call, Retry, run_clients
from rewardhub.soak.faults import FaultInjector, unavailable_reason
from rewardhub.soak.figures import FIGURES
from rewardhub.soak.server import gunicorn_server
from rewardhub.soak.workloads import (
    OfferSetup,
    PartnerSetup,
    audit_ledger,
    bitlabs,
    check_offers,
    check_partner,
    kiwiwall,
    mixed_postbacks,
    provision_offers,
    provision_partner,
    wannads,
)

pytestmark = [pytest.mark.soak, pytest.mark.django_db(transaction=True)]
WORKERS = 2
FAULTS = [
    ("pause", 1.5),
    ("kill", 1),
    ("pause", 1.5),
    ("restart",),
    ("pause", 1.5),
    ("kill", WORKERS),
    ("pause", 1.5),
    ("restart",),
    ("pause", 1.5),
    ("kill", 1),
    ("pause", 2),
]
MAX_CALLS = 100_000  # the clients stop when the faults are over; this only bounds a runaway run
CALLS_AFTER = 400


def fault_mix(partner: PartnerSetup, offers: OfferSetup, rng: random.Random, phase: str) -> Iterator[Call]:
    """Four partner postbacks to one offer callback: new BitLabs offers (PENDING or COMPLETED), later states
    of earlier ones (COMPLETED or RECONCILED), Wannads credits and Kiwiwall credits (a POSTed form). Transaction
    ids start with `phase`: a network's transaction id names one offer of one user."""
    postbacks = mixed_postbacks(partner, rng)
    started_offers = []
    for n in itertools.count():
        if n % 5:
            yield next(postbacks)
            continue
        roll = rng.random()
        if roll < 0.4 and started_offers:
            uid, tx, val = rng.choice(started_offers)
            yield bitlabs(offers, uid, tx, val, rng.choice(("COMPLETED", "RECONCILED")))
        elif roll < 0.8:
            started_offers.append((rng.choice(offers.user_ids), f"{phase}-{n}", rng.randint(1, 500)))
            yield bitlabs(offers, *started_offers[-1], rng.choice(("PENDING", "COMPLETED")))
        elif roll < 0.9:
            yield wannads(offers, rng.choice(offers.user_ids), f"{phase}-wn-{n}", rng.randint(1, 500), "credited")
        else:
            yield kiwiwall(offers, rng.choice(offers.user_ids), f"{phase}-kw-{n}", rng.randint(1, 500), "1")


@pytest.fixture
def faults_possible():
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"fault injection skipped: {reason}")


def test_no_success_is_lost_or_doubled_while_workers_die_and_postgresql_restarts(faults_possible):
    partner = provision_partner(users=100, pid="faultapp")
    with gunicorn_server(workers=WORKERS) as server:
        offers = provision_offers(base_url=server.base_url, users=50, pid="faultoffers")
        rng = random.Random(11)
        injector = FaultInjector(server, WORKERS, FAULTS)
        injector.start()
        during = run_clients(
            server.base_url,
            itertools.islice(fault_mix(partner, offers, rng, "during"), MAX_CALLS),
            retry=Retry(),
            seconds=120,
            stop=injector.done,
        )
        assert injector.error is None, injector.error
        # The same master, never restarted, serves the next requests normally.
        after = run_clients(
            server.base_url, itertools.islice(fault_mix(partner, offers, rng, "after"), CALLS_AFTER), retry=Retry()
        )
        assert server.process.poll() is None
    connection.close()  # this process's own connection died with the restart

    FIGURES.record("fault run: mixed load while faults were injected", during)
    FIGURES.record("fault run: the next requests, same server", after)
    statuses = Counter(exchange.status for exchange in during)
    assert statuses[503] > 0, "no client saw the PostgreSQL outage as a 503"
    # Each call ends with one answer that is not an outage; each connection that died in the last restart (a
    # worker's pooled ones and its threads' Django connections) answers one request 503 before it is replaced.
    after_statuses = Counter(exchange.status for exchange in after)
    assert sum(count for status, count in after_statuses.items() if status not in (503, None)) == CALLS_AFTER
    assert after_statuses[503] + after_statuses[None] <= WORKERS * (settings.DB_POOL_SIZE + settings.DJANGO_THREADS)
    exchanges = during + after
    partner_findings = check_partner(partner, [e for e in exchanges if e.call.key[0] == "partner"], faults=True)
    offer_findings = check_offers(offers, [e for e in exchanges if e.call.key[0] != "partner"], faults=True)
    assert partner_findings.problems == []
    assert offer_findings.problems == []
    audit_ledger()
