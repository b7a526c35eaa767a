"""Data that grows and work on a schedule: the delivery log is pruned in short batches while callbacks arrive,
never a delivery the ledger leads to; scheduled commands run on every node from cron, one run at a time."""

import io
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from catalog.tests.factories import StoreAppFactory
from ledger.tests.factories import RewardUserFactory
from postbacks.models import DeliveryWithoutConversion, OfferConversion, OfferDelivery
from postbacks.tests.offer_factories import USER_ID, WANNADS_SECRET, integration, wannads_path
from rewardhub import retention
from rewardhub.models import ScheduledRun
from rewardhub.scheduling import lease
from rewardhub.testing import Client, run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)
SLUG = "wn-retention"


@pytest.fixture
def wannads():
    app = StoreAppFactory()
    RewardUserFactory(id=USER_ID, store_app=app)
    return integration(app, "wannads", SLUG, WANNADS_SECRET)


def aged(days: int) -> None:
    """Every delivery logged so far, accepted ones (their conversions) included, `days` old."""
    DeliveryWithoutConversion.objects.update(received_at=timezone.now() - timedelta(days=days))
    OfferConversion.objects.update(created_at=timezone.now() - timedelta(days=days))


def test_pruning_keeps_every_delivery_that_recorded_a_conversion(wannads, settings):
    settings.OFFER_DELIVERY_RETENTION_DAYS = 90
    Client().get(wannads_path(SLUG, transaction_id="credited"))
    Client().get(wannads_path(SLUG, transaction_id="forged", reward="5").replace("signature=", "signature=0"))
    aged(100)
    Client().get(wannads_path(SLUG, transaction_id="recent", reward="5").replace("signature=", "signature=0"))

    out = io.StringIO()
    call_command("prune_logs", stdout=out)

    kept = OfferDelivery.objects.order_by("id")
    assert [(d.verdict, d.received_at > timezone.now() - timedelta(days=1)) for d in kept] == [
        ("accepted", False),  # 100 days old, but its log is its conversion's
        ("bad_signature", True),
    ]
    assert "Deleted 1 offer deliveries older than 90 day(s)." in out.getvalue()
    assert OfferConversion.objects.get().delivery.transaction_id == "credited"


def test_pruning_runs_while_callbacks_arrive(wannads, settings, monkeypatch):
    monkeypatch.setattr(retention, "PRUNE_BATCH", 3)  # many short statements between the callbacks' writes
    for n in range(12):
        Client().get(wannads_path(SLUG, transaction_id=f"old-{n}").replace("signature=", "signature=0"))  # refused
    aged(200)
    stop = threading.Event()
    replies = []

    def callbacks():
        n = 0
        while not stop.is_set() or n < 10:
            replies.append(Client().get(wannads_path(SLUG, transaction_id=f"new-{n}")).status_code)
            n += 1

    def prune():
        try:
            call_command("prune_logs", stdout=io.StringIO())
        finally:
            stop.set()

    run_concurrently([callbacks, prune])

    assert set(replies) == {200}
    assert not OfferDelivery.objects.filter(received_at__lt=timezone.now() - timedelta(days=100)).exists()
    assert set(OfferDelivery.objects.values_list("verdict", flat=True)) == {"accepted"}
    assert OfferDelivery.objects.count() == len(replies)
    assert OfferConversion.objects.count() == len(replies)


def test_a_scheduled_command_held_elsewhere_is_skipped():
    with lease("draw_giveaways", timedelta(minutes=5)) as held:
        out = io.StringIO()
        call_command("draw_giveaways", stdout=out)

    assert held
    assert out.getvalue() == "draw_giveaways: another run is under way; skipped.\n"
    assert not ScheduledRun.objects.exists()  # released on leaving


def test_two_nodes_running_a_command_at_once_do_it_once():
    outputs = [io.StringIO(), io.StringIO()]
    inside = threading.Barrier(2, timeout=10)

    def run(out):
        def call():
            with lease("prune_logs", timedelta(minutes=5)) as held:
                inside.wait()  # both have tried to take it before either lets go
                out.write("ran" if held else "skipped")

        return call

    run_concurrently([run(out) for out in outputs])

    assert sorted(out.getvalue() for out in outputs) == ["ran", "skipped"]


def test_a_lease_left_by_a_run_that_died_is_taken_once_it_expires():
    ScheduledRun.objects.create(name="roll_up_coin_flows", holder="dead:1", expires_at=timezone.now())

    out = io.StringIO()
    call_command("roll_up_coin_flows", stdout=out)

    assert "day(s) summed" in out.getvalue()
