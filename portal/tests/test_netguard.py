"""The SSRF guard for user-typed URLs, with private addresses refused (the production default).

Only loopback servers run here. Where a test needs "a host on the internet", a loopback address
is declared trusted through Guard(trusted=...) and named hosts are answered by an injected
resolver: the public internet and its DNS cannot be part of a test.
"""

import ipaddress

import pytest

from portal import netguard
from portal.netguard import FetchError, Guard, UnsafeURL
from portal.tests.local_http import Answer, LocalServer

LOOPBACK_AS_INTERNET = (ipaddress.ip_network("127.0.0.1/32"),)


def strict(**kw) -> Guard:
    return Guard(allow_private=False, **kw)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/feed.ics",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "webcal://example.com/feed.ics",
        "//example.com/feed.ics",
        "https://user:secret@example.com/feed.ics",
        "https:///feed.ics",
        "http://exa mple.com/",
        "http://example.com:99999/",
    ],
)
def test_refuses_other_schemes_credentials_and_malformed_urls(url):
    with pytest.raises(UnsafeURL):
        strict(resolver=lambda host, port: ["93.184.216.34"]).check(url)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.10",  # documentation range
        "[::1]",
        "[::]",
        "[fe80::1]",
        "[fc00::1]",
        "[fd12:3456::1]",
        "[ff02::1]",
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[::ffff:a9fe:a9fe]",  # mapped 169.254.169.254, hex spelling
        "[::127.0.0.1]",  # IPv4-compatible (deprecated)
        "[2002:7f00:1::1]",  # 6to4 around 127.0.0.1
        "[64:ff9b::a00:1]",  # NAT64 around 10.0.0.1
        "2130706433",  # decimal 127.0.0.1
        "0x7f000001",  # hex
        "0177.0.0.1",  # octal
        "127.1",  # short form
        "0x7f.1",
        "017700000001",  # octal, whole
        "0",
        "localhost",  # resolved by the system (hosts file) to loopback
    ],
)
def test_refuses_private_loopback_and_special_targets(host):
    with pytest.raises(UnsafeURL, match="private or local"):
        strict().check(f"http://{host}/feed.ics")


def test_accepts_public_addresses_and_keeps_what_was_checked():
    guard = strict(resolver=lambda host, port: ["93.184.216.34", "2606:2800:220:1::1"])
    target = guard.check("https://Calendar.Example.com./export.ics?s=abc")
    assert target.host == "calendar.example.com"
    assert target.port == 443
    assert [str(ip) for ip in target.addresses] == ["93.184.216.34", "2606:2800:220:1::1"]
    assert strict().check("http://8.8.8.8/x").addresses == (ipaddress.ip_address("8.8.8.8"),)


def test_a_host_with_one_private_address_among_public_ones_is_refused():
    guard = strict(resolver=lambda host, port: ["93.184.216.34", "10.1.2.3"])
    with pytest.raises(UnsafeURL, match=r"10\.1\.2\.3"):
        guard.check("https://mixed.example/feed.ics")


def test_an_unknown_host_is_refused_with_a_clear_message():
    def fail(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(UnsafeURL, match="could not be found"):
        strict(resolver=fail).check("https://nowhere.example/feed.ics")


def test_default_guard_follows_the_setting(settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = False
    with pytest.raises(UnsafeURL):
        netguard.check_url("http://127.0.0.1/feed.ics")
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True
    assert netguard.check_url("http://127.0.0.1/feed.ics").port == 80
    with pytest.raises(UnsafeURL):  # the scheme rule holds even then
        netguard.check_url("file:///etc/passwd")


def test_loopback_server_is_never_contacted_when_private_urls_are_refused(settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = False
    with LocalServer() as server:
        server.answers["/feed.ics"] = Answer(body=b"BEGIN:VCALENDAR")
        for url in (server.url("/feed.ics"), server.url("/feed.ics", host="localhost")):
            with pytest.raises(UnsafeURL):
                netguard.fetch(url)
        assert server.requests == []


def test_allowed_private_fetch_reads_the_body(settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True
    with LocalServer() as server:
        server.answers["/feed.ics"] = Answer(body=b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
        response = netguard.fetch(server.url("/feed.ics"))
    assert response.status == 200
    assert response.body.startswith(b"BEGIN:VCALENDAR")
    assert response.peer == "127.0.0.1"


def test_connects_to_the_checked_address_not_a_second_lookup():
    """DNS rebinding: the first answer is harmless, every later one points inside. The guard
    resolves once and connects to the address it checked, sending the name as Host."""
    answers = iter([["127.0.0.1"]])
    calls = []

    def rebinding(host, port):
        calls.append(host)
        return next(answers, ["10.0.0.1"])

    with LocalServer() as server:
        server.answers["/feed.ics"] = Answer(body=b"hello")
        guard = strict(resolver=rebinding, trusted=LOOPBACK_AS_INTERNET)
        response = netguard.fetch(f"http://calendar.example:{server.port}/feed.ics", guard=guard)
    assert response.body == b"hello"
    assert calls == ["calendar.example"]
    assert response.peer == "127.0.0.1"
    assert server.requests[0].headers["host"] == f"calendar.example:{server.port}"


def test_redirect_to_a_private_target_is_refused_before_connecting():
    with LocalServer() as public, LocalServer(host="127.0.0.2") as inside:
        inside.answers["/secret"] = Answer(body=b"internal")
        public.answers["/a"] = Answer(status=302, headers={"Location": inside.url("/secret")})
        public.answers["/b"] = Answer(status=301, headers={"Location": "http://169.254.169.254/"})
        public.answers["/c"] = Answer(status=307, headers={"Location": "http://[::1]/"})
        guard = strict(trusted=LOOPBACK_AS_INTERNET)
        for path in ("/a", "/b", "/c"):
            with pytest.raises(UnsafeURL, match="private or local"):
                netguard.fetch(public.url(path), guard=guard)
        assert inside.requests == []
        assert [r.path for r in public.requests] == ["/a", "/b", "/c"]


def test_redirects_are_followed_by_hand_with_a_limit():
    with LocalServer() as server:
        server.answers["/old"] = Answer(status=301, headers={"Location": "/new?x=1"})
        server.answers["/new"] = Answer(body=b"moved here")
        server.answers["/loop"] = Answer(status=302, headers={"Location": "/loop"})
        guard = strict(trusted=LOOPBACK_AS_INTERNET)
        response = netguard.fetch(server.url("/old"), guard=guard)
        assert response.body == b"moved here"
        assert response.url == server.url("/new?x=1")
        with pytest.raises(FetchError, match="Too many redirects") as err:
            netguard.fetch(server.url("/loop"), guard=guard, max_redirects=3)
        assert err.value.permanent
        assert sum(r.path == "/loop" for r in server.requests) == 4


@pytest.mark.parametrize("chunked", [False, True])
def test_answers_above_the_size_cap_are_refused(chunked):
    with LocalServer() as server:
        server.answers["/big"] = Answer(body=b"x" * 300_000, chunked=chunked)
        with pytest.raises(FetchError, match="too large"):
            netguard.fetch(
                server.url("/big"), guard=strict(trusted=LOOPBACK_AS_INTERNET), max_bytes=100_000
            )


def test_a_slow_server_times_out():
    with LocalServer() as server:
        server.answers["/slow"] = Answer(body=b"late", delay=3)
        with pytest.raises(FetchError, match="too long"):
            netguard.fetch(
                server.url("/slow"), guard=strict(trusted=LOOPBACK_AS_INTERNET), timeout=0.5
            )


def test_proxy_variables_are_ignored(monkeypatch):
    """A proxy would connect on our behalf to an address we never checked."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    with LocalServer() as server:
        server.answers["/feed.ics"] = Answer(body=b"direct")
        response = netguard.fetch(
            server.url("/feed.ics"), guard=strict(trusted=LOOPBACK_AS_INTERNET)
        )
    assert response.body == b"direct"


def test_https_goes_to_the_checked_address_and_still_verifies_the_host_name():
    """The connection is pinned to the checked IP, yet TLS checks the certificate against the
    name in the URL (SNI), with a test CA standing in for the public ones."""
    import ssl

    import trustme

    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("calendar.example").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    with LocalServer(tls=server_tls) as server:
        server.answers["/feed.ics"] = Answer(body=b"over tls")
        guard = strict(
            resolver=lambda host, port: ["127.0.0.1"],
            trusted=LOOPBACK_AS_INTERNET,
            verify=client_tls,
        )
        response = netguard.fetch(f"https://calendar.example:{server.port}/feed.ics", guard=guard)
        assert response.body == b"over tls"
        assert server.requests[0].headers["host"] == f"calendar.example:{server.port}"
        # The same server under another name: the certificate does not match, refused.
        with pytest.raises(FetchError):
            netguard.fetch(f"https://other.example:{server.port}/feed.ics", guard=guard)
        assert len(server.requests) == 1
