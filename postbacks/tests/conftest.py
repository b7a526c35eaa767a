import pytest

from postbacks.tests.offer_factories import BASE_URL


@pytest.fixture(autouse=True)
def public_base_url(settings):
    """BitLabs signs the public URL: the tests sign against this one."""
    settings.PUBLIC_BASE_URL = BASE_URL
