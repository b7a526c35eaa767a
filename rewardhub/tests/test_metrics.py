"""The metrics an operator scrapes (rewardhub.metrics): only with the token, every hot API's outcomes, offer
deliveries per integration, coins per source, throttle hits and latency, and never a user in a label."""

import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from catalog.tests.factories import RewardGameFactory, StoreAppFactory
from ledger.services import adjust_balance
from ledger.tests.factories import RewardUserFactory
from postbacks.tests.offer_factories import USER_ID, WANNADS_SECRET, integration, wannads_path
from rewardhub.testing import Client
from rewardhub.tests.test_asgi import partner_secret_for

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "metrics-token-for-tests"
METRIC = re.compile(r"rewardhub_\w+")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(autouse=True)
def token(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape() -> dict[tuple[str, tuple], float]:
    response = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert not UUID.search(response.content.decode())  # no user (or other uuid) as a label
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def grew(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0) - before.get(key, 0)


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN + "x"])
def test_metrics_are_refused_without_the_token(authorization):
    headers = {"Authorization": authorization} if authorization else {}

    assert Client().get("/metrics", headers=headers).status_code == 404


def test_metrics_are_off_without_a_token(settings):
    settings.METRICS_TOKEN = ""

    assert Client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_partner_postbacks_count_by_outcome_with_coins_and_latency():
    app = StoreAppFactory(pid="cashgiraffe")
    RewardGameFactory(gid="my_game")
    user = RewardUserFactory(store_app=app)
    secret = partner_secret_for(app)
    body = {"pid": "cashgiraffe", "uid": str(user.id), "gid": "my_game", "level_number": 5}
    before = scrape()

    for headers in ({"Authorization": f"Bearer {secret}"},) * 2 + ({"Authorization": "Bearer wrong-secret"},):
        Client().post("/api/postback", body, content_type="application/json", headers=headers)

    after = scrape()
    api = "partner-postback"
    assert grew(before, after, "rewardhub_api_requests_total", api=api, outcome="accepted") == 1
    assert grew(before, after, "rewardhub_api_requests_total", api=api, outcome="duplicate") == 1
    assert grew(before, after, "rewardhub_api_requests_total", api=api, outcome="unauthorized") == 1
    assert grew(before, after, "rewardhub_coins_total", source="partner_postback", direction="credited") == 25
    assert grew(before, after, "rewardhub_partner_postbacks_total", partner="cashgiraffe", outcome="accepted") == 1
    assert grew(before, after, "rewardhub_partner_postbacks_total", partner="-", outcome="unauthorized") == 1
    assert grew(before, after, "rewardhub_api_request_duration_seconds_count", api=api) == 3


def test_offer_deliveries_count_per_integration_and_verdict():
    app = StoreAppFactory()
    RewardUserFactory(id=USER_ID, store_app=app)
    wannads = integration(app, "wannads", "wn-metrics", WANNADS_SECRET)
    before = scrape()

    Client().get(wannads_path("wn-metrics", transaction_id="t-1", reward="40"))
    Client().get(wannads_path("wn-metrics", transaction_id="t-1", reward="40", status="rejected"))
    Client().get(wannads_path("wn-metrics", transaction_id="t-2").replace("signature=", "signature=0"))

    after = scrape()
    labels = {"network": "wannads", "integration": str(wannads.pk)}
    assert grew(before, after, "rewardhub_offer_deliveries_total", **labels, verdict="accepted") == 2
    assert grew(before, after, "rewardhub_offer_deliveries_total", **labels, verdict="bad_signature") == 1
    assert grew(before, after, "rewardhub_coins_total", source="offer", direction="credited") == 40
    assert grew(before, after, "rewardhub_coins_total", source="offer", direction="reversed") == 40


def test_throttle_hits_and_staff_adjustments_are_counted(settings, django_user_model):
    settings.AUTH_FAILURE_LIMIT = 2
    staff = django_user_model.objects.create_superuser("ops", "ops@example.com", "pw")
    before = scrape()

    for _ in range(3):
        Client().post("/api/postback", {}, content_type="application/json", headers={"Authorization": "Bearer no"})
    adjust_balance(user=RewardUserFactory(), amount=-7, reason="chargeback", staff=staff)

    after = scrape()
    assert grew(before, after, "rewardhub_throttled_requests_total", api="partner") == 1
    assert grew(before, after, "rewardhub_api_requests_total", api="partner-postback", outcome="throttled") == 1
    assert grew(before, after, "rewardhub_coins_total", source="adjustment", direction="reversed") == 7


def test_giveaway_callbacks_count_by_result_code():
    before = scrape()

    Client().post("/public/v1/giveaway/task/callback", {"track_id": "x"}, content_type="application/json")

    after = scrape()
    api = "giveaway-task-callback"
    assert grew(before, after, "rewardhub_api_requests_total", api=api, outcome="invalid_params") == 1


def test_requests_django_serves_count_by_status():
    before = scrape()

    Client().get("/admin/login/")
    Client().get("/no-such-page")

    after = scrape()
    assert grew(before, after, "rewardhub_api_requests_total", api="django", outcome="200") == 1
    assert grew(before, after, "rewardhub_api_requests_total", api="django", outcome="404") == 1


def test_every_metric_the_example_alerts_use_is_exported():
    rules = yaml.safe_load((Path(settings.BASE_DIR) / "deploy" / "prometheus" / "rewardhub-alerts.yml").read_text())
    used = {name for group in rules["groups"] for rule in group["rules"] for name in METRIC.findall(rule["expr"])}
    exported = {name for name, _ in scrape()}

    assert used and used <= exported
