"""Metrics under gunicorn: every worker's samples add up in one scrape (prometheus-client's multiprocess mode),
from the app's /metrics with the token and from the master's internal address (METRICS_BIND)."""

import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rewardhub.metrics import FLUSH_SECONDS
from rewardhub.soak import calls
from rewardhub.soak.clients import run_clients
from rewardhub.soak.figures import FIGURES
from rewardhub.soak.server import free_port, gunicorn_server
from rewardhub.soak.workloads import provision_partner

pytestmark = [pytest.mark.soak, pytest.mark.django_db(transaction=True)]
TOKEN = "soak-metrics-token"


def accepted(url: str, headers: dict) -> float:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - a local http URL
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - a local URL
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "rewardhub_api_requests_total"
        and sample.labels == {"api": "partner-postback", "outcome": "accepted"}
    )


def test_every_workers_requests_add_up_in_one_scrape():
    setup = provision_partner(users=40, pid="soakmetrics")
    bind = f"127.0.0.1:{free_port()}"
    sent = [
        calls.partner_postback(secret=setup.secret, pid=setup.pid, uid=uid, gid=setup.gid, level=5)
        for uid in setup.user_ids
    ]

    with gunicorn_server(workers=2, environ={"METRICS_TOKEN": TOKEN, "METRICS_BIND": bind}) as server:
        exchanges = run_clients(server.base_url, sent, clients=8)
        time.sleep(FLUSH_SECONDS + 0.5)  # each worker writes its counts once a second
        from_app = accepted(f"{server.base_url}/metrics", {"Authorization": f"Bearer {TOKEN}"})
        from_master = accepted(f"http://{bind}/metrics", {})

    FIGURES.record("metrics: 40 postbacks over 2 workers, then scraped", exchanges)
    assert [exchange.status for exchange in exchanges] == [200] * 40
    assert from_app == from_master == 40
