import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from ledger.models import AppToken
from ledger.services import issue_app_token
from ledger.tests.factories import RewardUserFactory
from rewardhub.testing import Client as ApiClient

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client():
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client = Client()
    client.force_login(admin)
    return client, admin


def test_operator_revokes_a_token_and_the_app_gets_401(admin_client):
    client, admin = admin_client
    token, plain = issue_app_token(user=RewardUserFactory())

    response = client.post("/admin/ledger/apptoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True)

    assert response.status_code == 200
    assert "Revoked 1 app token(s)." in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == admin
    assert ApiClient().get("/api/app/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 401


def test_revoking_again_changes_nothing(admin_client):
    client, _ = admin_client
    token, _ = issue_app_token(user=RewardUserFactory())
    client.post("/admin/ledger/apptoken/", {"action": "revoke", "_selected_action": [token.pk]})
    first_revoked_at = AppToken.objects.get().revoked_at

    response = client.post("/admin/ledger/apptoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True)

    assert "Revoked 0 app token(s)." in response.content.decode()
    assert AppToken.objects.get().revoked_at == first_revoked_at


def test_token_list_and_user_page_show_prefixes_never_hashes(admin_client):
    client, _ = admin_client
    user = RewardUserFactory()
    token, _ = issue_app_token(user=user)

    for url in ("/admin/ledger/apptoken/", f"/admin/ledger/rewarduser/{user.pk}/change/"):
        page = client.get(url).content.decode()
        assert token.prefix in page
        assert token.token_hash not in page


def test_tokens_cannot_be_added_or_edited_in_the_admin(admin_client):
    client, _ = admin_client
    token, _ = issue_app_token(user=RewardUserFactory())
    assert client.get("/admin/ledger/apptoken/add/").status_code == 403
    assert b'name="prefix"' not in client.get(f"/admin/ledger/apptoken/{token.pk}/change/").content
