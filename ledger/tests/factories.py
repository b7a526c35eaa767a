import factory

from catalog.tests.factories import StoreAppFactory
from ledger.models import RewardUser


class RewardUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RewardUser

    store_app = factory.SubFactory(StoreAppFactory)
    device_id = factory.Sequence(lambda n: f"device-{n}")
