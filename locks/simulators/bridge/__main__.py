"""python -m locks.simulators.bridge: run the simulated bridge until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import time
from typing import Any

from .server import BridgeSimulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m locks.simulators.bridge",
        description="A simulated Nuki hardware bridge (Bridge HTTP API v1.13).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--token", help="API token (default: a random one, printed)")
    parser.add_argument("--locks", type=int, default=1, help="number of paired smart locks")
    parser.add_argument("--action-seconds", type=float, default=1.5)
    parser.add_argument("--auth-window", type=float, default=30.0)
    parser.add_argument("--max-skew", type=float, default=60.0)
    parser.add_argument("--clock-offset", type=float, default=0.0, help="bridge clock error, s")
    parser.add_argument("--latency", type=float, default=0.0, help="added to every answer, s")
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
    sim = BridgeSimulator(
        host=args.host,
        port=args.port,
        token=args.token,
        locks=args.locks,
        action_seconds=args.action_seconds,
        auth_window=args.auth_window,
        max_skew=args.max_skew,
        clock_offset=args.clock_offset,
        latency=args.latency,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
    )

    def _terminate(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    sim.start()
    ids = ", ".join(str(i) for i in sim.locks)
    print(f"Nuki bridge simulator at {sim.url} token={sim.token} nukiIds: {ids}", flush=True)
    print(f"Press the button: curl -X POST {sim.url}/__sim__/press-button", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(Exception):
            sim.stop()


if __name__ == "__main__":
    main()
