"""Workloads for the soak suites and the checks that hold every answer against the database afterwards.

Expected balances are computed here from the seed documents, independently of the services under test:
seed 004's milestone table for partner postbacks, seeds 002/003's offer states for offer callbacks.
"""

import io
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from django.core.management import call_command
from django.db.models import Sum

from catalog.tests.factories import RewardGameFactory, StoreAppFactory, partner_secret_for
from ledger.models import LedgerEntry, RewardUser
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferConversion, UserPostback
from postbacks.tests.offer_factories import integration
from rewardhub.soak import calls
from rewardhub.soak.clients import Call, Exchange
from rewardhub.soak.figures import FIGURES

# Seed 004: coins per milestone (every 5th level) by band; levels above the last band earn 1.
SEED_MILESTONE_BANDS = ((1, 30, 25), (31, 70, 15), (71, 90, 10), (91, 100, 5), (101, 130, 2))
MAX_LEVEL = 150  # covers every band
REJECTED_LEVELS = 10_000  # wrong-secret postbacks use levels from here: no accepted postback does
OUTAGE_ANSWERS = (503, None)  # what a fault may cause instead of an answer; never a 500


def seed_coins(level: int) -> int:
    if level % 5:
        return 0
    return next((coins for low, high, coins in SEED_MILESTONE_BANDS if low <= level <= high), 1)


@dataclass
class Findings:
    """What a check found; `problems` must be empty. `lost` and `doubled` feed the figures."""

    problems: list[str] = field(default_factory=list)
    lost: int = 0
    doubled: int = 0

    def add(self, problem: str, *, lost: int = 0, doubled: int = 0) -> None:
        self.problems.append(problem)
        self.lost += lost
        self.doubled += doubled
        FIGURES.add_findings(lost, doubled)


def audit_ledger() -> None:
    """`manage.py ledger_audit`: raises CommandError when any user is out of balance."""
    call_command("ledger_audit", stdout=io.StringIO())
    FIGURES.audits += 1


def _check_balances(user_ids: list[str], expected: dict[str, tuple[int, int]], findings: Findings) -> None:
    """Cached (available, held) balances against the sums of the users' entries and the expected figures."""
    sums = defaultdict(int)
    for user_id, bucket, total in (
        LedgerEntry.objects.filter(user_id__in=user_ids)
        .order_by()
        .values_list("user_id", "bucket")
        .annotate(Sum("amount"))
    ):
        sums[str(user_id), bucket] = total
    for user_id, coins, held in RewardUser.objects.filter(pk__in=user_ids).values_list("pk", "coins", "held_coins"):
        uid = str(user_id)
        from_entries = (sums[uid, LedgerEntry.Bucket.AVAILABLE], sums[uid, LedgerEntry.Bucket.HELD])
        want = expected.get(uid, (0, 0))
        if (coins, held) != from_entries or (coins, held) != want:
            findings.add(f"{uid}: balances {(coins, held)}, entries {from_entries}, expected {want}")


# --- partner postbacks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerSetup:
    pid: str
    gid: str
    secret: str
    user_ids: list[str]


def provision_partner(*, users: int, pid: str = "soakapp") -> PartnerSetup:
    app = StoreAppFactory(pid=pid)
    game = RewardGameFactory(gid=f"{pid}_game")
    user_ids = [str(user.pk) for user in RewardUserFactory.create_batch(users, store_app=app)]
    return PartnerSetup(app.pid, game.gid, partner_secret_for(app), user_ids)


def mixed_postbacks(setup: PartnerSetup, rng: random.Random, count: int | None = None) -> Iterator[Call]:
    """Milestones and plain levels across every band, every field spelling and both secret headers; about a
    fifth repeat an earlier postback, one in fifty is refused (a wrong secret, or a uid that is no user)."""
    first_sends: list[Call] = []
    n = 0
    while count is None or n < count:
        n += 1
        roll = rng.random()
        uid, level, secret = rng.choice(setup.user_ids), rng.randint(1, MAX_LEVEL), setup.secret
        if roll < 0.01:
            secret, level = "not-the-secret", REJECTED_LEVELS + n
        elif roll < 0.02:
            uid = str(uuid.uuid4())
        elif roll < 0.2 and first_sends:
            _, uid, level = rng.choice(first_sends).key
        call = calls.partner_postback(secret=secret, pid=setup.pid, uid=uid, gid=setup.gid, level=level, variant=n)
        if roll >= 0.2:
            first_sends.append(call)
        yield call


def check_partner(setup: PartnerSetup, exchanges: list[Exchange], *, faults: bool) -> Findings:
    """Every success answer is stored once and credited once; nothing unsent is stored; each user's balance is
    the sum of their entries and the seed's coins for the distinct milestone levels stored. Without faults,
    every valid postback is stored and every answer is a 200 (or the refusal its call asked for)."""
    findings = Findings()
    user_ids = set(setup.user_ids)
    stored = {
        (str(user_id), level): pk
        for pk, user_id, level in UserPostback.objects.filter(game__gid=setup.gid).values_list(
            "pk", "user_id", "level_number"
        )
    }
    new_answers = _check_partner_answers(exchanges, user_ids, stored, faults, findings)
    for key, count in new_answers.items():
        if count > 1:
            findings.add(f"{key} answered as new {count} times", doubled=count - 1)
    sent = {exchange.call.key[1:] for exchange in exchanges}
    for key in stored.keys() - sent:
        findings.add(f"stored but never sent: {key}")
    if not faults:
        for key in {(uid, level) for uid, level in sent if uid in user_ids and level < REJECTED_LEVELS} - stored.keys():
            findings.add(f"sent without a fault but not stored: {key}", lost=1)
    _check_postback_credits(setup, stored, findings)
    return findings


def _check_partner_answers(
    exchanges: list[Exchange], user_ids: set, stored: dict, faults: bool, findings: Findings
) -> Counter:
    """Each answer against the seed and what was stored; returns how often each (user, level) was answered new."""
    new_answers = Counter()
    for exchange in exchanges:
        _, uid, level = exchange.call.key
        valid = uid in user_ids and level < REJECTED_LEVELS
        if exchange.status == 200 and valid:
            body = exchange.json()
            if not body.get("duplicate"):
                new_answers[uid, level] += 1
                if body["coinDelta"] != seed_coins(level):
                    findings.add(f"level {level} answered coinDelta {body['coinDelta']}, seed says {seed_coins(level)}")
            if (uid, level) not in stored:
                findings.add(f"200 for {uid} level {level}, not stored", lost=1)
        elif exchange.status in (401, 404) and not valid:
            pass  # the refusal the call asked for
        elif not (faults and exchange.status in OUTAGE_ANSWERS):
            findings.add(f"unexpected answer {exchange.status} {exchange.body[:200]!r} to {exchange.call.key}")
    return new_answers


def _check_postback_credits(setup: PartnerSetup, stored: dict, findings: Findings) -> None:
    entries = Counter(
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PARTNER_POSTBACK, user_id__in=setup.user_ids).values_list(
            "reference", flat=True
        )
    )
    for (uid, level), pk in stored.items():
        count, want = entries.pop(f"user_postbacks:{pk}", 0), 1 if seed_coins(level) else 0
        if count != want:
            problem = f"{uid} level {level}: {count} ledger entries"
            findings.add(problem, lost=int(count < want), doubled=int(count > want))
    for reference in entries:
        findings.add(f"ledger entry {reference} for no stored postback", doubled=1)
    expected = defaultdict(int)
    for uid, level in stored:
        expected[uid] += seed_coins(level)
    _check_balances(setup.user_ids, {uid: (coins, 0) for uid, coins in expected.items()}, findings)


# --- offer callbacks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferSetup:
    base_url: str
    bitlabs_slug: str
    bitlabs_secret: str
    wannads_slug: str
    wannads_secret: str
    kiwiwall_slug: str
    kiwiwall_secret: str
    user_ids: list[str]


def provision_offers(*, base_url: str, users: int, pid: str = "soakoffers") -> OfferSetup:
    app = StoreAppFactory(pid=pid)
    bitlabs_secret, wannads_secret = f"{pid}-bitlabs-secret", f"{pid}-wannads-secret"
    integration(app, "bitlabs", f"{pid}-bl", bitlabs_secret)
    integration(app, "wannads", f"{pid}-wn", wannads_secret)
    kiwiwall_secret = f"{pid}-kiwiwall-secret"
    integration(app, "kiwiwall", f"{pid}-kw", kiwiwall_secret)
    user_ids = [str(user.pk) for user in RewardUserFactory.create_batch(users, store_app=app)]
    return OfferSetup(
        base_url, f"{pid}-bl", bitlabs_secret, f"{pid}-wn", wannads_secret, f"{pid}-kw", kiwiwall_secret, user_ids
    )


def bitlabs(setup: OfferSetup, uid: str, tx: str, val: int, state: str) -> Call:
    return calls.bitlabs_callback(
        base_url=setup.base_url,
        slug=setup.bitlabs_slug,
        secret=setup.bitlabs_secret,
        uid=uid,
        tx=tx,
        val=str(val),
        offer_state=state,
    )


def wannads(setup: OfferSetup, uid: str, tx: str, reward: int, status: str) -> Call:
    """A rejection carries the negative reward."""
    return calls.wannads_callback(
        slug=setup.wannads_slug,
        secret=setup.wannads_secret,
        user_id=uid,
        tx=tx,
        reward=str(reward if status == "credited" else -reward),
        status=status,
    )


def kiwiwall(setup: OfferSetup, uid: str, tx: str, amount: int, status: str) -> Call:
    """A reversal (status 2) carries the negative amount."""
    return calls.kiwiwall_callback(
        slug=setup.kiwiwall_slug,
        secret=setup.kiwiwall_secret,
        sub_id=uid,
        tx=tx,
        amount=str(amount if status == "1" else -amount),
        status=status,
    )


BITLABS_STATES = ("PENDING", "COMPLETED", "RECONCILED")
WANNADS_STATUSES = ("credited", "rejected")


def mixed_offer_callbacks(
    setup: OfferSetup, rng: random.Random, *, bitlabs_per_user: int, wannads_per_user: int
) -> list[Call]:
    """Every user gets offers in random subsets of their states, each state sent one to three times, all
    shuffled together: every order of PENDING/COMPLETED/RECONCILED and credited/rejected occurs somewhere."""
    sent = []
    for n, uid in enumerate(setup.user_ids):
        for t in range(bitlabs_per_user):
            states = [s for s in BITLABS_STATES if rng.random() < 0.6] or [rng.choice(BITLABS_STATES)]
            val = rng.randint(1, 500)
            sent += [bitlabs(setup, uid, f"bl-{n}-{t}", val, s) for s in states for _ in range(rng.randint(1, 3))]
        for t in range(wannads_per_user):
            statuses = [s for s in WANNADS_STATUSES if rng.random() < 0.6] or ["credited"]
            reward = rng.randint(1, 500)
            sent += [wannads(setup, uid, f"wn-{n}-{t}", reward, s) for s in statuses for _ in range(rng.randint(1, 3))]
    rng.shuffle(sent)
    return sent


def expected_offer_balances(events: set[tuple]) -> dict[str, tuple[int, int]]:
    """(available, held) per user from the distinct events of each offer, whatever order they arrived in.
    Seed 002: only COMPLETED rewards, a PENDING is held until it completes, RECONCILED takes the reward back
    (after a PENDING or a COMPLETED). Seed 003 and Kiwiwall: `credited` credits, `rejected` / `reversed` take it
    back."""
    offers = defaultdict(set)
    amounts = {}
    for network, uid, tx, state, amount in events:
        offers[network, uid, tx].add(state)
        amounts[network, uid, tx] = abs(amount)
    balances = defaultdict(lambda: (0, 0))
    for (network, uid, tx), states in offers.items():
        amount, (available, held) = amounts[network, uid, tx], balances[uid]
        if "RECONCILED" in states or "rejected" in states or "reversed" in states:
            balances[uid] = (available, held)
        elif "COMPLETED" in states or "credited" in states:
            balances[uid] = (available + amount, held)
        else:
            balances[uid] = (available, held + amount)
    return dict(balances)


def check_offers(setup: OfferSetup, exchanges: list[Exchange], *, faults: bool) -> Findings:
    """Every accepted or duplicate answer names a stored event; each event is stored and answered `accepted`
    at most once; nothing unsent is stored; balances follow from the stored events in any order."""
    findings = Findings()
    stored = Counter(
        (network, str(uid), tx, state)
        for network, uid, tx, state in OfferConversion.objects.filter(user_id__in=setup.user_ids).values_list(
            "integration__provider", "user_id", "transaction_id", "state"
        )
    )
    amounts = {}
    accepted = Counter()
    for exchange in exchanges:
        key = exchange.call.key
        amounts[key] = call_amount(exchange.call)
        if _answered_ok(exchange):
            if key not in stored:
                findings.add(f"{exchange.body[:100]!r} for {key}, not stored", lost=1)
            if key[0] == "bitlabs" and exchange.json()["result"] == "accepted":
                accepted[key] += 1
        elif not (faults and exchange.status in OUTAGE_ANSWERS):
            findings.add(f"unexpected answer {exchange.status} {exchange.body[:200]!r} to {key}")
    for key in accepted.keys() | stored.keys():
        if accepted[key] > 1 or stored[key] > 1:
            findings.add(f"{key} accepted {accepted[key]} times, stored {stored[key]} times", doubled=1)
    for key in stored.keys() - amounts.keys():
        findings.add(f"stored but never sent: {key}")
    if not faults:
        for key in amounts.keys() - stored.keys():
            findings.add(f"sent without a fault but not stored: {key}", lost=1)
    events = {(*key, amounts[key]) for key in stored if key in amounts}
    _check_balances(setup.user_ids, expected_offer_balances(events), findings)
    return findings


def _answered_ok(exchange: Exchange) -> bool:
    """Wannads answers `OK` to a credit and to its duplicate, Kiwiwall `1`; BitLabs says which it was."""
    if exchange.status != 200:
        return False
    if exchange.call.key[0] == "wannads":
        return exchange.body == b"OK"
    if exchange.call.key[0] == "kiwiwall":
        return exchange.body == b"1"
    return exchange.json()["result"] in ("accepted", "duplicate")


def call_amount(call: Call) -> int:
    params = parse_qs(urlsplit(call.path).query) or parse_qs((call.body or b"").decode())
    return int((params.get("val") or params.get("reward") or params["amount"])[0])
