"""The admin login is protected against brute force (django-axes): lockouts refuse even the right password."""

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

ATTACKER = "198.51.100.7"


@pytest.fixture
def operator():
    return get_user_model().objects.create_superuser("operator", "op@example.com", "correct horse battery")


def login(password, username="operator", ip=ATTACKER, client=None):
    return (client or Client()).post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def fail_until_locked_out(username="operator"):
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(f"guess-{n}", username=username)


def test_the_right_password_logs_in(operator):
    response = login("correct horse battery")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_a_locked_out_ip_is_refused_even_with_the_right_password(operator):
    fail_until_locked_out()
    client = Client()

    response = login("correct horse battery", client=client)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/", REMOTE_ADDR=ATTACKER).status_code == 302  # still sent to the login page


def test_trying_other_usernames_does_not_escape_the_lockout(operator):
    fail_until_locked_out(username="someone-else")

    assert login("correct horse battery").status_code == 429


def test_other_ips_can_still_log_in(operator):
    fail_until_locked_out()

    assert login("correct horse battery", ip="198.51.100.8").status_code == 302


def test_the_lockout_is_recorded_and_listed_in_the_admin(operator):
    fail_until_locked_out()
    attempt = AccessAttempt.objects.get(ip_address=ATTACKER)
    client = Client()
    client.force_login(operator)

    page = client.get("/admin/axes/accessattempt/").content.decode()

    assert attempt.failures_since_start == settings.AXES_FAILURE_LIMIT
    assert AccessFailureLog.objects.filter(ip_address=ATTACKER, locked_out=True).exists()
    assert ATTACKER in page
