import pytest


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    """Reward images are written under a temporary MEDIA_ROOT, never into the checkout."""
    settings.MEDIA_ROOT = tmp_path / "media"
