"""`python -m locks.nuki.ble decode`, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from locks.nuki.ble.frames import encode_plain

from .test_ble_vectors import ENC, MSG, SHARED_KEY, SPEC_CHALLENGE_NONCE

REPO = Path(__file__).resolve().parents[3]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "locks.nuki.ble", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def decode(*args: str) -> dict:
    result = run("decode", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_encrypted_states_frame() -> None:
    out = decode("--shared-key", SHARED_KEY.hex(), ENC["nuki_states_response"]["encrypted_message"])
    assert out["authorization_id"] == 2
    assert out["command"] == "Nuki States"
    assert out["command_id"] == 0x000C
    fields = out["fields"]
    assert fields["nuki_state"] == 2
    assert fields["lock_state"] == 1
    assert fields["trigger"] == 0
    assert fields["current_time"] == "2016-03-07T08:15:30"
    assert fields["timezone_offset"] == 60
    assert fields["critical_battery_state"] == 0


def test_encrypted_lock_action_frame() -> None:
    out = decode("--shared-key", SHARED_KEY.hex(), ENC["lock_action_unlock"]["encrypted_message"])
    assert out["command"] == "Lock Action" and out["command_id"] == 0x000D
    assert out["fields"] == {
        "lock_action": 1,
        "app_id": 0,
        "flags": 0,
        "nonce_k": SPEC_CHALLENGE_NONCE.hex(),
    }


def test_plain_authorization_id_frame() -> None:
    frame = MSG[6]["frame"]
    out = decode(frame)
    assert "authorization_id" not in out  # only encrypted frames carry one in the header
    assert out["command"] == "Authorization-ID" and out["command_id"] == 7
    assert out["fields"]["authorization_id"] == 2
    assert out["fields"]["uuid"] == frame[4 + 64 + 8 : 4 + 64 + 8 + 32].lower()


def test_plain_request_data_frame() -> None:
    out = decode(MSG[0]["frame"])
    assert out["command"] == "Request Data"
    assert out["fields"] == {"command_identifier": 3, "additional_data": ""}


@pytest.mark.parametrize(
    "args",
    [
        ("zz-not-hex",),
        ("0100030027A8",),  # CRC off by one bit
        ("01",),  # too short
        (encode_plain(0x0002, b"").hex(),),  # valid CRC, no such command
        ("--shared-key", "00" * 32, ENC["nuki_states_response"]["encrypted_message"]),
        ("--shared-key", "0011", ENC["nuki_states_response"]["encrypted_message"]),
    ],
    ids=["not-hex", "bad-crc", "short", "unknown-command", "wrong-key", "short-key"],
)
def test_undecodable_frames_exit_2_with_one_line(args: tuple[str, ...]) -> None:
    result = run("decode", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert "Traceback" not in result.stderr
