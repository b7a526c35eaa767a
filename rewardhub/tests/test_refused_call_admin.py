"""Support finds refused calls: the list searched by exact ids, filtered by source, code and time, exported, read
only; the first page's partner charts count them and link to them."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalog.tests.factories import RewardGameFactory, StoreAppFactory
from ledger.tests.factories import RewardUserFactory
from postbacks.models import UserPostback
from rewardhub.models import RefusedCall

pytestmark = pytest.mark.django_db

LIST = "/admin/rewardhub/refusedcall/"
UID = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"


def refused(**fields) -> RefusedCall:
    values = {"source": "partner_postback", "code": "unauthorized", "message": "m", "status": 401, "path": "/"}
    return RefusedCall.objects.create(**{**values, **fields})


@pytest.fixture
def calls():
    return {
        "partner": refused(pid="cashgiraffe", user_id=UID, gid="my_game", level_number=5, source_ip="203.0.113.5"),
        "other": refused(pid="other", code="unknown_gid", status=400, source_ip="203.0.113.6"),
        "giveaway": refused(
            source="giveaway_callback", code="bad_signature", giveaway_id=7, user_id="TRACK123456", event="sign_up"
        ),
    }


def listed(response) -> set[int]:
    return {
        int(pk) for pk in re.findall(r'href="/admin/rewardhub/refusedcall/(\d+)/change/', response.content.decode())
    }


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("cashgiraffe", {"partner"}),
        (UID, {"partner"}),
        ("TRACK123456", {"giveaway"}),
        ("203.0.113.6", {"other"}),
        ("7", {"giveaway"}),  # the giveaway id
        ("nothing-like-this", set()),
    ],
)
def test_search_finds_calls_by_exact_pid_user_track_id_ip_or_giveaway(admin_client, calls, query, found):
    response = admin_client.get(LIST, {"q": query})

    assert response.status_code == 200
    assert listed(response) == {calls[name].pk for name in found}


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"source__exact": "giveaway_callback"}, {"giveaway"}),
        ({"code": "unknown_gid"}, {"other"}),
        ({"pid__exact": "cashgiraffe"}, {"partner"}),
    ],
)
def test_filters_by_source_code_and_pid(admin_client, calls, params, found):
    assert listed(admin_client.get(LIST, params)) == {calls[name].pk for name in found}


def test_the_code_filter_offers_the_codes_recorded(admin_client, calls):
    page = admin_client.get(LIST).content.decode()

    assert all(f"?code={code}" in page for code in ("unauthorized", "unknown_gid", "bad_signature"))


def test_the_time_filter_keeps_only_recent_calls(admin_client, calls):
    RefusedCall.objects.filter(pk=calls["other"].pk).update(created_at=timezone.now() - timedelta(days=3))
    since = (timezone.now() - timedelta(hours=24)).isoformat()

    assert listed(admin_client.get(LIST, {"created_at__gte": since})) == {calls["partner"].pk, calls["giveaway"].pk}


def test_the_export_is_the_filtered_list(admin_client, calls):
    response = admin_client.get(f"{LIST}export.csv", {"source__exact": "partner_postback"})

    header, *data = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert {row[header.index("partner pid")] for row in data} == {"cashgiraffe", "other"}


def test_the_list_is_read_only(admin_client, calls):
    page = admin_client.get(f"{LIST}{calls['partner'].pk}/change/")

    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.post(f"{LIST}{calls['partner'].pk}/delete/").status_code == 403
    assert admin_client.get(f"{LIST}add/").status_code == 403


def test_the_first_page_counts_refused_partner_postbacks_and_links_to_them(admin_client, calls):
    refused(pid="cashgiraffe")
    RefusedCall.objects.create(source="partner_postback", code="x", message="", status=400, path="/", pid="quiet")
    RefusedCall.objects.filter(pid="quiet").update(created_at=timezone.now() - timedelta(days=2))

    page = admin_client.get(reverse("admin:index")).content.decode()

    chart = re.search(r"Partner cashgiraffe(.*?)</div>", page, re.S)[1]
    assert re.search(r"0 accepted</a>, <a [^>]*>2 refused</a>", chart)
    assert f"{LIST}?pid__exact=cashgiraffe&amp;created_at__gte=" in chart
    assert "Partner quiet" not in page  # refused two days ago: outside the 24 hours
    assert "are not recorded" not in page


def test_staff_who_may_not_see_refused_calls_get_no_count_or_link(calls):
    user = RewardUserFactory(store_app=StoreAppFactory(pid="cashgiraffe"))
    UserPostback.objects.create(
        user=user, game=RewardGameFactory(), pid="cashgiraffe", level_number=1, awarded=False, coin_delta=0
    )
    staff = get_user_model().objects.create_user("support", password="x" * 20, is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_offerdelivery"))
    client = Client()
    client.force_login(staff)

    page = client.get(reverse("admin:index")).content.decode()

    chart = re.search(r"Partner cashgiraffe(.*?)</div>", page, re.S)[1]
    assert "1 accepted" in chart and "refused</a>" not in chart and LIST not in page
    assert "Partner other" not in page  # only refused calls: not shown to them
