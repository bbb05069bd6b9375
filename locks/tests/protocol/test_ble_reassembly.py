"""Reassembling messages that span several indications, at any ATT MTU (issue 15).

A sender splits every message on its own into indications of MTU - 3 bytes (the last one
shorter); the receiver finds where each message ends from the content: the encrypted
header's length field (nonce 24 + authorization id 4 + length 2), an unencrypted command's
fixed size, else the CRC at an indication's end. These tests cut real frames at every MTU that
puts a boundary somewhere awkward (inside the nonce, the authorization id, the length field,
right after the header) and feed several messages back to back.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from locks.nuki.ble import commands as c
from locks.nuki.ble.errors import LengthError
from locks.nuki.ble.frames import (
    Reassembler,
    frame_encrypted,
    frame_plain,
    split_chunks,
)
from locks.nuki.ble.gatt import MAX_INDICATION, chunk_size_for
from locks.nuki.ble.values import NukiDateTime, NukiTime

from .test_ble_properties import FAST, commands_of_any_class

KEY = bytes(range(32))
NONCE = bytes(range(100, 124))

AWKWARD_MTUS = [23, 24, 27, 28, 31, 32, 33, 35, 50, 63, 185, 247]
"""Payloads of 20, 21, 24 (the nonce ends), 25, 28 (the auth id ends), 29 (inside the length
field), 30 (the header ends), 32, 47, 60 (a frame's exact size), 182, 244 bytes."""

CONFIG_77 = c.Config(
    nuki_id=0x11223344,
    name="Front door",
    latitude=48.25,
    longitude=16.5,
    auto_unlatch=0,
    pairing_enabled=1,
    button_enabled=1,
    led_enabled=1,
    led_brightness=3,
    current_time=NukiDateTime(2024, 6, 30, 12, 0, 0),
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
)


def back_to_back() -> list[bytes]:
    """Encrypted answers of many sizes, one of them exactly 60 bytes (3 x 20), and an
    unencrypted Error Report in between (what a lock sends when it cannot find our key)."""
    return [
        frame_encrypted(c.Status(status=1), KEY, 7, nonce=NONCE),  # 55 bytes
        frame_encrypted(CONFIG_77, KEY, 7, nonce=NONCE),  # 131
        frame_plain(c.ErrorReport(error_code=0x20, command_identifier=0)),  # 7
        frame_encrypted(
            c.TimeControlEntry(
                entry_id=1, enabled=1, weekdays=0, time=NukiTime(7, 30), lock_action=1
            ),
            KEY,
            7,
            nonce=NONCE,
        ),  # 60
        frame_encrypted(c.Challenge(nonce_k=bytes(32)), KEY, 7, nonce=NONCE),  # 86
        frame_encrypted(c.Status(status=0), KEY, 7, nonce=NONCE),
    ]


def indications(messages: list[bytes], mtu: int) -> list[bytes]:
    """What a sender puts on a link with this MTU: each message cut on its own."""
    size = chunk_size_for(mtu)
    return [chunk for message in messages for chunk in split_chunks(message, size)]


def test_the_frames_have_the_sizes_the_cases_rely_on() -> None:
    assert [len(m) for m in back_to_back()] == [55, 131, 7, 60, 86, 55]
    assert len(CONFIG_77.encode()) == 77


@pytest.mark.parametrize("mtu", AWKWARD_MTUS)
@pytest.mark.parametrize("told_the_mtu", [True, False])
def test_encrypted_messages_back_to_back_at_any_mtu(mtu: int, told_the_mtu: bool) -> None:
    messages = back_to_back()
    bound = chunk_size_for(mtu) if told_the_mtu else MAX_INDICATION
    reassembler = Reassembler(encrypted=True, chunk_size=bound)
    out = [m for chunk in indications(messages, mtu) for m in reassembler.feed(chunk)]
    assert out == messages
    assert reassembler.pending == 0


@pytest.mark.parametrize("mtu", AWKWARD_MTUS)
def test_pairing_messages_back_to_back_at_any_mtu(mtu: int) -> None:
    messages = [
        frame_plain(c.PublicKey(public_key=bytes(range(32)))),  # 36
        frame_plain(c.Challenge(nonce_k=bytes(range(1, 33)))),  # 36
        frame_plain(
            c.AuthorizationId(
                authenticator=bytes(32), authorization_id=2, uuid=bytes(16), nonce_k=bytes(32)
            )
        ),  # 88
        frame_plain(c.Status(status=0)),  # 5
    ]
    reassembler = Reassembler(encrypted=False, chunk_size=MAX_INDICATION)
    out = [m for chunk in indications(messages, mtu) for m in reassembler.feed(chunk)]
    assert out == messages


def test_a_lock_keeping_to_20_byte_indications_on_a_larger_mtu() -> None:
    """The MTU says 185 but the lock sends 20-byte pieces (the characteristic's declared
    size): a 20-byte piece is not the end of a message just because the MTU allows more."""
    messages = back_to_back()
    reassembler = Reassembler(encrypted=True, chunk_size=chunk_size_for(185))
    out = [m for chunk in indications(messages, 23) for m in reassembler.feed(chunk)]
    assert out == messages


def test_a_message_cut_short_is_still_detected_after_the_size_was_learned() -> None:
    messages = back_to_back()
    reassembler = Reassembler(encrypted=True, chunk_size=MAX_INDICATION)
    for chunk in indications(messages[:1], 50):
        reassembler.feed(chunk)  # the link carries 47-byte indications
    config = messages[1]
    reassembler.feed(config[:47])
    with pytest.raises(LengthError):
        reassembler.feed(config[47:80])  # shorter than the link's pieces, yet incomplete
    assert reassembler.pending == 0
    assert [m for chunk in indications([config], 50) for m in reassembler.feed(chunk)] == [config]


def test_an_indication_longer_than_the_link_allows_is_refused() -> None:
    reassembler = Reassembler(encrypted=True, chunk_size=chunk_size_for(185))
    with pytest.raises(LengthError):
        reassembler.feed(bytes(183))
    with pytest.raises(ValueError):
        chunk_size_for(518)


@FAST
@given(
    commands=st.lists(commands_of_any_class(), min_size=1, max_size=4),
    mtu=st.integers(23, 517),
)
def test_any_encrypted_commands_back_to_back_at_any_mtu(
    commands: list[c.Command], mtu: int
) -> None:
    messages = [frame_encrypted(command, KEY, 9, nonce=NONCE) for command in commands]
    reassembler = Reassembler(encrypted=True, chunk_size=MAX_INDICATION)
    out = [m for chunk in indications(messages, mtu) for m in reassembler.feed(chunk)]
    assert out == messages
