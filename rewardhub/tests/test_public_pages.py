"""What a visitor sees when something is missing, breaks or is locked: our own pages, readable on a phone."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db

MOBILE_VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'


@pytest.fixture(autouse=True)
def production_errors(settings):
    settings.DEBUG = False  # the pages visitors get; DEBUG shows Django's technical pages instead


def test_a_missing_page_is_our_404_with_a_way_back():
    response = Client().get("/g/no-such-giveaway")

    page = response.content.decode()
    assert response.status_code == 404
    assert MOBILE_VIEWPORT in page
    assert "This page does not exist" in page
    assert "Go back" in page


def test_staff_on_a_missing_page_get_a_link_to_the_console(admin_user):
    client = Client()
    client.force_login(admin_user)

    assert 'href="/admin/"' in client.get("/nowhere").content.decode()


def test_a_server_error_is_our_500_page():
    response = server_error(RequestFactory().get("/g/anything"))  # Django's handler500, as a crash calls it

    page = response.content.decode()
    assert response.status_code == 500
    assert MOBILE_VIEWPORT in page
    assert "Something went wrong on our side" in page


def test_the_lockout_page_says_how_long_it_lasts():
    get_user_model().objects.create_superuser("operator", "op@example.com", "correct horse battery")
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "operator", "password": f"guess-{n}"}, REMOTE_ADDR="198.51.100.9")

    response = client.post(
        "/admin/login/", {"username": "operator", "password": "correct horse battery"}, REMOTE_ADDR="198.51.100.9"
    )

    page = response.content.decode()
    assert response.status_code == 429
    assert MOBILE_VIEWPORT in page
    assert "Sign-in is paused for 1\xa0hour" in page
    assert 'href="/admin/login/"' in page
