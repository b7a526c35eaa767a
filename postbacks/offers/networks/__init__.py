"""The registry of offer networks: every module in this package that defines `NETWORK` is one.
Adding a network is adding one file."""

import importlib
import pkgutil

from postbacks.offers.networks.base import OfferNetwork


def _discover() -> dict[str, OfferNetwork]:
    networks = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        network = getattr(module, "NETWORK", None)
        if network is not None:
            networks[network.name] = network
    return networks


NETWORKS: dict[str, OfferNetwork] = _discover()


def get_network(name: str) -> OfferNetwork:
    return NETWORKS[name]


def provider_choices() -> list[tuple[str, str]]:
    return [(network.name, network.label) for network in NETWORKS.values()]
