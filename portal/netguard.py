"""Outgoing HTTP to URLs that users type (iCal feeds, and any later feature): an SSRF guard.

A user who may type a URL must not make the portal talk to its own network: the cloud
metadata service (169.254.169.254), Redis on 127.0.0.1, the bridge LAN, a router page. So:

- only http and https, no credentials in the URL;
- the host is resolved once; every address it resolves to must be public (not private,
  loopback, link-local, multicast, reserved, unspecified, shared address space, nor an
  IPv4-mapped/6to4/Teredo wrapping of one). Numeric tricks (2130706433, 0x7f.1, 0177.0.0.1,
  127.1) are read the way the C library would read them, then checked like any address;
- the connection goes to the very address that was checked (no second DNS lookup that a
  rebinding DNS server could answer differently); TLS still verifies the host name;
- redirects are followed by hand, at most a few, each target checked the same way;
- the body is read up to a size cap and the whole exchange has a deadline; proxies from the
  environment are ignored (they would connect on our behalf, unchecked).

`LATCHKEY_ALLOW_PRIVATE_URLS=true` lifts the address rule (self-hosters whose calendar server
is on their LAN, and tests against loopback servers); the scheme, size and redirect rules stay.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx2
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

SCHEMES = {"http": 80, "https": 443}
REDIRECTS = {301, 302, 303, 307, 308}
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: not the public internet


class UnsafeURL(ValueError):
    """The URL may not be fetched. `permanent`: asking again will not help."""

    permanent = True


class FetchError(Exception):
    """The fetch failed: network, timeout, HTTP status, size. `permanent` when retrying the
    same URL cannot succeed without someone changing something (404, refused address)."""

    def __init__(self, message: str, *, permanent: bool = False, status: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.status = status


@dataclass(frozen=True)
class Target:
    """A URL that passed the checks, with the addresses it may be fetched from."""

    url: str
    scheme: str
    host: str  # as typed (lower-case), for the Host header and TLS
    port: int
    addresses: tuple[IPAddress, ...]


@dataclass
class Response:
    status: int
    headers: httpx2.Headers
    body: bytes
    url: str  # the final URL, after redirects
    peer: str  # the address actually connected to


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def _numeric_host(host: str) -> IPAddress | None:
    """The address a numeric host stands for, including the forms inet_aton accepts
    (decimal 2130706433, hex 0x7f000001, octal 0177.0.0.1, short 127.1)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _unwrap(ip: IPAddress) -> IPAddress:
    """An IPv4 address hidden in an IPv6 one (mapped ::ffff:a.b.c.d, 6to4, Teredo, NAT64
    well-known prefix, the deprecated compatible ::a.b.c.d) is judged as that IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
        if ip in ipaddress.ip_network("64:ff9b::/96"):
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if int(ip) >> 32 == 0 and int(ip) > 1:
            return ipaddress.IPv4Address(int(ip))
    return ip


def is_public(ip: IPAddress) -> bool:
    """True for an address on the public internet."""
    inner = _unwrap(ip)
    for candidate in {ip, inner}:
        if (
            candidate.is_private
            or candidate.is_loopback
            or candidate.is_link_local
            or candidate.is_multicast
            or candidate.is_reserved
            or candidate.is_unspecified
            or (isinstance(candidate, ipaddress.IPv4Address) and candidate in _SHARED)
            or not candidate.is_global
        ):
            return False
    return True


@dataclass(frozen=True)
class Guard:
    """The rules for one fetch. `trusted` networks count as public: only tests use it, to let
    a loopback server stand in for a host on the internet."""

    allow_private: bool = False
    resolver: Resolver = _system_resolver
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default=())
    # TLS verification: True (the system's CAs) or an ssl.SSLContext (tests with their own CA).
    verify: bool | ssl.SSLContext = True

    @classmethod
    def default(cls) -> Guard:
        return cls(allow_private=settings.LATCHKEY_ALLOW_PRIVATE_URLS)

    def address_allowed(self, ip: IPAddress) -> bool:
        if self.allow_private or is_public(ip):
            return True
        return any(ip in net for net in self.trusted)

    def check(self, url: str) -> Target:
        """Check a URL and resolve its host. Raises UnsafeURL with a sentence a user can act on."""
        url = (url or "").strip()
        if len(url) > 2000:
            raise UnsafeURL("The URL is too long.")
        if any(ord(c) < 33 for c in url):
            raise UnsafeURL("The URL must not contain spaces or control characters.")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UnsafeURL(f"The URL is not valid: {exc}.") from None
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise UnsafeURL("Only http:// and https:// URLs can be fetched.")
        if parts.username is not None or parts.password is not None:
            raise UnsafeURL("The URL must not contain a user name or password.")
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise UnsafeURL("The URL has no host name.")
        port = port or SCHEMES[scheme]
        numeric = _numeric_host(host)
        if numeric is not None:
            addresses = [numeric]
        else:
            try:
                host.encode("idna")
                found = self.resolver(host, port)
            except (OSError, UnicodeError) as exc:
                raise UnsafeURL(f"The host {host} could not be found ({exc}).") from None
            addresses = []
            for raw in found:
                try:
                    ip = ipaddress.ip_address(raw.split("%", 1)[0])
                except ValueError:
                    continue
                if ip not in addresses:
                    addresses.append(ip)
            if not addresses:
                raise UnsafeURL(f"The host {host} could not be found.")
        refused = [ip for ip in addresses if not self.address_allowed(ip)]
        if refused:
            raise UnsafeURL(
                f"The host {host} points to a private or local network address ({refused[0]}); "
                "only addresses on the public internet can be fetched."
            )
        return Target(url=url, scheme=scheme, host=host, port=port, addresses=tuple(addresses))


def check_url(url: str, *, guard: Guard | None = None) -> Target:
    """Validate a URL a user typed before storing it (the same rules as at fetch time)."""
    return (guard or Guard.default()).check(url)


def _pinned_url(target: Target, ip: IPAddress) -> str:
    """The URL with its host replaced by the checked address."""
    parts = urlsplit(target.url)
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{literal}:{target.port}"
    path = parts.path or "/"
    return parts._replace(netloc=netloc, path=path, fragment="").geturl()


def _host_header(target: Target) -> str:
    host = target.host if ":" not in target.host else f"[{target.host}]"
    default = SCHEMES[target.scheme]
    return host if target.port == default else f"{host}:{target.port}"


def fetch(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    max_bytes: int = 5_000_000,
    timeout: float = 15.0,
    max_redirects: int = 5,
    guard: Guard | None = None,
) -> Response:
    """GET a user-typed URL under the guard's rules. Raises UnsafeURL or FetchError.

    Any status that is not a redirect is returned (the caller decides what 304 or 404 mean).
    """
    guard = guard or Guard.default()
    deadline = time.monotonic() + timeout
    current = url
    for _hop in range(max_redirects + 1):
        target = guard.check(current)
        # A fresh client per hop: a pooled connection made (and TLS-verified) for one host
        # must not be reused for another host that resolves to the same address.
        verify = _default_tls() if guard.verify is True else guard.verify
        with httpx2.Client(trust_env=False, follow_redirects=False, verify=verify) as client:
            response = _get(client, target, headers or {}, max_bytes, deadline)
        if response.status in REDIRECTS and "location" in response.headers:
            current = urljoin(current, response.headers["location"])
            continue
        return response
    raise FetchError(f"Too many redirects (more than {max_redirects}).", permanent=True)


@functools.cache
def _default_tls() -> ssl.SSLContext:
    """The CA store httpx2 would load (the system's, not certifi's), loaded once per process
    (it costs ~20 ms each time). No environment: the client runs with trust_env=False."""
    return httpx2.create_ssl_context(trust_env=False)


def _get(
    client: httpx2.Client,
    target: Target,
    headers: dict[str, str],
    max_bytes: int,
    deadline: float,
) -> Response:
    last_error: Exception | None = None
    for ip in _ordered(target.addresses):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError("The server took too long to answer.")
        request = client.build_request(
            "GET",
            _pinned_url(target, ip),
            headers={**headers, "Host": _host_header(target)},
            timeout=httpx2.Timeout(remaining),
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        try:
            response = client.send(request, stream=True)
        except httpx2.ConnectError as exc:
            last_error = exc
            continue  # try the host's next checked address
        except httpx2.TimeoutException:
            raise FetchError("The server took too long to answer.") from None
        except httpx2.HTTPError as exc:
            raise FetchError(f"The server could not be reached: {exc}.") from None
        try:
            peer = _peer(response)
            if peer is not None and peer != ip:
                raise UnsafeURL(f"Connected to {peer}, not the checked address {ip}.")
            body = _read_capped(response, max_bytes, deadline)
        finally:
            response.close()
        return Response(
            status=response.status_code,
            headers=response.headers,
            body=body,
            url=target.url,
            peer=str(ip),
        )
    raise FetchError(f"The server could not be reached: {last_error}.")


def _ordered(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    """IPv4 first: many hosts publish AAAA records that this machine cannot route."""
    return sorted(addresses, key=lambda ip: ip.version)


def _peer(response: httpx2.Response) -> IPAddress | None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    addr = stream.get_extra_info("server_addr")
    if not addr:
        return None
    return ipaddress.ip_address(str(addr[0]).split("%", 1)[0])


def _read_capped(response: httpx2.Response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(
            f"The answer is too large ({int(declared):,} bytes; the limit is {max_bytes:,}).",
            permanent=True,
        )
    chunks, size = [], 0
    try:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(
                    f"The answer is too large (more than {max_bytes:,} bytes).", permanent=True
                )
            if time.monotonic() > deadline:
                raise FetchError("The server took too long to answer.")
            chunks.append(chunk)
    except httpx2.TimeoutException:
        raise FetchError("The server took too long to answer.") from None
    except httpx2.HTTPError as exc:
        raise FetchError(f"The answer broke off: {exc}.") from None
    return b"".join(chunks)


# --- Hosts on the tenant's LAN (Nuki bridges) ------------------------------------------------
#
# A bridge lives on the operator's LAN, so private addresses must stay allowed, unlike for
# URLs above. What is refused: loopback (the portal's own machine), link-local (169.254/16,
# the cloud metadata service, fe80::/10), unspecified and "this network" (0.0.0.0/8, which
# Linux connects to locally), multicast, reserved and broadcast, and every address of the
# portal's own database, broker and cache hosts. `LATCHKEY_ALLOW_PRIVATE_URLS=true` (tests,
# the demo's bridge simulator) lets loopback through, but never the own services' ports there.

_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
DEFAULT_PORTS = {"postgres": 5432, "postgresql": 5432, "redis": 6379, "rediss": 6379, "amqp": 5672}


@dataclass(frozen=True)
class ServiceEndpoint:
    what: str  # "database", "broker", "cache"
    host: str
    port: int | None


def own_services() -> list[ServiceEndpoint]:
    """The portal's own database, broker, cache and lock-store hosts, from the settings."""
    found: list[ServiceEndpoint] = []
    db = settings.DATABASES.get("default", {})
    if db.get("HOST") and "sqlite" not in db.get("ENGINE", ""):
        found.append(ServiceEndpoint("database", str(db["HOST"]), int(db.get("PORT") or 5432)))
    urls = [("broker", getattr(settings, "CELERY_BROKER_URL", "") or "")]
    location = settings.CACHES.get("default", {}).get("LOCATION", "")
    for item in location if isinstance(location, list | tuple) else [location]:
        urls.append(("cache", str(item or "")))
    urls.append(("cache", getattr(settings, "LATCHKEY_LOCK_REDIS_URL", "") or ""))
    for what, url in urls:
        if "://" not in url:
            continue
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            continue
        if parts.hostname:
            found.append(
                ServiceEndpoint(what, parts.hostname, port or DEFAULT_PORTS.get(parts.scheme))
            )
    return found


def _resolve(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    numeric = _numeric_host(host)
    if numeric is not None:
        return [numeric]
    host.encode("idna")  # UnicodeError for names no resolver could look up
    out: list[IPAddress] = []
    for raw in resolver(host, port):
        try:
            ip = ipaddress.ip_address(raw.split("%", 1)[0])
        except ValueError:
            continue
        if ip not in out:
            out.append(ip)
    return out


def _lan_refusal(ip: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why a LAN host may not be this address, or None when it may. An IPv4 address wrapped
    in IPv6 (::ffff:a.b.c.d and the like) is judged as that IPv4 address only."""
    for candidate in [_unwrap(ip)]:
        if candidate.is_link_local:
            return "a link-local address (such as the cloud metadata service)"
        if candidate.is_multicast:
            return "a multicast address"
        if candidate.is_unspecified or (
            isinstance(candidate, ipaddress.IPv4Address) and candidate in _THIS_NETWORK
        ):
            return "an unspecified address"
        if candidate.is_loopback:
            if not allow_loopback:
                return "this server itself (loopback)"
        elif candidate.is_reserved:
            return "a reserved address"
    return None


def check_lan_host(
    host: str,
    port: int,
    *,
    resolver: Resolver | None = None,
    allow_loopback: bool | None = None,
    services: list[ServiceEndpoint] | None = None,
) -> tuple[IPAddress, ...]:
    """Check a host a tenant typed for a device on their LAN; returns the checked addresses
    (connect to one of these, not to the name again). Raises UnsafeURL with a sentence for
    the form. Called when the bridge is saved and again before every connection."""
    resolver = resolver or _system_resolver
    if allow_loopback is None:
        allow_loopback = settings.LATCHKEY_ALLOW_PRIVATE_URLS
    name = (host or "").strip().strip("[]").rstrip(".").lower()
    if not name:
        raise UnsafeURL("Give the bridge's IP address or host name.")
    try:
        addresses = _resolve(name, port, resolver)
    except (OSError, UnicodeError):
        raise UnsafeURL(f"The host {name} could not be found.") from None
    if not addresses:
        raise UnsafeURL(f"The host {name} could not be found.")
    for ip in addresses:
        why = _lan_refusal(ip, allow_loopback=allow_loopback)
        if why is not None:
            raise UnsafeURL(f"The address {name} points to {why}; give the bridge's LAN address.")
    for service in own_services() if services is None else services:
        try:
            theirs = set(_resolve(service.host.strip("[]"), service.port or 0, resolver))
        except (OSError, UnicodeError):
            continue
        theirs |= {_unwrap(ip) for ip in theirs}
        for ip in addresses:
            if ip not in theirs and _unwrap(ip) not in theirs:
                continue
            # Loopback let through for tests: only the service's own port stays closed.
            whole_host = not (allow_loopback and _unwrap(ip).is_loopback)
            if whole_host or service.port is None or service.port == port:
                raise UnsafeURL(
                    f"The address {name} is the portal's own {service.what} server; give the "
                    "bridge's LAN address."
                )
    return tuple(addresses)
