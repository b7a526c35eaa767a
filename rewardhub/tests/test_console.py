"""The operator console as support uses it: the first page's figures, lists that stay fast at volume, a user's
paged ledger, the reversal queue, integrations' health, giveaways' progress, times with their zone."""

import html
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from giveaways.services import draw_giveaway
from giveaways.tests.factories import GiveawayRewardFactory, GiveawayTaskFactory, ParticipantFactory, complete_all_tasks
from ledger.models import LedgerEntry
from ledger.services import adjust_balance, post_entry, set_ban
from ledger.tests.factories import RewardUserFactory
from postbacks.models import CoinFlowDay, DeliveryWithoutConversion, OfferConversion, OfferDelivery
from postbacks.selectors import DAY_SETTLES_AFTER, day_start
from postbacks.tests.offer_factories import WANNADS_SECRET, integration, recorded_reversal
from rewardhub import admin_volume
from rewardhub.testing import run_concurrently

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return get_user_model().objects.create_superuser("support", "support@example.com", "pw")


@pytest.fixture
def console(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def user():
    return RewardUserFactory(device_id="pixel-7-abc")


def credit(user, n, *, days_ago=0, amount=25):
    entry = post_entry(
        user_id=user.pk,
        amount=amount,
        kind="partner_postback",
        key=f"partner_postback:{n}",
        reference=f"user_postbacks:{n}",
    )
    if days_ago:
        LedgerEntry.objects.filter(pk=entry.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return entry


def text(response) -> str:
    """The page as a person reads it: tags removed, whitespace collapsed."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def tags_removed(markup: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", markup))


# At a glance


def test_the_first_page_shows_what_support_acts_on_each_figure_linking_to_its_list(console, user, staff):
    recorded_reversal(user)
    set_ban(user=RewardUserFactory(), banned=True, reason="fraud", staff=staff)
    adjust_balance(user=RewardUserFactory(), amount=-5, reason="chargeback", staff=staff)

    page = console.get(reverse("admin:index"))

    figures = text(page)
    assert "1 reversals to review" in figures
    assert "1 users with a negative balance" in figures
    assert "1 banned users" in figures
    html = page.content.decode()
    assert f'href="{reverse("admin:postbacks_offerreversal_changelist")}"' in html
    assert "?balance=negative" in html and "?banned_at__isempty=0" in html


def test_coins_by_source_count_today_seven_and_thirty_days_from_daily_sums(console, user, staff):
    credit(user, 1)  # today
    credit(user, 2, days_ago=3)
    credit(user, 3, days_ago=20)
    credit(user, 4, days_ago=40)  # outside every period
    adjust_balance(user=user, amount=-7, reason="chargeback", staff=staff)

    row = re.search(r"Partner games(.*?)</tr>", console.get(reverse("admin:index")).content.decode(), re.S)[1]

    assert re.findall(r"\+(\d+) / \N{MINUS SIGN}(\d+)", tags_removed(row)) == [("25", "0"), ("50", "0"), ("75", "0")]
    assert "kind=partner_postback" in row and "created_at__gte=" in row
    staff_row = re.search(r"Staff adjustments(.*?)</tr>", console.get(reverse("admin:index")).content.decode(), re.S)
    assert re.findall(r"\+(\d+) / \N{MINUS SIGN}(\d+)", tags_removed(staff_row[1]))[0] == ("0", "7")
    # Closed days were summed once; the next page reads the sums, not the entries of those days.
    assert CoinFlowDay.objects.filter(source="partner_postback").count() == 2


def test_offer_rows_show_the_usd_payout_networks_reported_for_the_coins_they_issued(console, user):
    wannads = integration(user.store_app, "wannads", "wn-payout", WANNADS_SECRET)
    for n, (payout, days_ago) in enumerate([("0.50", 0), ("1.25", 3), ("9.00", 40)]):
        conversion = recorded_reversal(user, tx=f"tx-{n}", outcome="credited", integration_=wannads)
        OfferConversion.objects.filter(pk=conversion.pk).update(payout_usd=payout, available_delta=100)
        entry = post_entry(
            user_id=user.pk,
            amount=100,
            kind="offer_credit",
            key=f"offer:{n}",
            reference=f"offer_conversions:{conversion.pk}",
        )
        LedgerEntry.objects.filter(pk=entry.pk).update(created_at=timezone.now() - timedelta(days=days_ago))

    row = re.search(r"Test wannads(.*?)</tr>", console.get(reverse("admin:index")).content.decode(), re.S)[1]

    assert "$1.75" in row  # the credit 40 days ago is outside the 30 days
    assert re.findall(r"\+(\d+) / ", tags_removed(row)) == ["100", "200", "200"]


def test_a_closed_day_is_summed_once_so_the_first_page_does_not_read_old_entries_again(console, user):
    credit(user, 1, days_ago=5)
    console.get(reverse("admin:index"))

    with CaptureQueriesContext(connection) as queries:
        console.get(reverse("admin:index"))

    ledger_reads = [q["sql"] for q in queries if "FROM ledger_entries" in q["sql"]]
    assert len(ledger_reads) <= 2  # today (and yesterday just after midnight) only


def test_after_the_daily_roll_up_the_first_page_sums_no_closed_day(console, user):
    credit(user, 1, days_ago=5)
    credit(user, 2, days_ago=20)
    call_command("roll_up_coin_flows", stdout=StringIO())

    with CaptureQueriesContext(connection) as queries:
        page = console.get(reverse("admin:index"))

    live_days = 1 if timezone.now() - day_start(timezone.now().date()) >= DAY_SETTLES_AFTER else 2
    assert len([q for q in queries if "FROM ledger_entries" in q["sql"]]) == live_days  # today's only
    assert not [q for q in queries if "INSERT" in q["sql"]]
    row = re.search(r"Partner games(.*?)</tr>", page.content.decode(), re.S)[1]
    assert re.findall(r"\+(\d+) / \N{MINUS SIGN}(\d+)", tags_removed(row)) == [("0", "0"), ("25", "0"), ("50", "0")]


def test_the_roll_up_run_again_sums_nothing_and_writes_no_row(user):
    credit(user, 1, days_ago=5)
    first, again = StringIO(), StringIO()
    call_command("roll_up_coin_flows", stdout=first)
    rows = list(CoinFlowDay.objects.order_by("day", "source").values_list("day", "source", "issued"))

    call_command("roll_up_coin_flows", stdout=again)

    assert re.match(r"2[89] day\(s\) summed", first.getvalue())  # 28 just after midnight (yesterday not settled)
    assert again.getvalue().startswith("0 day(s) summed")
    assert list(CoinFlowDay.objects.order_by("day", "source").values_list("day", "source", "issued")) == rows


@pytest.mark.django_db(transaction=True)
def test_two_roll_ups_at_once_write_each_day_once(user):
    credit(user, 1, days_ago=5)

    results = run_concurrently([lambda: call_command("roll_up_coin_flows", stdout=StringIO())] * 2)

    assert results == [None, None]
    assert CoinFlowDay.objects.filter(source="partner_postback").get().issued == 25
    assert CoinFlowDay.objects.values("day").distinct().count() == CoinFlowDay.objects.count()


def test_traffic_charts_count_accepted_and_refused_callbacks_per_integration(console, user):
    wannads = integration(user.store_app, "wannads", "wn-chart", WANNADS_SECRET)
    for verdict in ["accepted", "accepted", "duplicate", "bad_signature"]:
        DeliveryWithoutConversion.objects.create(integration=wannads, method="GET", path="/x", verdict=verdict)

    page = console.get(reverse("admin:index"))

    assert "3 accepted, 1 refused" in text(page)
    assert f"integration__id__exact={wannads.pk}" in page.content.decode()
    assert "<svg" in page.content.decode() and "http" not in re.search(r"<svg.*?</svg>", page.content.decode(), re.S)[0]


def test_running_giveaways_show_entries_and_completions(console):
    task = GiveawayTaskFactory()
    done = ParticipantFactory(giveaway=task.giveaway)
    ParticipantFactory(giveaway=task.giveaway)
    complete_all_tasks(done)

    row = re.search(r"Running giveaways(.*?)</table>", console.get(reverse("admin:index")).content.decode(), re.S)[1]

    assert task.giveaway.title in row
    assert re.findall(r'class="num">(?:<a [^>]+>)?(\d+)', row)[:2] == ["2", "1"]


def test_staff_without_permissions_sees_no_figures(user):
    recorded_reversal(user)
    operator = get_user_model().objects.create_user("operator", password="x" * 20, is_staff=True)
    client = Client()
    client.force_login(operator)

    page = text(client.get(reverse("admin:index")))

    assert "reversals to review" not in page and "Coins issued" not in page and "Traffic" not in page


# Find anything, fast


def test_searches_are_indexed_equalities_never_substring_scans(console, user):
    credit(user, 1)
    searches = [str(user.pk), "pixel-7-abc", "user_postbacks:1", "not-a-uuid", "12"]
    with CaptureQueriesContext(connection) as queries:
        for term in searches:
            assert console.get(reverse("admin:ledger_ledgerentry_changelist"), {"q": term}).status_code == 200
            assert console.get(reverse("admin:ledger_rewarduser_changelist"), {"q": term}).status_code == 200
            assert console.get(reverse("admin:postbacks_offerdelivery_changelist"), {"q": term}).status_code == 200
    sql = " ".join(q["sql"] for q in queries)
    assert "LIKE" not in sql and "UPPER(" not in sql


@pytest.mark.parametrize("term", ["user_postbacks:1", "pixel-7-abc", "{user_id}"])
def test_the_ledger_finds_a_users_entries_by_reference_device_or_user_id(console, user, term):
    credit(user, 1)
    other = RewardUserFactory(device_id="iphone-xyz")
    credit(other, 2)

    page = text(console.get(reverse("admin:ledger_ledgerentry_changelist"), {"q": term.format(user_id=user.pk)}))

    assert "user_postbacks:1" in page and "user_postbacks:2" not in page


def test_a_partial_device_id_finds_nothing_rather_than_scanning_a_million_users(console, user):
    page = text(console.get(reverse("admin:ledger_rewarduser_changelist"), {"q": "pixel"}))
    assert "0 reward users" in page


def test_big_lists_say_about_how_many_and_stop_paging_deep(console, user, monkeypatch):
    for n in range(5):
        credit(user, n)
    monkeypatch.setattr(admin_volume, "EXACT_COUNT_BELOW", 1)  # as if the planner expected millions
    monkeypatch.setattr(admin_volume, "MAX_PAGES", 2)

    page = console.get(reverse("admin:ledger_ledgerentry_changelist"), {"p": 1})
    paginator = page.context["cl"].paginator

    assert "about" in text(page)
    assert paginator.estimated and paginator.num_pages <= 2


def test_a_count_the_planner_underestimated_stops_reading_at_its_cap(console, user, monkeypatch):
    for n in range(5):
        credit(user, n)
    monkeypatch.setattr(admin_volume, "EXACT_COUNT_BELOW", 3)
    monkeypatch.setattr(admin_volume.EstimatedCountPaginator, "planned_rows", 1)

    page = text(console.get(reverse("admin:ledger_ledgerentry_changelist")))

    assert "more than 3 ledger entries" in page


def test_a_users_page_shows_fifty_entries_a_page_with_links_to_their_events(console, user):
    for n in range(1, 121):
        credit(user, n)
    url = reverse("admin:ledger_rewarduser_change", args=[user.pk])

    first, last = console.get(url), console.get(url, {"entries_page": 3})

    assert "120 entries" in text(first)
    assert len(re.findall(r"user_postbacks:\d+</a>", first.content.decode())) == 50
    assert reverse("admin:postbacks_userpostback_change", args=[120]) in first.content.decode()
    assert f"?user__id__exact={user.pk}" in first.content.decode()
    assert "user_postbacks:1</a>" in last.content.decode() and "page 3 of 3" in text(last)
    assert len(first.content) < 200 * 1024


def test_a_users_page_with_a_malformed_id_goes_back_to_the_list(console):
    response = console.get(reverse("admin:ledger_rewarduser_change", args=["not-a-uuid"]))
    assert response.status_code == 302


def test_a_users_page_has_no_save_button_every_field_being_read_only(console, user):
    page = console.get(reverse("admin:ledger_rewarduser_change", args=[user.pk])).content.decode()
    assert 'name="_save"' not in page and "Adjust balance" in page


def test_the_ledger_list_links_a_user_entries_filter(console, user):
    credit(user, 1)
    other = RewardUserFactory()
    credit(other, 2)

    page = text(console.get(reverse("admin:ledger_ledgerentry_changelist"), {"user__id__exact": str(user.pk)}))

    assert "user_postbacks:1" in page and "user_postbacks:2" not in page


# Review and support work


def test_the_reversal_queue_opens_on_what_is_left_to_review_with_its_count(console, user, staff):
    waiting = recorded_reversal(user, tx="tx-waiting")
    done = recorded_reversal(user, tx="tx-done")
    OfferConversion.objects.filter(pk=done.pk).update(reviewed_at=timezone.now(), reviewed_by=staff)

    page = console.get(reverse("admin:postbacks_offerreversal_changelist"))

    assert "1 not yet reviewed" in text(page)
    assert "tx-waiting" in text(page) and "tx-done" not in text(page)
    assert waiting.pk in [row.pk for row in page.context["cl"].result_list]
    everything = text(console.get(reverse("admin:postbacks_offerreversal_changelist"), {"reviewed": "all"}))
    assert "tx-done" in everything


def test_the_reversal_outcome_filter_lists_only_reversal_outcomes(console):
    page = console.get(reverse("admin:postbacks_offerreversal_changelist")).content.decode()
    assert "Credit reversed" in page and "Hold released" in page
    assert "Re-credited after a reversal" not in page and "Held (pending)" not in page


def test_a_reversal_page_offers_review_and_ban_and_has_no_save_button(console, user):
    reversal = recorded_reversal(user)

    page = console.get(reverse("admin:postbacks_offerreversal_change", args=[reversal.pk])).content.decode()

    assert reverse("admin:postbacks_offerreversal_review", args=[reversal.pk]) in page
    assert reverse("admin:ledger_rewarduser_ban", args=[user.pk]) in page and "Ban user" in page
    assert 'name="_save"' not in page


def test_posting_a_reversal_page_never_says_changed_while_nothing_was_reviewed(console, user):
    reversal = recorded_reversal(user)

    response = console.post(reverse("admin:postbacks_offerreversal_change", args=[reversal.pk]), {}, follow=True)

    assert response.status_code == 403
    assert b"changed successfully" not in response.content
    reversal.refresh_from_db()
    assert reversal.reviewed_at is None


def test_mark_reviewed_on_the_page_records_note_and_staff_and_is_audited(console, user, staff):
    reversal = recorded_reversal(user)
    url = reverse("admin:postbacks_offerreversal_review", args=[reversal.pk])

    assert b"note" in console.get(url).content
    response = console.post(url, {"note": "Chargeback confirmed"}, follow=True)

    reversal.refresh_from_db()
    assert (reversal.review_note, reversal.reviewed_by) == ("Chargeback confirmed", staff)
    assert "Reversal marked reviewed." in text(response)
    assert LogEntry.objects.filter(object_id=str(reversal.pk), change_message="Reviewed: Chargeback confirmed").exists()


def test_reviewing_needs_the_change_permission(user):
    reversal = recorded_reversal(user)
    viewer = get_user_model().objects.create_user("viewer", password="x" * 20, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_offerconversion"))
    client = Client()
    client.force_login(viewer)

    response = client.post(reverse("admin:postbacks_offerreversal_review", args=[reversal.pk]), {"note": "x"})

    assert response.status_code == 403
    reversal.refresh_from_db()
    assert reversal.reviewed_at is None


def test_conversions_separate_the_networks_state_from_our_outcome(console, user):
    recorded_reversal(user)
    page = text(console.get(reverse("admin:postbacks_offerconversion_changelist")))
    assert "Network's state" in page
    assert "rejected" in page and "Credit reversed" in page


def test_integrations_show_their_health_and_link_their_delivery_log(console, user):
    wannads = integration(user.store_app, "wannads", "wn-health", WANNADS_SECRET)
    for verdict in ["accepted", "bad_signature", "bad_signature"]:
        DeliveryWithoutConversion.objects.create(integration=wannads, method="GET", path="/x", verdict=verdict)

    page = console.get(reverse("admin:postbacks_offerwallintegration_changelist"))

    row = page.context["cl"].result_list[0]
    assert (row.accepted_24h, row.refused_24h, row.last_delivery_at is not None) == (1, 2, True)
    assert f"?integration__id__exact={wannads.pk}" in page.content.decode()


def test_delivery_rows_are_named_by_their_id_and_verdict_with_a_time_zone(user):
    wannads = integration(user.store_app, "wannads", "wn-name", WANNADS_SECRET)
    logged = DeliveryWithoutConversion.objects.create(integration=wannads, method="GET", path="/x", verdict="accepted")
    delivery = OfferDelivery.objects.get(pk=logged.pk)  # as the log (a view) reads it
    assert re.fullmatch(rf"Delivery #{delivery.pk}: Accepted at \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC", str(delivery))


def test_list_times_carry_their_time_zone(console, user):
    credit(user, 1)
    page = text(console.get(reverse("admin:ledger_ledgerentry_changelist")))
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page)


def test_a_giveaway_page_shows_entries_completions_and_winners_with_delivery(console):
    task = GiveawayTaskFactory()
    GiveawayRewardFactory(giveaway=task.giveaway, name="Coupon")
    winner = ParticipantFactory(giveaway=task.giveaway, email="winner@example.com")
    complete_all_tasks(winner)
    draw_giveaway(giveaway=task.giveaway, now=task.giveaway.ends_at + timedelta(seconds=1))

    page = text(console.get(reverse("admin:giveaways_giveaway_change", args=[task.giveaway.pk])))

    assert "1 participant(s)" in page
    assert re.search(r"Winners: Coupon: winner@example.com ?, not delivered yet", page)


def test_a_participants_page_shows_their_personal_and_claim_links(console, settings):
    settings.PUBLIC_BASE_URL = "https://rewards.example.com"
    participant = ParticipantFactory()
    slug = participant.giveaway.slug

    page = console.get(reverse("admin:giveaways_participant_change", args=[participant.pk])).content.decode()

    assert f"https://rewards.example.com/g/{slug}?track_id={participant.track_id}" in page
    assert f"https://rewards.example.com/g/{slug}/claim?track_id={participant.track_id}" in page
