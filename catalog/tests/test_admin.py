import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from catalog.models import PartnerSecret
from catalog.services import hash_secret
from catalog.tests.factories import StoreAppFactory, partner_secret_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_creating_a_secret_shows_it_once_and_stores_only_its_hash(admin_client):
    app = StoreAppFactory(pid="cashgiraffe")

    page = admin_client.post("/admin/catalog/partnersecret/add/", {"store_app": app.pk, "label": "studio"}, follow=True)

    plain = re.search(r'value="(rh_[^"]+)"', page.content.decode()).group(1)
    secret = PartnerSecret.objects.get()
    assert secret.secret_hash == hash_secret(plain)
    assert plain.startswith(secret.prefix)
    assert plain not in admin_client.get(f"/admin/catalog/partnersecret/{secret.pk}/change/").content.decode()
    assert plain not in admin_client.get("/admin/catalog/partnersecret/").content.decode()


def shown_secret(page) -> str | None:
    found = re.search(r'value="(rh_[^"]+)"', page.content.decode())
    return found and found.group(1)


def test_refreshing_the_created_page_shows_the_same_secret_and_issues_no_other(admin_client):
    app = StoreAppFactory(pid="cashgiraffe")

    saved = admin_client.post("/admin/catalog/partnersecret/add/", {"store_app": app.pk, "label": "studio"})
    first = admin_client.get(saved["Location"])
    refreshed = admin_client.get(saved["Location"])

    assert saved.status_code == 302  # post/redirect/get: a refresh repeats the GET, never the POST
    assert shown_secret(first) == shown_secret(refreshed) is not None
    assert PartnerSecret.objects.count() == 1
    assert PartnerSecret.objects.get().secret_hash == hash_secret(shown_secret(refreshed))


def test_the_created_page_shows_the_secret_only_to_its_creator_and_only_for_a_while(admin_client, monkeypatch):
    app = StoreAppFactory(pid="cashgiraffe")
    created = admin_client.post("/admin/catalog/partnersecret/add/", {"store_app": app.pk, "label": "studio"})
    colleague = Client()
    colleague.force_login(get_user_model().objects.create_superuser("other", "other@example.com", "pw"))

    assert shown_secret(colleague.get(created["Location"])) is None
    monkeypatch.setattr("catalog.admin.SECRET_SHOWN_FOR_SECONDS", -1)  # any age is too old
    later = admin_client.get(created["Location"])
    assert shown_secret(later) is None
    assert "no longer shown" in later.content.decode()


def test_the_created_page_has_one_heading_and_a_breadcrumb_back_to_the_list(admin_client):
    app = StoreAppFactory(pid="cashgiraffe")
    page = admin_client.post("/admin/catalog/partnersecret/add/", {"store_app": app.pk}, follow=True).content.decode()

    assert page.count("<h1") == 1
    assert "<h1>Partner API secret created for cashgiraffe</h1>" in page
    breadcrumbs = page[page.index('<div class="breadcrumbs">') :].split("</div>")[0]
    assert 'href="/admin/catalog/partnersecret/"' in breadcrumbs


def test_secret_list_identifies_secrets_by_prefix(admin_client):
    partner_secret_for(StoreAppFactory(pid="cashgiraffe"))
    secret = PartnerSecret.objects.get()
    assert secret.prefix in admin_client.get("/admin/catalog/partnersecret/").content.decode()


def test_revoke_action_revokes_selected_secrets(admin_client):
    app = StoreAppFactory()
    partner_secret_for(app)
    secret = PartnerSecret.objects.get()

    admin_client.post(
        "/admin/catalog/partnersecret/", {"action": "revoke", "_selected_action": [secret.pk]}, follow=True
    )

    secret.refresh_from_db()
    assert secret.revoked_at is not None and secret.revoked_by.username == "root"


def test_secrets_cannot_be_deleted(admin_client):
    partner_secret_for(StoreAppFactory())
    secret = PartnerSecret.objects.get()
    assert admin_client.post(f"/admin/catalog/partnersecret/{secret.pk}/delete/", {"post": "yes"}).status_code == 403
