"""Command line of the on-site agent.

    python -m locks.agent enroll --portal URL --token TOKEN [--name NAME] [--state-dir DIR]
    python -m locks.agent pair --address AA:BB:CC:DD:EE:FF [--pin PIN] [--name NAME]
    python -m locks.agent set-pin --address AA:BB:CC:DD:EE:FF --pin PIN
    python -m locks.agent status
    python -m locks.agent run [--wait 25] [--report-interval 300] [--no-scan]
                              [--portal URL] [--token T | --token-file F]
                              [--time-sync-interval S] [--backoff-cap S]
                              [--simulate N [--simulate-drift R] [--simulate-delay S]]

`run` enrolls first when the agent is not enrolled yet and a token is given (waiting for the
portal to come up), and `--portal` moves an enrolled agent to another portal address.
`--simulate N` serves N simulated Smart Locks instead of a radio (locks/simulators/fleet.py, loaded
by dotted path only then: the agent itself imports no simulator).

Exit codes: 0 done, 1 failed, 2 not set up (not enrolled, bad arguments). Secrets (agent
token, shared keys, PINs) are never printed; the enrollment token may also come from the
environment (LATCHKEY_ENROLLMENT_TOKEN) to keep it out of the shell history.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from locks.nuki.ble.errors import NukiErrorReport

from .jobs import JobExecutor
from .portal import PortalClient, PortalError, PortalUnavailable, check_portal_url, enroll
from .runner import Agent, Backoff
from .sessions import (
    LockSessions,
    Scanner,
    TransportFactory,
    bleak_scanner,
    bleak_transport_factory,
    pair_lock,
    set_pin,
)
from .state import AgentConfig, NotEnrolled, StateError, StateStore

EXIT_OK, EXIT_FAILED, EXIT_SETUP = 0, 1, 2

SIMULATED_FLEET = "locks.simulators.fleet:SimulatedFleet"
"""Where `--simulate` finds its locks: a dotted path, imported only when asked, so the agent
program never imports the simulators (they are stand-ins for the demo and the tests)."""


def simulated_fleet_class(path: str = SIMULATED_FLEET) -> type:
    """The simulated fleet's class, imported by its dotted path `module:Class`."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir", default=None, help="state directory (default ~/.latchkey-agent)"
    )
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    parser = argparse.ArgumentParser(
        prog="python -m locks.agent", description="Latchkey's on-site agent for Nuki locks."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("enroll", parents=[common], help="register this agent with the portal")
    p.add_argument("--portal", required=True, help="portal base URL (https://...)")
    p.add_argument("--token", default=None, help="one-time enrollment token from the portal")
    p.add_argument("--name", default="", help="how the portal shows this agent")
    p.add_argument("--allow-http", action="store_true", help="allow plain http (testing only)")

    p = sub.add_parser("pair", parents=[common], help="pair with a lock in pairing mode")
    p.add_argument("--address", required=True, help="Bluetooth address of the lock")
    p.add_argument("--pin", type=int, default=None, help="the lock's security PIN")
    p.add_argument("--pin-width", type=int, choices=(2, 4), default=2)
    p.add_argument("--name", default="", help="name for the portal (default: the lock's)")

    p = sub.add_parser("set-pin", parents=[common], help="store the PIN of a paired lock")
    p.add_argument("--address", required=True)
    p.add_argument("--pin", type=int, required=True)
    p.add_argument("--pin-width", type=int, choices=(2, 4), default=2)

    sub.add_parser("status", parents=[common], help="show enrollment and paired locks")

    p = sub.add_parser("run", parents=[common], help="serve the portal's jobs")
    p.add_argument("--wait", type=int, default=25, help="long-poll wait in seconds")
    p.add_argument("--report-interval", type=float, default=300.0, help="seconds")
    p.add_argument("--no-scan", action="store_true", help="do not scan for unpaired locks")
    p.add_argument("--max-iterations", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--portal", default=None, help="portal base URL (enroll, or move)")
    p.add_argument("--token", default=None, help="enrollment token, if not enrolled yet")
    p.add_argument("--token-file", default=None, help="file holding the enrollment token")
    p.add_argument("--name", default="", help="how the portal shows this agent (enrollment)")
    p.add_argument("--allow-http", action="store_true", help="allow plain http (testing only)")
    p.add_argument(
        "--time-sync-interval",
        type=float,
        default=6 * 3600.0,
        help="seconds between lock clock syncs, also while the portal is down (0: never)",
    )
    p.add_argument(
        "--backoff-cap", type=float, default=300.0, help="longest pause after portal errors (s)"
    )
    p.add_argument(
        "--simulate", type=int, default=0, metavar="N", help="serve N simulated locks (demo)"
    )
    p.add_argument(
        "--simulate-drift",
        type=float,
        default=0.0,
        help="simulated lock clocks run fast by this fraction (0.01 = 36 s an hour)",
    )
    p.add_argument(
        "--simulate-delay", type=float, default=0.0, help="simulated radio delay per message (s)"
    )
    return parser


def _say(message: str) -> None:
    print(message, file=sys.stderr)


async def _enroll(store: StateStore, args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("LATCHKEY_ENROLLMENT_TOKEN")
    if not token:
        _say("error: --token (or LATCHKEY_ENROLLMENT_TOKEN) is required")
        return EXIT_SETUP
    config = await enroll(args.portal, token, args.name, allow_http=args.allow_http)
    store.save_agent(config)
    _say(f"enrolled as agent {config.agent_id}; state in {store.root}")
    return EXIT_OK


async def _pair(store: StateStore, factory: TransportFactory, args: argparse.Namespace) -> int:
    app_id = None
    with contextlib.suppress(StateError):
        app_id = store.load_agent().agent_id
    outcome = await pair_lock(
        store,
        factory,
        args.address,
        pin=args.pin,
        pin_width=args.pin_width,
        name=args.name,
        app_id=app_id,
    )
    record = outcome.record
    _say(f"paired with {record.address} ({record.name or 'unnamed'}), nuki id {record.nuki_id}")
    if outcome.pin_accepted is False:
        _say("error: the lock refused that PIN; keypad jobs need it: run set-pin")
        return EXIT_FAILED
    if outcome.pin_accepted is None and args.pin is not None:
        _say("warning: could not verify the PIN; run set-pin to store it")
        return EXIT_FAILED
    if args.pin is None:
        _say("note: no PIN stored; keypad codes and logs need it (set-pin)")
    return EXIT_OK


async def _set_pin(store: StateStore, factory: TransportFactory, args: argparse.Namespace) -> int:
    if await set_pin(store, factory, args.address, args.pin, pin_width=args.pin_width):
        _say("PIN verified and stored")
        return EXIT_OK
    _say("error: the lock refused that PIN")
    return EXIT_FAILED


def _status(store: StateStore) -> int:
    try:
        config = store.load_agent()
        print(f"agent {config.agent_id} ({config.name or 'unnamed'}) at {config.portal_url}")
    except NotEnrolled:
        print("not enrolled")
    for record in store.list_locks():
        pin = "PIN stored" if record.security_pin is not None else "no PIN"
        print(f"{record.address}  {record.name or '-'}  nuki id {record.nuki_id}  {pin}")
    return EXIT_OK


def _enrollment_token(args: argparse.Namespace) -> str | None:
    if args.token:
        return args.token
    if args.token_file:
        with contextlib.suppress(FileNotFoundError):
            return Path(args.token_file).read_text(encoding="utf-8").strip() or None
    return os.environ.get("LATCHKEY_ENROLLMENT_TOKEN") or None


async def _ensure_enrolled(
    store: StateStore, args: argparse.Namespace, stop: asyncio.Event
) -> AgentConfig | None:
    """The agent's config: enrolling first if needed (retrying while the portal is not up,
    e.g. when started together with it), moved to `--portal` if that differs."""
    try:
        config = store.load_agent()
    except NotEnrolled:
        token = _enrollment_token(args)
        if not token or not args.portal:
            raise
        backoff = Backoff(cap=min(args.backoff_cap, 10.0))
        failures = 0
        while True:
            try:
                config = await enroll(args.portal, token, args.name, allow_http=args.allow_http)
                break
            except PortalUnavailable as exc:
                failures += 1
                delay = backoff.delay(failures)
                _say(f"enrollment: {exc}; again in {delay:.1f} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return None
        store.save_agent(config)
        if args.token_file:  # single-use: keep no dead secret lying around
            with contextlib.suppress(FileNotFoundError):
                os.unlink(args.token_file)
        _say(f"enrolled as agent {config.agent_id}; state in {store.root}")
        return config
    if args.portal:
        url = check_portal_url(args.portal, allow_http=args.allow_http)
        if url != config.portal_url:
            config = dataclasses.replace(config, portal_url=url)
            store.save_agent(config)
    return config


async def _run(
    store: StateStore,
    factory: TransportFactory,
    scanner: Scanner | None,
    args: argparse.Namespace,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    fleet = None
    if args.simulate:
        fleet = simulated_fleet_class()(
            store, args.simulate, drift=args.simulate_drift, radio_delay=args.simulate_delay
        )
        fleet.load()
        factory, scanner = fleet.open, fleet.scan
    try:
        config = await _ensure_enrolled(store, args, stop)
        if config is None:
            return EXIT_OK
        if fleet is not None:
            await fleet.pair_all(app_id=config.agent_id)
        portal = PortalClient.from_config(config, allow_http=True)  # checked at enrollment
        sessions = LockSessions(store, factory)
        agent = Agent(
            store,
            portal,
            sessions,
            JobExecutor(sessions, store),
            scanner=None if args.no_scan else scanner,
            wait=args.wait,
            report_interval=args.report_interval,
            backoff=Backoff(cap=args.backoff_cap),
            time_sync_interval=args.time_sync_interval or None,
        )
        agent.stop = stop
        logging.getLogger(__name__).info(
            "agent %d serving %s%s",
            config.agent_id,
            config.portal_url,
            f" with {args.simulate} simulated locks" if fleet else "",
        )
        try:
            await agent.run(args.max_iterations)
        finally:
            await portal.aclose()
    finally:
        if fleet is not None:
            await fleet.close()
    return EXIT_OK


def configure_logging(verbose: bool) -> None:
    """Log lines to stderr (journald picks them up under systemd). Only for the real
    program: tests calling `main()` keep the process's logging as it was."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:  # protocol chatter and HTTP lines stay out of the normal log
        for noisy in ("httpx2", "httpcore2", "locks.nuki.ble"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(
    argv: Sequence[str] | None = None,
    *,
    transport_factory: TransportFactory | None = None,
    scanner: Scanner | None = None,
    setup_logging: bool = False,
) -> int:
    """Entry point; the radio pieces are injectable so the CLI can be tested without one."""
    args = _parser().parse_args(argv)
    if setup_logging:
        configure_logging(args.verbose)
    store = StateStore(args.state_dir)
    factory = transport_factory or bleak_transport_factory()
    try:
        if args.command == "enroll":
            return asyncio.run(_enroll(store, args))
        if args.command == "pair":
            return asyncio.run(_pair(store, factory, args))
        if args.command == "set-pin":
            return asyncio.run(_set_pin(store, factory, args))
        if args.command == "status":
            return _status(store)
        return asyncio.run(_run(store, factory, scanner or bleak_scanner(), args))
    except NotEnrolled as exc:
        _say(f"error: {exc}")
        return EXIT_SETUP
    except (ValueError, StateError) as exc:
        _say(f"error: {exc}")
        return EXIT_SETUP
    except (PortalError, NukiErrorReport, ConnectionError, TimeoutError) as exc:
        _say(f"error: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main(setup_logging=True))
