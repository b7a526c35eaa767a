"""Wannads does not sign `status`: a captured credit replays as a reversal. Such an integration must accept
callbacks only from the network's addresses in production: `check --deploy` fails without an allowlist, the
admin refuses to save one and shows the risk."""

import pytest
from django.urls import reverse

from catalog.tests.factories import StoreAppFactory
from postbacks.models import OfferwallIntegration
from postbacks.tests.offer_factories import BITLABS_SECRET, WANNADS_SECRET, integration
from rewardhub.soak.server import database_url
from rewardhub.tests.test_deploy_settings import deploy_check


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.mark.django_db(transaction=True)
def test_check_deploy_fails_for_a_wannads_integration_without_an_allowlist(app):
    open_one = integration(app, "wannads", "wn-open", WANNADS_SECRET)
    integration(app, "wannads", "wn-guarded", WANNADS_SECRET, ip_allowlist="203.0.113.7")
    integration(app, "bitlabs", "bl-open", BITLABS_SECRET)  # signs every parameter: no allowlist needed

    result = deploy_check(DATABASE_URL=database_url())

    assert result.returncode != 0
    assert result.stderr.count("postbacks.E001") == 1
    assert f"(id {open_one.pk})" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_check_deploy_passes_once_the_allowlist_is_set(app):
    integration(app, "wannads", "wn-guarded", WANNADS_SECRET, ip_allowlist="203.0.113.7")

    result = deploy_check(DATABASE_URL=database_url())

    assert result.returncode == 0, result.stderr


def new_integration(provider: str, allowlist: str, app) -> dict:
    return {
        "name": "New",
        "provider": provider,
        "store_app": app.pk,
        "secret": "s3cret",
        "ip_allowlist": allowlist,
        "coin_rate": "1",
    }


@pytest.mark.django_db
def test_the_admin_refuses_a_wannads_integration_without_an_allowlist(admin_client, app):
    response = admin_client.post(
        reverse("admin:postbacks_offerwallintegration_add"), new_integration("wannads", "", app)
    )

    assert response.status_code == 200
    assert "does not sign status" in response.content.decode()
    assert not OfferwallIntegration.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("provider", "allowlist"), [("wannads", "203.0.113.0/24"), ("bitlabs", "")])
def test_the_admin_saves_an_integration_whose_signature_or_allowlist_guards_it(admin_client, app, provider, allowlist):
    response = admin_client.post(
        reverse("admin:postbacks_offerwallintegration_add"), new_integration(provider, allowlist, app)
    )

    assert response.status_code == 302
    assert OfferwallIntegration.objects.get().provider == provider


@pytest.mark.django_db
def test_local_trials_may_run_without_an_allowlist(admin_client, app, settings):
    settings.DEBUG = True

    admin_client.post(reverse("admin:postbacks_offerwallintegration_add"), new_integration("wannads", "", app))

    assert OfferwallIntegration.objects.exists()


@pytest.mark.django_db
def test_the_integration_page_and_list_show_the_replay_risk(admin_client, app):
    wannads = integration(app, "wannads", "wn-open", WANNADS_SECRET)

    page = admin_client.get(reverse("admin:postbacks_offerwallintegration_change", args=[wannads.pk])).content.decode()
    listing = admin_client.get(reverse("admin:postbacks_offerwallintegration_changelist")).content.decode()

    assert "The signature covers user_id, transaction_id and reward" in page
    assert "does not sign status" in page and "An IP allowlist is required in production." in page
    assert "OPEN: needs an IP allowlist" in listing
