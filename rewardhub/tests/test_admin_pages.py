import json

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(capsys):
    call_command("seed_demo", "--json")  # something to list on every page
    demo = json.loads(capsys.readouterr().out)
    client = Client()
    client.force_login(get_user_model().objects.get(username=demo["admin"]["username"]))
    return client


def registered_models():
    return [model for model in admin.site._registry if model is not get_user_model()]


@pytest.mark.parametrize("model", registered_models(), ids=lambda model: model._meta.label)
def test_every_admin_list_and_detail_page_renders(admin_client, model):
    opts = model._meta
    changelist = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert changelist.status_code == 200
    first = model._default_manager.first()
    if first is not None:
        detail = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk])
        assert admin_client.get(detail).status_code == 200


def test_the_console_offers_no_view_site_link_to_a_missing_home_page(admin_client):
    page = admin_client.get("/admin/").content.decode()

    assert "View site" not in page
    assert Client().get("/").status_code == 404  # there is no public home page to link to
