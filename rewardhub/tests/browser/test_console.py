"""An operator and a support person in the console, as they would use it in Chromium."""

import csv
import io
from pathlib import Path

import pytest
from django.utils import timezone

from catalog.models import PartnerSecret
from catalog.services import hash_secret
from catalog.tests.factories import StoreAppFactory
from ledger.models import LedgerEntry, RewardUser
from ledger.services import post_entry
from ledger.tests.factories import RewardUserFactory
from postbacks.selectors import pending_reversals
from postbacks.tests.offer_factories import recorded_reversal
from rewardhub.tests.browser.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_operator_signs_in_with_the_login_form(browser, server, operator):
    page = browser.new_page()

    sign_in(page, server)

    assert page.get_by_role("heading", name="Partners, games, coins and giveaways").is_visible()
    page.close()


def test_a_new_secret_survives_a_refresh_and_no_second_one_is_issued(console, server):
    StoreAppFactory(pid="cashgiraffe")
    console.goto(f"{server}/admin/catalog/partnersecret/add/")
    console.get_by_label("Store app").select_option(label="cashgiraffe")
    console.get_by_label("Label").fill("studio")
    console.get_by_role("button", name="Save", exact=True).click()
    shown = console.locator("#partner-secret").input_value()

    console.reload()

    assert console.locator("#partner-secret").input_value() == shown
    assert list(PartnerSecret.objects.values_list("secret_hash", flat=True)) == [hash_secret(shown)]
    assert console.locator("h1").count() == 1
    assert console.locator(".breadcrumbs").get_by_role("link", name="Partner API secrets").is_visible()


def test_support_exports_the_filtered_ledger_as_csv(console, server, tmp_path, operator):
    user = RewardUserFactory()
    post_entry(
        user_id=user.pk, amount=25, kind=LedgerEntry.Kind.ADJUSTMENT, key="a:1", reference="=2+2", created_by=operator
    )
    post_entry(user_id=user.pk, amount=40, kind=LedgerEntry.Kind.PARTNER_POSTBACK, key="p:1", reference="p:1")
    console.goto(f"{server}/admin/ledger/ledgerentry/")
    console.get_by_role("link", name="Staff adjustment").click()  # the kind filter

    with console.expect_download() as download:
        console.get_by_role("link", name="Export CSV").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)

    header, *rows = csv.reader(io.StringIO(Path(saved).read_text("utf-8-sig")))
    assert [(row[header.index("amount")], row[header.index("reference")]) for row in rows] == [("25", "'=2+2")]


def figure(page, label: str):
    return page.locator("#review-figures a.figure", has_text=label)


def test_the_first_page_shows_the_figures_the_database_holds_and_links_to_them(console, server):
    short, banned = RewardUserFactory(), RewardUserFactory()
    recorded_reversal(short)
    post_entry(user_id=short.pk, amount=-100, kind=LedgerEntry.Kind.OFFER_REVERSAL, key="r:1", reference="r:1")
    RewardUser.objects.filter(pk=banned.pk).update(banned_at=timezone.now(), ban_reason="fraud")

    console.goto(f"{server}/admin/")

    assert figure(console, "reversals to review").locator("strong").inner_text() == str(pending_reversals().count())
    negative = RewardUser.objects.filter(coins__lt=0).count()
    assert figure(console, "negative balance").locator("strong").inner_text() == str(negative) == "1"
    assert figure(console, "banned users").locator("strong").inner_text() == "1"
    figure(console, "negative balance").click()
    console.wait_for_url("**/admin/ledger/rewarduser/?balance=negative")
    assert console.locator("#result_list tbody tr").count() == 1
    assert str(short.device_id)[:24] in console.locator("#result_list").inner_text()


def test_support_reviews_a_reversal_from_its_page(console, server):
    reversal = recorded_reversal(RewardUserFactory())
    console.goto(f"{server}/admin/postbacks/offerreversal/")
    console.locator("#result_list tbody tr a").first.click()
    assert console.get_by_role("button", name="Save").count() == 0  # a read-only page offers no Save

    console.get_by_role("link", name="Mark reviewed").click()
    console.get_by_label("Note").fill("Network confirmed the chargeback.")
    console.get_by_role("button", name="Mark reviewed").click()

    assert "Reversal marked reviewed." in console.locator(".messagelist").inner_text()
    reversal.refresh_from_db()
    assert reversal.reviewed_at is not None and reversal.review_note == "Network confirmed the chargeback."
    assert pending_reversals().count() == 0
