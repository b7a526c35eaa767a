import pytest

from catalog.tests.factories import RewardGameFactory, StoreAppFactory, partner_secret_for
from ledger.models import LedgerEntry
from ledger.tests.factories import RewardUserFactory
from postbacks.models import UserPostback
from rewardhub.testing import Client, run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def test_simultaneous_identical_postbacks_credit_exactly_once():
    app = StoreAppFactory(pid="cashgiraffe")
    RewardGameFactory(gid="my_game")
    user = RewardUserFactory(store_app=app)
    secret = partner_secret_for(app)
    body = {"pid": "cashgiraffe", "uid": str(user.id), "gid": "my_game", "level_number": 10}

    def send():
        response = Client().post(
            "/api/postback", body, content_type="application/json", headers={"Authorization": f"Bearer {secret}"}
        )
        return response.status_code, response.json()

    results = run_concurrently([send] * 60)

    assert all(status == 200 for status, _ in results), results
    credited = [body for _, body in results if body.get("awarded")]
    duplicates = [body for _, body in results if body.get("duplicate")]
    assert (len(credited), len(duplicates)) == (1, 59)
    user.refresh_from_db()
    assert user.coins == 25
    assert LedgerEntry.objects.count() == 1
    assert UserPostback.objects.count() == 1
