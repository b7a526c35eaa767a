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

    page = admin_client.post("/admin/catalog/partnersecret/add/", {"store_app": app.pk, "label": "studio"})

    plain = re.search(r'value="(rh_[^"]+)"', page.content.decode()).group(1)
    secret = PartnerSecret.objects.get()
    assert secret.secret_hash == hash_secret(plain)
    assert plain.startswith(secret.prefix)
    assert plain not in admin_client.get(f"/admin/catalog/partnersecret/{secret.pk}/change/").content.decode()
    assert plain not in admin_client.get("/admin/catalog/partnersecret/").content.decode()


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
