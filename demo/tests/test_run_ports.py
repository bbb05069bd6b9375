"""`make run` starts beside another `make run` or whatever holds 8090: the stand-ins' ports are
derived from PORT or free, and a port that must be one number and is taken stops the run with
a message naming the variable to set (demo/ports.py, demo/run_env.py)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest

from demo import credentials
from demo.ports import PortClash, any_free_port, choose_ports, is_free
from demo.run_env import main, run_env

NUKIWEB = "LATCHKEY_DEMO_NUKIWEB_PORT"


@contextlib.contextmanager
def listening(port: int) -> Iterator[socket.socket]:
    """A server on 127.0.0.1:port for the test's duration (as a stand-in of another run)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # As the servers bind (and as is_free asks): a port left in TIME_WAIT by the suite's own
    # loopback connections is free, not "Address already in use".
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    try:
        yield sock
    finally:
        sock.close()


def web_port_with_free_neighbour() -> int:
    """A free port W whose W + 90 is free too (the derived stand-in port)."""
    for _ in range(50):
        port = any_free_port()
        if port + 90 < 65536 and is_free(port + 90):
            return port
    raise AssertionError("no free pair of ports")


@contextlib.contextmanager
def taken_8090() -> Iterator[None]:
    """8090 held for the test: by us, or already by someone else (a real clash either way)."""
    try:
        with listening(8090):
            yield
    except OSError:
        assert not is_free(8090)
        yield


def test_the_stand_in_port_follows_port() -> None:
    web = web_port_with_free_neighbour()
    assert choose_ports(web, {}) == {NUKIWEB: web + 90}


def test_a_taken_8090_does_not_stop_the_default_run() -> None:
    """The reported failure: PORT=8731 make run while 8090 was held by another program."""
    with taken_8090():
        # PORT=8000 counts as free whoever holds it here; 8090 is checked for real.
        chosen = choose_ports(8000, {}, free=lambda p: p == 8000 or is_free(p))[NUKIWEB]
        assert chosen != 8090 and is_free(chosen)


def test_a_taken_derived_port_is_replaced_by_a_free_one() -> None:
    web = web_port_with_free_neighbour()
    with listening(web + 90):
        chosen = choose_ports(web, {})[NUKIWEB]
    assert chosen not in (web, web + 90)


def test_two_runs_side_by_side_get_different_ports() -> None:
    first = web_port_with_free_neighbour()
    ours = choose_ports(first, {})[NUKIWEB]
    with listening(first), listening(ours) as stand_in:
        second = web_port_with_free_neighbour()
        theirs = choose_ports(second, {})[NUKIWEB]
        assert theirs != stand_in.getsockname()[1] and theirs not in (first, second)


def test_a_taken_port_that_was_set_names_its_variable(tmp_path, capsys) -> None:
    web = web_port_with_free_neighbour()
    with taken_8090():
        status = main([str(web)], {NUKIWEB: "8090"}, var_dir=tmp_path)
    message = capsys.readouterr().err
    assert status == 2
    assert NUKIWEB in message and "8090" in message and "Traceback" not in message


def test_a_taken_web_port_names_port(tmp_path, capsys) -> None:
    web = any_free_port()
    with listening(web):
        assert main([str(web)], {}, var_dir=tmp_path) == 2
    message = capsys.readouterr().err
    assert f"Port {web} is taken (PORT)" in message and f"PORT={web + 1} make run" in message


def test_garbage_in_a_port_variable_is_named() -> None:
    with pytest.raises(PortClash, match=NUKIWEB):
        choose_ports(any_free_port(), {NUKIWEB: "eighty"})


def test_run_env_wires_the_demo_oauth_client_to_the_stand_in(tmp_path, capsys) -> None:
    web = web_port_with_free_neighbour()
    assert main([str(web)], {}, var_dir=tmp_path) == 0
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    stand_in = f"http://127.0.0.1:{web + 90}"
    assert lines[NUKIWEB] == str(web + 90)
    assert lines["NUKI_WEB_OAUTH_URL"] == stand_in + "/oauth"
    assert lines["NUKI_WEB_API_URL"] == stand_in
    assert lines["NUKI_WEB_CLIENT_ID"] == "latchkey-nukiweb-sim"
    # The Procfile passes LATCHKEY_DEMO_NUKIWEB_CLIENT_SECRET to the stand-in: the same secret.
    assert lines["NUKI_WEB_CLIENT_SECRET"] == lines["LATCHKEY_DEMO_NUKIWEB_CLIENT_SECRET"]
    again = run_env(web, {}, tmp_path)
    assert again["NUKI_WEB_CLIENT_SECRET"] == lines["NUKI_WEB_CLIENT_SECRET"]  # stable
    stored = credentials.credentials_path(tmp_path)
    assert stored.stat().st_mode & 0o777 == 0o600


def test_a_real_nuki_web_client_is_left_alone(tmp_path) -> None:
    web = web_port_with_free_neighbour()
    values = run_env(web, {"NUKI_WEB_CLIENT_ID": "real-client"}, tmp_path)
    assert "NUKI_WEB_CLIENT_ID" not in values and "NUKI_WEB_OAUTH_URL" not in values
