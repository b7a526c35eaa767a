"""Every custom admin view refuses a staff member without permissions: 403, for GET and POST, nothing changed.

Custom views are found from each registered ModelAdmin's get_urls(), minus the ones Django's ModelAdmin adds, so
a view added later is walked too; its URL arguments come from `url_arguments` (a new argument name fails the walk
until it is given a value). Django's test client, not the ASGI application: it skips the CSRF check, so a POST
reaches the view's own permission check instead of being refused by the CSRF middleware first."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, reverse

from catalog.services import issue_partner_secret
from catalog.tests.factories import StoreAppFactory
from giveaways.models import GiveawayProject
from giveaways.services import create_test_participant
from giveaways.tests.factories import GiveawayTaskFactory
from ledger.models import RewardUser
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferwallIntegration
from postbacks.tests.offer_factories import recorded_reversal
from rewardhub.tests.test_asgi import serve

pytestmark = pytest.mark.django_db


def custom_admin_urls() -> list[URLPattern]:
    found = []
    for model_admin in admin.site._registry.values():
        standard = {str(url.pattern) for url in admin.ModelAdmin.get_urls(model_admin)}
        found += [url for url in model_admin.get_urls() if str(url.pattern) not in standard]
    return found


CUSTOM_URLS = custom_admin_urls()


@pytest.fixture
def url_arguments() -> dict[str, object]:
    task = GiveawayTaskFactory()
    return {
        "project_id": task.giveaway.project_id,
        "giveaway_id": task.giveaway_id,
        "task_id": task.pk,
        "track_id": create_test_participant(giveaway=task.giveaway).track_id,
        "user_id": RewardUserFactory().pk,
        "secret_id": issue_partner_secret(store_app=StoreAppFactory(), label="test")[0].pk,
        "conversion_id": recorded_reversal(RewardUserFactory()).pk,
        "integration_id": OfferwallIntegration.objects.get().pk,  # the reversal's
        "id": get_user_model().objects.create_user("someone", is_staff=True).pk,  # auth's password change page
    }


def address(url: URLPattern, arguments: dict[str, object]) -> str:
    names = set(url.pattern.converters)
    assert names <= set(arguments), f"give url_arguments a value for {names - set(arguments)} ({url.name})"
    return reverse(f"admin:{url.name}", kwargs={name: arguments[name] for name in names})


def everything() -> dict:
    """Row counts of every table, and the fields a custom view updates in place (API key, ban, balance)."""
    return {
        **{model._meta.label: model._default_manager.count() for model in apps.get_models()},
        "api keys": sorted(GiveawayProject.objects.values_list("api_key_hash", flat=True)),
        "users": sorted(RewardUser.objects.values_list("id", "banned_at", "coins")),
    }


def client_for(**flags) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_user("operator", password="x" * 20, is_staff=True, **flags))
    return client


def test_the_walk_finds_the_custom_views():
    assert "giveaways_giveaway_check_callback_status" in {url.name for url in CUSTOM_URLS}


@pytest.mark.parametrize("url", CUSTOM_URLS, ids=lambda url: url.name)
@pytest.mark.parametrize("method", ["get", "post"])
def test_staff_without_permissions_gets_403_and_changes_nothing(url, method, url_arguments):
    staff = client_for()
    before = everything()
    response = getattr(staff, method)(address(url, url_arguments))
    assert response.status_code == 403
    assert everything() == before


@pytest.mark.parametrize("url", CUSTOM_URLS, ids=lambda url: url.name)
def test_a_superuser_reaches_every_custom_view(url, url_arguments):
    """The control: the addresses the walk builds are real pages."""
    assert client_for(is_superuser=True).get(address(url, url_arguments)).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_production_application_refuses_the_check_callback_status_page_to_staff_without_permissions(
    url_arguments,
):
    session = client_for().cookies["sessionid"].value
    path = reverse(
        "admin:giveaways_giveaway_check_callback_status",
        kwargs={name: url_arguments[name] for name in ("giveaway_id", "track_id")},
    )

    (answer,) = serve((("GET", path), {"headers": {"Cookie": f"sessionid={session}"}}))

    assert answer.status_code == 403


PAGES = [url for url in CUSTOM_URLS if not url.name.endswith("_export_csv")]


@pytest.mark.parametrize("url", PAGES, ids=lambda url: url.name)
def test_every_custom_page_has_one_heading_and_a_breadcrumb_back_to_its_list(url, url_arguments):
    page = client_for(is_superuser=True).get(address(url, url_arguments)).content.decode()

    breadcrumbs = page[page.index('<div class="breadcrumbs">') :].split("</div>")[0]
    assert page.count("<h1") == 1
    assert breadcrumbs.count("<a ") >= 3  # Home, the app, the list (and the object, when there is one)
