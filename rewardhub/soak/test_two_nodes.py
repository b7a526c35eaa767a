"""Two app nodes (two gunicorn masters on two ports, one PostgreSQL, one Redis), as behind a load balancer: the
same calls sent to both at once credit once, failed authentications are counted across both, and a secret changed
through one node (or anywhere) is refused by the other at once: every per-process cache (integrations, known
giveaway participants, decrypted secrets) is a hint the database confirms, never the truth."""

import time
from dataclasses import dataclass, replace

import pytest
import redis

from catalog.models import PartnerSecret
from catalog.services import hash_secret, issue_partner_secret, revoke_partner_secret
from giveaways.models import GiveawayTask, TaskProgress
from giveaways.services import rotate_api_key
from giveaways.tests.factories import GiveawayTaskFactory, ParticipantFactory
from ledger.models import RewardUser
from postbacks.models import OfferConversion, OfferwallIntegration
from rewardhub.auth_throttle import OUTAGE_BACKOFF
from rewardhub.soak import calls
from rewardhub.soak.clients import HttpClient, fire_simultaneously
from rewardhub.soak.figures import FIGURES
from rewardhub.soak.server import LiveServer, gunicorn_server
from rewardhub.soak.workloads import audit_ledger, bitlabs, provision_offers, provision_partner

pytestmark = [pytest.mark.soak, pytest.mark.django_db(transaction=True)]
PUBLIC_BASE_URL = "https://rewards.example.com"  # the load balancer's address, which BitLabs signs
SHARED_CACHE = "redis://127.0.0.1:6379/14"  # the nodes' one Redis (failed-authentication counts, throttles)
FAILURE_LIMIT = 20


@dataclass(frozen=True)
class Nodes:
    a: LiveServer
    b: LiveServer

    @property
    def urls(self) -> list[str]:
        return [self.a.base_url, self.b.base_url]


@pytest.fixture(scope="module")
def nodes(django_db_setup):
    environ = {"PUBLIC_BASE_URL": PUBLIC_BASE_URL, "CACHE_URL": SHARED_CACHE, "AUTH_FAILURE_LIMIT": str(FAILURE_LIMIT)}
    with gunicorn_server(workers=1, environ=environ) as a, gunicorn_server(workers=1, environ=environ) as b:
        yield Nodes(a, b)


@pytest.fixture(autouse=True)
def _no_failures_counted():
    """Each test starts with no failed authentication counted in the nodes' Redis."""
    client = redis.Redis.from_url(SHARED_CACHE)
    client.flushdb()
    client.close()


def send(node: LiveServer, call: calls.Call):
    client = HttpClient(node.base_url)
    try:
        return client.send(call)
    finally:
        client.close()


def test_the_same_calls_sent_to_both_nodes_at_once_move_coins_once(nodes):
    partner = provision_partner(users=1, pid="twonodes")
    offers = provision_offers(base_url=PUBLIC_BASE_URL, users=1, pid="twonodesoffers")
    task = GiveawayTaskFactory(kind=GiveawayTask.Kind.SIGN_UP, event="sign_up")
    participant = ParticipantFactory(giveaway=task.giveaway)
    postback = calls.partner_postback(
        secret=partner.secret, pid=partner.pid, uid=partner.user_ids[0], gid=partner.gid, level=10
    )
    completion = bitlabs(offers, offers.user_ids[0], "o-1", 40, "COMPLETED")
    sign_up = calls.giveaway_task_callback(
        api_key=task.giveaway.project.api_key, track_id=participant.track_id, event="sign_up"
    )

    exchanges = fire_simultaneously(nodes.urls, [postback, completion, sign_up] * 40)

    FIGURES.record("two nodes: 40 identical postbacks, offer and giveaway callbacks each, at once", exchanges)
    assert {exchange.status for exchange in exchanges} == {200}
    assert RewardUser.objects.get(pk=partner.user_ids[0]).coins == 25
    assert RewardUser.objects.get(pk=offers.user_ids[0]).coins == 40
    assert OfferConversion.objects.count() == 1
    assert TaskProgress.objects.get().completed_at is not None
    audit_ledger()


def test_failed_authentications_are_counted_across_both_nodes(nodes):
    partner = provision_partner(users=1, pid="twonodesthrottle")
    wrong = calls.partner_postback(
        secret="wrong-secret", pid=partner.pid, uid=partner.user_ids[0], gid=partner.gid, level=5
    )

    # A burst (the test before) can stall Redis past the nodes' 0.2 s timeout on this 2-core machine; a worker then
    # checks no throttle for OUTAGE_BACKOFF seconds, by design (a hung Redis must not hang the APIs).
    time.sleep(OUTAGE_BACKOFF + 0.5)
    answers = [send(node, wrong).status for _ in range(FAILURE_LIMIT // 2) for node in (nodes.a, nodes.b)]
    after = [send(node, wrong).status for node in (nodes.a, nodes.b)]

    assert answers == [401] * FAILURE_LIMIT
    assert after == [429, 429]


def test_a_revoked_partner_secret_is_refused_by_the_other_node_at_once(nodes):
    partner = provision_partner(users=1, pid="twonodesrevoke")
    secret = partner.secret

    def postback(level: int, secret: str = secret):
        return calls.partner_postback(
            secret=secret, pid=partner.pid, uid=partner.user_ids[0], gid=partner.gid, level=level
        )

    assert [send(node, postback(1)).status for node in (nodes.a, nodes.b)] == [200, 200]  # both have used it
    old = PartnerSecret.objects.get(secret_hash=hash_secret(secret))
    new_secret = issue_partner_secret(store_app=old.store_app, label="rotated")[1]
    revoke_partner_secret(secret=old)  # as an operator does in another node's admin

    assert send(nodes.b, postback(2)).status == 401
    assert [send(node, postback(3, new_secret)).status for node in (nodes.a, nodes.b)] == [200, 200]


def test_a_changed_network_secret_is_refused_by_the_other_node_at_once(nodes):
    offers = provision_offers(base_url=PUBLIC_BASE_URL, users=1, pid="twonodesnetwork")
    uid = offers.user_ids[0]
    assert send(nodes.b, bitlabs(offers, uid, "o-1", 10, "COMPLETED")).status == 200  # node B caches the integration

    integration = OfferwallIntegration.objects.get(slug=offers.bitlabs_slug)
    integration.secret = "a-new-bitlabs-secret"
    integration.save()

    assert send(nodes.b, bitlabs(offers, uid, "o-2", 10, "COMPLETED")).status == 403
    renewed = replace(offers, bitlabs_secret="a-new-bitlabs-secret")
    assert send(nodes.b, bitlabs(renewed, uid, "o-3", 10, "COMPLETED")).status == 200
    assert RewardUser.objects.get(pk=uid).coins == 20


def test_a_rotated_giveaway_api_key_is_refused_by_the_other_node_at_once(nodes):
    task = GiveawayTaskFactory(kind=GiveawayTask.Kind.CUSTOM, event="likes", required_amount=10)
    participant = ParticipantFactory(giveaway=task.giveaway)
    project = task.giveaway.project
    old_key = project.api_key

    def likes(value: int, key: str):
        return calls.giveaway_task_callback(api_key=key, track_id=participant.track_id, event="likes", value=value)

    assert send(nodes.b, likes(1, old_key)).status == 200  # node B knows the project's key
    new_key = rotate_api_key(project=project)

    refused = send(nodes.b, likes(2, old_key))
    assert (refused.status, refused.json()["code"]) == (401, 40101)  # bad signature
    assert send(nodes.b, likes(3, new_key)).json()["code"] == 10000
    assert TaskProgress.objects.get().amount == 3
