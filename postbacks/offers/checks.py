"""Deployment checks for offer networks, run by `manage.py check --deploy`."""

from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError, connection

from postbacks.models import OfferwallIntegration
from postbacks.offers.networks import NETWORKS


def unguarded_integrations() -> list[OfferwallIntegration]:
    """Integrations of networks whose unsigned parameters move coins (Wannads' `status`) that accept callbacks
    from any address: whoever saw one callback (a proxy log, the delivery log) can replay it with another value."""
    providers = [name for name, network in NETWORKS.items() if network.needs_ip_allowlist]
    # Without the secret: nothing here needs it decrypted.
    integrations = OfferwallIntegration.objects.filter(provider__in=providers).only("name", "provider", "ip_allowlist")
    return [integration for integration in integrations if not integration.ip_allowlist.strip()]


@register(Tags.security, deploy=True)
def offer_ip_allowlist_check(app_configs, **kwargs):
    try:
        if "offerwall_integrations" not in connection.introspection.table_names():
            return []  # not migrated yet: no integration exists
        unguarded = unguarded_integrations()
    except DatabaseError as error:
        return [Warning(f"Offerwall integrations could not be checked: {error}", id="postbacks.W001")]
    return [
        Error(
            f"Offerwall integration '{integration.name}' (id {integration.pk}) has no IP allowlist, and "
            f"{integration.get_provider_display()} does not sign "
            f"{', '.join(NETWORKS[integration.provider].unsigned_coin_parameters)}: a captured callback can be "
            "replayed with another value (a credit turned into a reversal).",
            hint="Set the integration's IP allowlist to the network's server addresses in the admin.",
            obj=integration,
            id="postbacks.E001",
        )
        for integration in unguarded
    ]
