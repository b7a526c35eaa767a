"""Client addresses and IP allowlists (addresses and CIDR ranges, one per line or comma-separated): shared plumbing
for the failed-authentication throttle and the offer networks' allowlists, below every app."""

import functools
import ipaddress
import re

from django.core.exceptions import ValidationError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allowlist(text: str) -> list[IPNetwork]:
    """Raises ValueError naming the first entry that is neither an address nor a CIDR range."""
    networks = []
    for entry in re.split(r"[\s,]+", text.strip()):
        if entry:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"'{entry}' is not an IP address or CIDR range.") from None
    return networks


def validate_allowlist(text: str) -> None:
    try:
        parse_allowlist(text)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def ip_allowed(allowlist: str, source_ip: str | None) -> bool:
    """An empty allowlist allows everyone; otherwise the source must be inside one of its entries."""
    networks = _allowed_networks(allowlist)
    if not networks:
        return True
    if source_ip is None:
        return False
    address = ipaddress.ip_address(source_ip)
    return any(address in network for network in networks)


@functools.lru_cache(maxsize=64)  # an operator's saved lists: parsing six entries cost each callback 40 µs
def _allowed_networks(allowlist: str) -> tuple[IPNetwork, ...]:
    return tuple(parse_allowlist(allowlist))


def client_ip(remote_addr: str, forwarded_for: str, trusted_hops: int) -> str | None:
    """The address that reached our outermost trusted proxy. With no trusted proxies it is REMOTE_ADDR;
    with N, each proxy appended the address it saw to X-Forwarded-For, so it is the Nth entry from the
    right (anything further left was written by the client and cannot be trusted)."""
    if trusted_hops <= 0:
        candidate = remote_addr
    else:
        entries = [entry.strip() for entry in forwarded_for.split(",") if entry.strip()]
        if len(entries) < trusted_hops:
            return None
        candidate = entries[-trusted_hops]
    return _normalized_address(candidate)


@functools.lru_cache(maxsize=4096)  # parsing an address cost a hot request more than its whole throttle check
def _normalized_address(candidate: str) -> str | None:
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None
