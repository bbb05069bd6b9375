"""Nuki BLE frames per second: encrypt + decode, next to bare libsodium secretbox.

Why: the agent (on a Raspberry Pi) and the simulated lock encrypt and decode every message in
Python around libsodium. This shows what our framing costs on top of the cipher: for a Lock
Action (0x000D), an Add Keypad Code (0x0041) and a Keypad Code entry (0x0045, what a lock sends
per code when listed), one "frame" is the full round of `frame_encrypted()` (typed encode,
CRC, fresh 24-byte nonce, secretbox, header) and `read_encrypted()` (header checks,
secretbox open, CRC check, typed decode). The baseline is PyNaCl's bare
`crypto_secretbox` + `crypto_secretbox_open` of a plaintext of the same size with a fresh
nonce each time, measured in the same run. Ratio = ours / bare (1.0 would be "free").

Also the Config (0x0015) a Smart Lock 3.0 sends (77 bytes, 131 on the wire) and the cost of
reassembling it from indications: at the default ATT MTU of 23 (7 indications of at most 20
bytes) and at a negotiated MTU of 185 (one), messages per second through `Reassembler`.

No target in the issue beyond reporting the ratio; CPU-bound, single core, no services.

Run: .venv/bin/python bench/ble_frames.py [--seconds 1.5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import _common as common

sys.path.insert(0, str(common.ROOT))

from nacl import bindings

from locks.nuki.ble import commands as c
from locks.nuki.ble.constants import LockAction
from locks.nuki.ble.frames import (
    Reassembler,
    encode_pdata,
    frame_encrypted,
    read_encrypted,
    split_chunks,
)
from locks.nuki.ble.gatt import MAX_INDICATION, chunk_size_for
from locks.nuki.ble.values import NukiDateTime, NukiTime, SecurityPin

KEY = bytes(range(32))
AUTH_ID = 7


def commands() -> dict[str, c.Command]:
    window = {
        "time_limited": 1,
        "allowed_from_date": NukiDateTime(2030, 5, 1, 14, 0, 0),
        "allowed_until_date": NukiDateTime(2030, 5, 4, 10, 0, 0),
        "allowed_weekdays": 0,
        "allowed_from_time": NukiTime(0, 0),
        "allowed_until_time": NukiTime(0, 0),
    }
    return {
        "lock_action_0x000D": c.LockAction(
            lock_action=LockAction.UNLOCK, app_id=1234, flags=0, nonce_k=os.urandom(32)
        ),
        "add_keypad_code_0x0041": c.AddKeypadCode(
            code=345678,
            name="LK12 Ida Integration",
            **window,
            nonce_k=os.urandom(32),
            security_pin=SecurityPin(1234, 2),
        ),
        "keypad_code_0x0045": c.KeypadCode(
            code_id=12,
            code=345678,
            name="LK12 Ida Integration",
            enabled=1,
            date_created=NukiDateTime(2030, 4, 1, 9, 0, 0),
            date_last_active=NukiDateTime.unset(),
            lock_count=0,
            **window,
        ),
        "config_0x0015_smart_lock_3": c.Config(
            nuki_id=0x11223344,
            name="Front door",
            latitude=48.25,  # exact in float32, so the round trip compares equal
            longitude=16.5,
            auto_unlatch=0,
            pairing_enabled=1,
            button_enabled=1,
            led_enabled=1,
            led_brightness=3,
            current_time=NukiDateTime(2030, 5, 1, 14, 0, 0),
            timezone_offset=60,
            dst_mode=1,
            has_fob=0,
            fob_action_1=1,
            fob_action_2=2,
            fob_action_3=0,
            single_lock=0,
            advertising_mode=0,
            has_keypad=1,
            firmware_version=bytes((3, 8, 2)),
            hardware_revision=bytes((7, 1)),
            homekit_status=1,
            timezone_id=37,
            device_type=4,
            capabilities=1,
            has_keypad_v2=1,
        ),
    }


def reassembly_rate(frame: bytes, mtu: int, seconds: float, rounds: int) -> float:
    """Messages per second through one Reassembler, the frame cut as a link with `mtu` cuts."""
    chunks = split_chunks(frame, chunk_size_for(mtu))
    reassembler = Reassembler(encrypted=True, chunk_size=MAX_INDICATION)

    def work() -> object:
        for chunk in chunks:
            out = reassembler.feed(chunk)
        assert out == [frame]
        return out

    return rate(work, seconds, rounds)


def rate(work: Callable[[], object], seconds: float, rounds: int) -> float:
    """Best of `rounds` runs of `seconds` each, in operations per second."""
    best = 0.0
    for _ in range(rounds):
        count, start = 0, time.perf_counter()
        deadline = start + seconds
        while True:
            for _ in range(200):
                work()
            count += 200
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, count / (now - start))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    load = common.wait_for_quiet()
    common.print_header("BLE frames: encrypt + decode, per second (one core)")
    common.print_figure("machine busy before the run", load, "%")
    figures: dict[str, object] = {"background_busy_pct": load}
    for name, command in commands().items():
        frame = frame_encrypted(command, KEY, AUTH_ID)
        assert read_encrypted(frame, KEY) == (AUTH_ID, command)  # the round trip is exact
        plaintext = encode_pdata(AUTH_ID, command.COMMAND_ID, command.encode())

        def ours(command: c.Command = command) -> object:
            return read_encrypted(frame_encrypted(command, KEY, AUTH_ID), KEY)

        def bare(plaintext: bytes = plaintext) -> object:
            nonce = os.urandom(24)
            return bindings.crypto_secretbox_open(
                bindings.crypto_secretbox(plaintext, nonce, KEY), nonce, KEY
            )

        ours_rate = rate(ours, args.seconds, args.rounds)
        bare_rate = rate(bare, args.seconds, args.rounds)
        ratio = round(ours_rate / bare_rate, 3)
        common.print_figure(f"{name} ({len(frame)} B frame)", f"{ours_rate:,.0f}", "frames/s")
        common.print_figure(f"  bare secretbox, {len(plaintext)} B", f"{bare_rate:,.0f}", "ops/s")
        common.print_figure("  ratio ours / bare", ratio)
        figures[name] = {
            "frame_bytes": len(frame),
            "frames_per_s": round(ours_rate),
            "secretbox_per_s": round(bare_rate),
            "ratio": ratio,
        }
    config = frame_encrypted(commands()["config_0x0015_smart_lock_3"], KEY, AUTH_ID)
    for mtu in (23, 185):
        pieces = len(split_chunks(config, chunk_size_for(mtu)))
        per_s = reassembly_rate(config, mtu, args.seconds, args.rounds)
        common.print_figure(
            f"reassembly of the {len(config)} B Config at MTU {mtu} ({pieces} indications)",
            f"{per_s:,.0f}",
            "messages/s",
        )
        figures[f"reassembly_mtu_{mtu}"] = {"indications": pieces, "messages_per_s": round(per_s)}
    return common.finish("ble_frames", figures, [])


if __name__ == "__main__":
    sys.exit(main())
