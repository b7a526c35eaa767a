"""Support exports the list it is looking at as CSV: same filters, search and order, streamed, safe to open."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from giveaways.tests.factories import ParticipantFactory
from ledger.models import LedgerEntry
from ledger.services import post_entry
from ledger.tests.factories import RewardUserFactory
from rewardhub.admin_export import safe_cell

pytestmark = pytest.mark.django_db

LEDGER = "/admin/ledger/ledgerentry/"


@pytest.fixture
def support():
    """Staff who may only view the ledger."""
    user = get_user_model().objects.create_user("support", password="x" * 20, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    client = Client()
    client.force_login(user)
    return client


def entry(user, amount, kind=LedgerEntry.Kind.ADJUSTMENT, reference="staff:1", n=[0]):  # noqa: B006 - a counter
    n[0] += 1
    return post_entry(user_id=user.pk, amount=amount, kind=kind, key=f"test:{n[0]}", reference=reference)


def rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_the_export_has_the_lists_columns_and_only_its_filtered_rows(support):
    user = RewardUserFactory()
    entry(user, 25, kind=LedgerEntry.Kind.ADJUSTMENT)
    entry(user, 40, kind=LedgerEntry.Kind.PARTNER_POSTBACK, reference="user_postbacks:7")

    response = support.get(f"{LEDGER}export.csv?kind=partner_postback")

    header, *data = rows(response)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="ledgerentry-')
    assert header[:4] == ["ID", "created at", "user", "amount"]
    assert [(row[3], row[header.index("reference")]) for row in data] == [("40", "user_postbacks:7")]


def test_the_list_offers_the_export_of_what_it_shows(support):
    page = support.get(f"{LEDGER}?kind=postback&q=abc").content.decode()

    assert f'href="{LEDGER}export.csv?kind=postback&amp;q=abc"' in page


def test_the_export_streams_without_counting_the_rows(support):
    entry(RewardUserFactory(), 5)

    with CaptureQueriesContext(connection) as queries:
        response = support.get(f"{LEDGER}export.csv")
        assert response.streaming
        assert len(rows(response)) == 2

    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]


def test_cells_a_spreadsheet_would_run_are_quoted_and_numbers_stay_numbers(support):
    user = RewardUserFactory()
    entry(user, -30, reference='=HYPERLINK("https://evil.example","click")')

    header, row = rows(support.get(f"{LEDGER}export.csv"))

    assert row[header.index("reference")] == '\'=HYPERLINK("https://evil.example","click")'
    assert row[header.index("amount")] == "-30"


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1+1", "@SUM(A1)", "\tx", "\rx"])
def test_every_formula_start_is_neutralised(text):
    assert safe_cell(text) == "'" + text


def test_staff_without_the_view_permission_cannot_export():
    client = Client()
    client.force_login(get_user_model().objects.create_user("nobody", password="x" * 20, is_staff=True))

    assert client.get(f"{LEDGER}export.csv").status_code == 403


def test_an_unknown_filter_goes_back_to_the_list_instead_of_exporting_everything(support):
    response = support.get(f"{LEDGER}export.csv?no_such_field=1")

    assert response.status_code == 302


@pytest.mark.parametrize(
    "listing",
    [
        "/admin/ledger/ledgerentry/",
        "/admin/postbacks/offerdelivery/",
        "/admin/postbacks/offerconversion/",
        "/admin/postbacks/offerreversal/",
        "/admin/giveaways/participant/",
        "/admin/giveaways/drawwinner/",
        "/admin/rewardhub/refusedcall/",
    ],
)
def test_every_list_support_works_from_exports(admin_client, listing):
    ParticipantFactory(email="=cmd@example.com")

    response = admin_client.get(f"{listing}export.csv")

    assert response.status_code == 200
    assert rows(response)[0]  # a header row
