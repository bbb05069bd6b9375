"""Command line: `python -m locks.nuki.ble decode [--shared-key HEX] FRAME_HEX`.

Prints a frame as JSON: the authorization id (encrypted frames), the command's name and id,
and every field by its snake_case spec name. Without --shared-key the frame is read as
unencrypted. Exit code 2 with one line on stderr when the frame cannot be decoded, so scripts
and field technicians can tell a bad capture from a bad key at a glance.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from .commands import to_jsonable
from .errors import ProtocolError
from .frames import read_encrypted, read_plain

EXIT_UNDECODABLE = 2


def _hex(text: str, what: str) -> bytes:
    cleaned = "".join(text.split()).removeprefix("0x").removeprefix("0X")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"{what} is not hexadecimal") from None


def decode_to_json(frame: bytes, shared_key: bytes | None = None) -> dict[str, Any]:
    """The JSON-ready description of a frame; raises ProtocolError if it cannot be decoded."""
    result: dict[str, Any] = {}
    if shared_key is None:
        command = read_plain(frame)
        result["encrypted"] = False
    else:
        authorization_id, command = read_encrypted(frame, shared_key)
        result["encrypted"] = True
        result["authorization_id"] = authorization_id
    result["command"] = command.NAME
    result["command_id"] = int(command.COMMAND_ID)
    result["command_id_hex"] = f"0x{command.COMMAND_ID:04X}"
    result["fields"] = to_jsonable(command)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m locks.nuki.ble", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    decode = sub.add_parser("decode", help="decode one frame (hex) and print it as JSON")
    decode.add_argument("--shared-key", help="32-byte shared key (hex) for encrypted frames")
    decode.add_argument("frame", metavar="FRAME_HEX", help="the whole frame as hex")
    args = parser.parse_args(argv)

    try:
        frame = _hex(args.frame, "FRAME_HEX")
        key = None if args.shared_key is None else _hex(args.shared_key, "--shared-key")
        if key is not None and len(key) != 32:
            raise ValueError(f"--shared-key must be 32 bytes, got {len(key)}")
        output = decode_to_json(frame, key)
    except (ProtocolError, ValueError) as exc:
        message = " ".join(str(exc).split())
        print(f"error: cannot decode frame: {message}", file=sys.stderr)
        return EXIT_UNDECODABLE
    print(json.dumps(output, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
