"""No secret reaches the logs. The whole suite is watched by the session fixture `secret_log_detector`
(root conftest.py); these tests prove the detector works and look at the riskiest records directly."""

import logging

import pytest
from cryptography.fernet import Fernet

from catalog.services import issue_partner_secret
from catalog.tests.factories import RewardGameFactory, StoreAppFactory
from giveaways.services import create_project
from ledger.services import register_app_user
from ledger.tests.factories import RewardUserFactory
from postbacks.tests.offer_factories import USER_ID, integration, wannads_path
from rewardhub import crypto
from rewardhub.testing import Client, SecretLogDetector

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_detector_catches_a_logged_secret_and_names_it_by_its_prefix_only():
    detector = SecretLogDetector()
    detector.add_secret("rh_this-is-a-partner-secret")
    logger = logging.getLogger("rewardhub.tests.leaky")
    logger.addHandler(detector)
    try:
        logger.warning("calling partner with %s", "rh_this-is-a-partner-secret")
        logger.warning("nothing to see here")
    finally:
        logger.removeHandler(detector)

    assert detector.leaks() == ["rh_thi… in a record of 'rewardhub.tests.leaky'"]


def test_the_detector_catches_a_secret_inside_a_logged_traceback():
    detector = SecretLogDetector()
    detector.add_secret("network-secret-value")
    logger = logging.getLogger("rewardhub.tests.leaky")
    logger.addHandler(detector)
    try:
        try:
            raise ValueError("bad key network-secret-value")
        except ValueError:
            logger.exception("callback failed")
    finally:
        logger.removeHandler(detector)

    assert len(detector.leaks()) == 1


def test_the_suite_watches_every_kind_of_secret_the_code_issues(secret_log_detector, settings):
    app = StoreAppFactory(pid="cashgiraffe")
    fernet_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [fernet_key]
    crypto._fernet.cache_clear()
    try:
        partner_secret = issue_partner_secret(store_app=app)[1]
        app_token = register_app_user(pid="cashgiraffe", device_id="device-1").token
        api_key = create_project(name="Host").api_key
        integration(app, "wannads", "wn-slug", "a-network-secret")
    finally:
        crypto._fernet.cache_clear()

    watched = secret_log_detector.secrets
    assert {partner_secret, app_token, api_key, "a-network-secret", fernet_key, settings.SECRET_KEY} <= watched


def test_refused_callbacks_are_logged_by_path_without_the_signed_query(caplog):
    app = StoreAppFactory(pid="cashgiraffe")
    RewardUserFactory(id=USER_ID, store_app=app)
    integration(app, "wannads", "wn-slug", "a-network-secret")
    tampered = wannads_path("wn-slug").replace("reward=100", "reward=999")

    with caplog.at_level(logging.DEBUG):
        response = Client().get(tampered)

    assert response.status_code == 403
    request_logs = [r.getMessage() for r in caplog.records if r.name == "django.request"]
    assert request_logs == ["Forbidden: /api/callbacks/wn-slug"]


def test_a_refused_partner_secret_is_not_logged(caplog):
    RewardGameFactory(gid="my_game")
    user = RewardUserFactory(store_app=StoreAppFactory(pid="cashgiraffe"))
    other_secret = issue_partner_secret(store_app=StoreAppFactory(pid="other"))[1]

    with caplog.at_level(logging.DEBUG):
        response = Client().post(
            "/api/postback",
            {"pid": "cashgiraffe", "uid": str(user.id), "gid": "my_game", "level_number": 5},
            content_type="application/json",
            headers={"Authorization": f"Bearer {other_secret}"},
        )

    assert response.status_code == 401
    assert "Unauthorized: /api/postback" in caplog.messages
    assert not any(other_secret in text for text in [caplog.text, *caplog.messages])
