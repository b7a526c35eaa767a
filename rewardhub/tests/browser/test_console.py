"""An operator and a support person in the console, as they would use it in Chromium."""

import csv
import io
from pathlib import Path

import pytest

from catalog.models import PartnerSecret
from catalog.services import hash_secret
from catalog.tests.factories import StoreAppFactory
from ledger.models import LedgerEntry
from ledger.services import post_entry
from ledger.tests.factories import RewardUserFactory
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


def test_support_exports_the_filtered_ledger_as_csv(console, server, tmp_path):
    user = RewardUserFactory()
    post_entry(user_id=user.pk, amount=25, kind=LedgerEntry.Kind.ADJUSTMENT, key="a:1", reference="=2+2")
    post_entry(user_id=user.pk, amount=40, kind=LedgerEntry.Kind.PARTNER_POSTBACK, key="p:1", reference="p:1")
    console.goto(f"{server}/admin/ledger/ledgerentry/")
    console.get_by_role("link", name="Staff adjustment").click()  # the kind filter

    with console.expect_download() as download:
        console.get_by_role("link", name="Export CSV").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)

    header, *rows = csv.reader(io.StringIO(Path(saved).read_text("utf-8-sig")))
    assert [(row[header.index("amount")], row[header.index("reference")]) for row in rows] == [("25", "'=2+2")]
