"""`manage.py rotate_encryption_key`: every encrypted column moves to the new key; the old one can then go."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection

from catalog.tests.factories import StoreAppFactory
from giveaways.models import Giveaway, GiveawayProject
from giveaways.tests.factories import GiveawayFactory, GiveawayProjectFactory
from postbacks.models import OfferwallIntegration
from postbacks.tests.offer_factories import integration
from rewardhub import crypto

pytestmark = pytest.mark.django_db

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


@pytest.fixture
def use_keys(settings):
    """Switch FIELD_ENCRYPTION_KEYS; the MultiFernet is cached per process, so it is rebuilt each time."""

    def use(*keys):
        settings.FIELD_ENCRYPTION_KEYS = list(keys)
        crypto._fernet.cache_clear()

    yield use
    crypto._fernet.cache_clear()


def stored_token(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608  (test constants)
        return cursor.fetchone()[0]


@pytest.fixture
def encrypted_under_a(use_keys):
    use_keys(KEY_A)
    giveaway = GiveawayFactory(project=GiveawayProjectFactory(api_key="K" * 64))
    network = integration(StoreAppFactory(), "wannads", "wn-slug", "the-network-secret")
    return giveaway, network


def rotate() -> str:
    out = StringIO()
    call_command("rotate_encryption_key", stdout=out)
    return out.getvalue()


def test_values_stay_readable_with_only_the_new_key_after_rotation(encrypted_under_a, use_keys):
    giveaway, network = encrypted_under_a
    seed = Giveaway.objects.get(pk=giveaway.pk).server_seed

    use_keys(KEY_B, KEY_A)
    rotate()
    use_keys(KEY_B)

    assert GiveawayProject.objects.get(pk=giveaway.project_id).api_key == "K" * 64
    assert OfferwallIntegration.objects.get(pk=network.pk).secret == "the-network-secret"
    assert Giveaway.objects.get(pk=giveaway.pk).server_seed == seed


def test_the_stored_tokens_decrypt_with_the_new_key_alone(encrypted_under_a, use_keys):
    _, network = encrypted_under_a
    table = OfferwallIntegration._meta.db_table

    use_keys(KEY_B, KEY_A)
    rotate()

    assert Fernet(KEY_B).decrypt(stored_token(table, "secret", network.pk).encode()) == b"the-network-secret"


def test_rotation_prints_a_count_per_encrypted_column(encrypted_under_a, use_keys):
    use_keys(KEY_B, KEY_A)

    out = rotate()

    assert "giveaways.GiveawayProject.api_key: 1 re-encrypted" in out
    assert "giveaways.Giveaway.server_seed: 1 re-encrypted" in out
    assert "postbacks.OfferwallIntegration.secret: 1 re-encrypted" in out
    assert "3 values now encrypted under the first key." in out


def test_without_rotation_the_old_values_are_unreadable_once_the_old_key_is_gone(encrypted_under_a, use_keys):
    """What the command is for: dropping key A before rotating would lose every secret."""
    _, network = encrypted_under_a
    use_keys(KEY_B)

    with pytest.raises(InvalidToken):
        OfferwallIntegration.objects.get(pk=network.pk)


def test_a_value_no_key_can_read_stops_the_rotation_and_rolls_back_what_it_did(encrypted_under_a, use_keys):
    _, readable = encrypted_under_a
    use_keys(Fernet.generate_key().decode())  # a key nobody kept
    integration(readable.store_app, "wannads", "wn-lost", "lost-secret")  # the row after `readable`
    table = OfferwallIntegration._meta.db_table
    before = stored_token(table, "secret", readable.pk)
    use_keys(KEY_B, KEY_A)

    with pytest.raises(CommandError, match="cannot be decrypted"):
        rotate()

    assert stored_token(table, "secret", readable.pk) == before


def test_rotation_needs_configured_keys(use_keys):
    use_keys()

    with pytest.raises(CommandError, match="FIELD_ENCRYPTION_KEYS is not set"):
        rotate()
