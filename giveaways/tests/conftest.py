import pytest

from giveaways import services


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    """Reward images are written under a temporary MEDIA_ROOT, never into the checkout."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    """Each test starts as a new process would: knowing no participant (services._known_participants)."""
    monkeypatch.setattr(services, "_known_participants", {})
