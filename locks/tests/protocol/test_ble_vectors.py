"""Every value of ble-vectors.json reproduced byte for byte, plus the spec's printed chunks.

The vectors come from the worked examples of Nuki's BLE spec v1.10, re-checked with libsodium.
Frames the client sends are built from scratch (not by re-encoding what was decoded), so a
wrong layout, CRC, key derivation or encryption shows up as a byte mismatch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from locks.nuki.ble import commands as c
from locks.nuki.ble.constants import CommandId, LockState, NukiState, StatusCode
from locks.nuki.ble.crc import crc_ccitt
from locks.nuki.ble.crypto import KeyPair, dh1, e1_decrypt, kdf1, shared_key
from locks.nuki.ble.errors import DecryptionError
from locks.nuki.ble.frames import (
    Reassembler,
    decode_encrypted,
    encode_pdata,
    frame_encrypted,
    frame_plain,
    read_encrypted,
    read_plain,
)
from locks.nuki.ble.pairing import (
    authorization_authenticator,
    authorization_id_confirmation_authenticator,
)
from locks.nuki.ble.values import NukiDateTime

HERE = Path(__file__).resolve()
BUNDLED = HERE.parent / "data" / "ble-vectors.json"
SHARED = HERE.parents[4] / "shared" / "nuki" / "ble-vectors.json"


def vectors_path() -> Path:
    """The bundled copy first (CI clones the repo alone), then the shared original, then
    $LATCHKEY_BLE_VECTORS."""
    candidates = [BUNDLED, SHARED]
    if os.environ.get("LATCHKEY_BLE_VECTORS"):
        candidates.append(Path(os.environ["LATCHKEY_BLE_VECTORS"]))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("ble-vectors.json not found in " + ", ".join(map(str, candidates)))


V = json.loads(vectors_path().read_text())
P = V["pairing"]
E = V["encrypted"]
MSG = P["messages"]
H = bytes.fromhex

CLIENT_SK = H(P["client_secret_key"])
CLIENT_PK = H(P["client_public_key"])
LOCK_PK = H(P["lock_public_key"])
SHARED_KEY = H(P["shared_key"])
ENC = {m["name"]: m for m in E["messages"]}

# Printed in the spec's "Perform unlock" example, step 2f (decrypted challenge).
SPEC_CHALLENGE_NONCE = H("57D95521BEA186B5A9244F025737924C5B7E33592D0614D5F6EF2E2F142C6D4B")


def test_bundled_copy_matches_the_shared_original() -> None:
    if not SHARED.is_file():
        pytest.skip("shared/nuki/ble-vectors.json is not next to this checkout")
    assert BUNDLED.read_bytes() == SHARED.read_bytes()


# -- keys ----------------------------------------------------------------------------------------


def test_client_public_key_derives_from_secret_key() -> None:
    assert KeyPair.from_secret_key(CLIENT_SK).public_key == CLIENT_PK


def test_dh1_gives_the_printed_dh_key() -> None:
    assert dh1(CLIENT_SK, LOCK_PK) == H(P["dh_key"])


def test_kdf1_alone_turns_the_dh_key_into_the_shared_key() -> None:
    assert kdf1(H(P["dh_key"])) == SHARED_KEY


def test_shared_key_via_crypto_box_beforenm() -> None:
    assert shared_key(CLIENT_SK, LOCK_PK) == SHARED_KEY
    assert H(E["shared_key"]) == SHARED_KEY


# -- pairing frames ------------------------------------------------------------------------------


@pytest.mark.parametrize("message", MSG, ids=[m["what"][:40] for m in MSG])
def test_pairing_frame_crc_and_reencoding(message: dict) -> None:
    frame = H(message["frame"])
    assert crc_ccitt(frame[:-2]) == int.from_bytes(frame[-2:], "little")
    assert frame_plain(read_plain(frame)) == frame


def test_request_public_key_frame() -> None:
    command = c.RequestData(command_identifier=CommandId.PUBLIC_KEY)
    assert frame_plain(command) == H(MSG[0]["frame"])


def test_lock_public_key_frame() -> None:
    assert read_plain(H(MSG[1]["frame"])) == c.PublicKey(public_key=LOCK_PK)


def test_client_public_key_frame() -> None:
    assert frame_plain(c.PublicKey(public_key=CLIENT_PK)) == H(MSG[2]["frame"])


def test_authorization_authenticator_frame() -> None:
    challenge = read_plain(H(MSG[3]["frame"]))
    assert isinstance(challenge, c.Challenge)
    authenticator = authorization_authenticator(SHARED_KEY, CLIENT_PK, LOCK_PK, challenge.nonce_k)
    frame = frame_plain(c.AuthorizationAuthenticator(authenticator=authenticator))
    assert frame == H(MSG[4]["frame"])


def test_second_challenge_decodes() -> None:
    challenge = read_plain(H(MSG[5]["frame"]))
    assert isinstance(challenge, c.Challenge)
    assert challenge.nonce_k == H(MSG[5]["frame"])[2:34]


def test_authorization_id_fields() -> None:
    frame = H(MSG[6]["frame"])
    granted = read_plain(frame)
    assert isinstance(granted, c.AuthorizationId)
    assert granted.authorization_id == 2
    assert granted.authenticator == frame[2:34]
    assert granted.uuid == frame[38:54]
    assert granted.nonce_k == frame[54:86]


def test_authorization_id_confirmation_frame() -> None:
    granted = read_plain(H(MSG[6]["frame"]))
    assert isinstance(granted, c.AuthorizationId)
    authenticator = authorization_id_confirmation_authenticator(
        SHARED_KEY, granted.authorization_id, granted.nonce_k
    )
    confirmation = c.AuthorizationIdConfirmation(
        authenticator=authenticator, authorization_id=granted.authorization_id
    )
    assert frame_plain(confirmation) == H(MSG[7]["frame"])


def test_status_complete_frame() -> None:
    assert frame_plain(c.Status(status=StatusCode.COMPLETE)) == H(MSG[8]["frame"])


# -- encrypted frames ----------------------------------------------------------------------------

AUTH_ID = E["authorization_id"]


def expected_command(name: str) -> c.Command:
    """The typed content of each encrypted vector, written out from the spec and the notes."""
    return {
        "request_nuki_states": c.RequestData(command_identifier=CommandId.NUKI_STATES),
        "nuki_states_response": c.NukiStates(
            nuki_state=NukiState.DOOR_MODE,
            lock_state=LockState.LOCKED,
            trigger=0,
            current_time=NukiDateTime(2016, 3, 7, 8, 15, 30),
            timezone_offset=60,
            critical_battery_state=0,
            config_update_count=0x20,
            lock_n_go_timer=0x0A,
        ),
        "request_challenge": c.RequestData(command_identifier=CommandId.CHALLENGE),
        "challenge_response": c.Challenge(nonce_k=SPEC_CHALLENGE_NONCE),
        "lock_action_unlock": c.LockAction(
            lock_action=0x01, app_id=0, flags=0, nonce_k=SPEC_CHALLENGE_NONCE
        ),
    }[name]


@pytest.mark.parametrize("name", list(ENC))
def test_pdata_built_from_the_typed_command(name: str) -> None:
    command = expected_command(name)
    pdata = encode_pdata(AUTH_ID, command.COMMAND_ID, command.encode())
    assert pdata == H(ENC[name]["plaintext_pdata"])


@pytest.mark.parametrize("name", list(ENC))
def test_encrypted_frame_built_from_the_typed_command(name: str) -> None:
    vector = ENC[name]
    frame = frame_encrypted(expected_command(name), SHARED_KEY, AUTH_ID, nonce=H(vector["nonce"]))
    assert frame == H(vector["encrypted_message"])


@pytest.mark.parametrize("name", list(ENC))
def test_encrypted_frame_decodes_to_the_typed_command(name: str) -> None:
    vector = ENC[name]
    frame = H(vector["encrypted_message"])
    assert read_encrypted(frame, SHARED_KEY) == (AUTH_ID, expected_command(name))
    decrypted = decode_encrypted(frame, SHARED_KEY)
    assert decrypted.nonce == H(vector["nonce"])
    # the raw secretbox opens to exactly the printed PDATA
    assert e1_decrypt(SHARED_KEY, frame[:24], frame[30:]) == H(vector["plaintext_pdata"])


def test_encrypted_frame_with_another_key_is_rejected() -> None:
    frame = H(ENC["nuki_states_response"]["encrypted_message"])
    with pytest.raises(DecryptionError):
        read_encrypted(frame, bytes(32))


def test_states_json_view_matches_the_notes() -> None:
    states = read_encrypted(H(ENC["nuki_states_response"]["encrypted_message"]), SHARED_KEY)[1]
    view = c.to_jsonable(states)
    assert view["current_time"] == "2016-03-07T08:15:30"
    assert view["timezone_offset"] == 60
    assert view["last_lock_action"] is None  # the example stops after the lock 'n' go timer


# -- the spec's printed 20-byte indications --------------------------------------------------------

SPEC_PAIRING_CHUNKS = [
    ["03002FE57DA347CD62431528DAAC5FBB290730FF", "F684AFC4CFC2ED90995F58CB3B749DB9"],
    ["04006CD4163D159050C798553EAA57E278A579AF", "FCBC56F09FC57FE879E51C42DF17C3DF"],
    ["0400E0742CFEA39CB46109385BF91286A3C02F40", "EE86B0B62FC34033094DE41E2C0D7FE1"],
    [
        "07003A270A2E453443C3790E657CEBE634B03F01",
        "02F45681B4067C661D46E6E15EDF0200000083B3",
        "3643C6D97EF77ED51C02A277CBF7EA479915982F",
        "13C61D997A56678AD77791BFA7E95229A3DD34F8",
        "7132BF3E3C97DB9F",
    ],
    ["0E00009DD7"],
]
SPEC_PAIRING_FRAMES = [MSG[1], MSG[3], MSG[5], MSG[6], MSG[8]]

SPEC_ENCRYPTED_CHUNKS = {
    "nuki_states_response": [
        "90B0757CFED0243017EAF5E089F8583B9839D61B",
        "050924D2020000002700B13938B67121B6D528E7",
        "DE206B0D7C5A94587A471B33EBFB012CED8F1261",
        "135566ED756E3910B5",
    ],
    "challenge_response": [
        "99C8613A9F6AB6D3FB0399D37AD38C5C003AC139",
        "B1567BC102000000380028CDCC668C08DA47BF32",
        "3BF9371EBF068F6D480438563660780A4234D9A2",
        "3794E305EE37878874EDE106A0BBFCF5B60E0C2E",
        "2BA17248A02B",
    ],
}


def test_reassembler_rebuilds_the_printed_pairing_indications() -> None:
    reassembler = Reassembler(encrypted=False)
    for chunks, message in zip(SPEC_PAIRING_CHUNKS, SPEC_PAIRING_FRAMES, strict=True):
        out: list[bytes] = []
        for chunk in chunks:
            out += reassembler.feed(H(chunk))
        assert out == [H(message["frame"])]
        assert reassembler.pending == 0


@pytest.mark.parametrize("name", list(SPEC_ENCRYPTED_CHUNKS))
def test_reassembler_rebuilds_the_printed_encrypted_indications(name: str) -> None:
    reassembler = Reassembler(encrypted=True)
    chunks = [H(chunk) for chunk in SPEC_ENCRYPTED_CHUNKS[name]]
    out = [message for chunk in chunks for message in reassembler.feed(chunk)]
    assert out == [H(ENC[name]["encrypted_message"])]


# -- messages printed only in the spec text (not in the vectors file) -----------------------------
# The spec prints these PDATA with one "0" digit dropped (e.g. "02000000E00010D9A"); restored
# here, the CRCs check out, which confirms the reading.


@pytest.mark.parametrize(
    ("pdata", "status"),
    [("020000000E00010D9A", StatusCode.ACCEPTED), ("020000000E00002C8A", StatusCode.COMPLETE)],
)
def test_spec_status_pdata(pdata: str, status: int) -> None:
    assert encode_pdata(2, CommandId.STATUS, c.Status(status=status).encode()) == H(pdata)


@pytest.mark.parametrize(
    ("payload", "lock_state"),
    [
        ("020200E00703070818203C00000007", LockState.UNLOCKING),
        ("020300E007030708182C3C00000007", LockState.UNLOCKED),
    ],
)
def test_spec_unlock_progress_states(payload: str, lock_state: int) -> None:
    states = c.NukiStates.decode(H(payload))
    assert states.lock_state == lock_state
    assert states.current_time.isoformat()[:10] == "2016-03-07"
    assert states.encode() == H(payload)
