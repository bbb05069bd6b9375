"""python -m locks.simulators.nukiweb: run the simulated Nuki Web API until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import secrets
import signal
from typing import Any

from .server import NukiWebSimulator, run_forever


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m locks.simulators.nukiweb",
        description="A simulated Nuki Web API (api.nuki.io) with OAuth2 and webhooks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    parser.add_argument(
        "--api-token",
        action="append",
        default=[],
        help="a static API token (repeatable; default: a random one, printed)",
    )
    parser.add_argument("--client-id", default="latchkey-nukiweb-sim")
    parser.add_argument("--client-secret", help="default: a random one, printed")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=None,
        help="registered OAuth redirect URI (repeatable; default: any https or loopback URI)",
    )
    parser.add_argument("--smartlocks", type=int, default=2)
    parser.add_argument("--no-keypad", action="store_true", help="locks without a keypad")
    parser.add_argument("--apply-delay", type=float, default=2.0, help="queue to lock, seconds")
    parser.add_argument("--action-seconds", type=float, default=1.0)
    parser.add_argument("--access-token-ttl", type=float, default=3600.0)
    parser.add_argument("--auto-consent", action="store_true", help="skip the consent page")
    parser.add_argument("--latency", type=float, default=0.0, help="added to every answer, s")
    parser.add_argument(
        "--timezone", default="UTC", help="the locks' timezone (IANA), for weekdays and times"
    )
    parser.add_argument(
        "--rate-limit", type=int, default=None, help="requests per --rate-window; more get 429"
    )
    parser.add_argument("--rate-window", type=float, default=60.0, help="seconds")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    tokens = args.api_token or [secrets.token_hex(20)]
    sim = NukiWebSimulator(
        host=args.host,
        port=args.port,
        api_tokens=tokens,
        client_id=args.client_id,
        client_secret=args.client_secret or secrets.token_urlsafe(24),
        redirect_uris=args.redirect_uri,
        smartlocks=args.smartlocks,
        keypad=not args.no_keypad,
        apply_delay=args.apply_delay,
        action_seconds=args.action_seconds,
        access_token_ttl=args.access_token_ttl,
        auto_consent=args.auto_consent,
        latency=args.latency,
        timezone=args.timezone,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
    )

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    sim.start()
    ids = ", ".join(str(i) for i in sim.smartlock_ids)
    print(f"Nuki Web simulator at {sim.url}", flush=True)
    print(f"  API tokens: {', '.join(tokens)}", flush=True)
    print(f"  OAuth client_id={sim.client_id} client_secret={sim.client_secret}", flush=True)
    print(f"  authorize: {sim.url}/oauth/authorize  token: {sim.url}/oauth/token", flush=True)
    print(f"  smartlockIds: {ids}", flush=True)
    run_forever(sim)


if __name__ == "__main__":
    main()
