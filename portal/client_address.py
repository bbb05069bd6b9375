"""Which address a request came from: the one rule every throttle, log and audit record uses.

Why one rule: `X-Forwarded-For` is a header anyone can send. Trusted blindly (as DRF's
`get_ident` does when NUM_PROXIES is unset) a stranger picks a fresh address per request and
never meets a limit; ignored behind a reverse proxy, every client shares the proxy's address and
one guesser locks out everyone. So the header is read only when the direct peer (REMOTE_ADDR) is
one of the proxies listed in LATCHKEY_TRUSTED_PROXIES, and then from the right: the rightmost
address no trusted proxy owns is the client (addresses further left were written by the client
itself and prove nothing).

Django-free on purpose: gunicorn's access logger (portal.access_log) imports it in the master
process, before any Django setting exists.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(items: Iterable[str], *, name: str = "LATCHKEY_TRUSTED_PROXIES") -> tuple:
    """'10.0.0.1', '172.16.0.0/12', '::1' -> networks; a bad entry raises ValueError naming it."""
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{name}: {item!r} is not an IP address or network (e.g. 10.0.0.1, 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def _address(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:10.0.0.1 is 10.0.0.1
    return mapped or address


def _trusted(address, networks: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_address(
    *, remote_addr: str | None, forwarded_for: str | None, trusted: Sequence[Network]
) -> str:
    """The client's address for a request whose peer is `remote_addr`.

    Without trusted proxies (the default), or when the peer is not one of them, the peer's own
    address: a client's X-Forwarded-For is ignored. Behind a trusted proxy, walk
    X-Forwarded-For from the right past every trusted hop; the first other entry is the client.
    An entry that is not an address there means a proxy we trust did not write it: fall back
    to the peer rather than believe it.
    """
    peer = (remote_addr or "").strip()
    peer_address = _address(peer)
    if not trusted or peer_address is None or not _trusted(peer_address, trusted):
        return peer or "unknown"
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return peer
        if not _trusted(address, trusted):
            return str(address)
    return str(_address(hops[0])) if hops else peer
