"""Message framing: unencrypted and encrypted frames, and reassembly of indications.

Unencrypted frame:  command u16 | payload | CRC u16                      (all little-endian)
Encrypted frame:    nonce[24] | authorization id u32 | length u16 | ciphertext
                    ciphertext = secretbox(PDATA), PDATA = auth id u32 | command u16 | payload | CRC

The authorization id appears twice: in clear so the lock can pick the key, and inside PDATA,
where the MAC protects it. A decoder insists the two agree, otherwise a flipped bit in the
clear copy would go unnoticed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .commands import Command, decode_command, plain_frame_size
from .crc import CRC_SIZE, append_crc, has_valid_crc, strip_crc
from .crypto import MAC_SIZE, NONCE_SIZE, RandomSource, e1_decrypt, e1_encrypt, new_nonce
from .crypto import random_bytes as _default_random
from .errors import LengthError, ProtocolError
from .gatt import MAX_CHUNK, MIN_CHUNK

COMMAND_SIZE = 2
AUTH_ID_SIZE = 4
LENGTH_SIZE = 2
ENCRYPTED_HEADER_SIZE = NONCE_SIZE + AUTH_ID_SIZE + LENGTH_SIZE  # 30
MIN_PLAIN_FRAME = COMMAND_SIZE + CRC_SIZE
MIN_PDATA = AUTH_ID_SIZE + COMMAND_SIZE + CRC_SIZE
MIN_CIPHERTEXT = MAC_SIZE + MIN_PDATA

_HEADER = struct.Struct("<24sIH")


@dataclass(frozen=True)
class PlainFrame:
    """A decoded unencrypted frame: command identifier and raw payload."""

    command_id: int
    payload: bytes


@dataclass(frozen=True)
class EncryptedFrame:
    """A decrypted frame: who sent it, the command, its raw payload and the nonce used."""

    authorization_id: int
    command_id: int
    payload: bytes
    nonce: bytes


# -- unencrypted --------------------------------------------------------------------------------


def encode_plain(command_id: int, payload: bytes = b"") -> bytes:
    """Build command | payload | CRC."""
    return append_crc(struct.pack("<H", command_id) + bytes(payload))


def decode_plain(frame: bytes) -> PlainFrame:
    """Check length and CRC and split an unencrypted frame."""
    frame = bytes(frame)
    if len(frame) < MIN_PLAIN_FRAME:
        raise LengthError(f"unencrypted frame of {len(frame)} bytes (minimum {MIN_PLAIN_FRAME})")
    body = strip_crc(frame)
    return PlainFrame(int.from_bytes(body[:COMMAND_SIZE], "little"), body[COMMAND_SIZE:])


# -- encrypted ----------------------------------------------------------------------------------


def encode_pdata(authorization_id: int, command_id: int, payload: bytes = b"") -> bytes:
    """PDATA = authorization id | command | payload | CRC (what gets encrypted)."""
    return append_crc(struct.pack("<IH", authorization_id, command_id) + bytes(payload))


def encode_encrypted(
    shared_key: bytes,
    authorization_id: int,
    command_id: int,
    payload: bytes = b"",
    *,
    nonce: bytes | None = None,
    random: RandomSource = _default_random,
) -> bytes:
    """Encrypt and frame a message. Pass `nonce` only to reproduce a known frame (tests);
    reusing a nonce with the same key breaks the encryption."""
    if nonce is None:
        nonce = new_nonce(random)
    pdata = encode_pdata(authorization_id, command_id, payload)
    ciphertext = e1_encrypt(shared_key, nonce, pdata)
    return _HEADER.pack(bytes(nonce), authorization_id, len(ciphertext)) + ciphertext


def peek_authorization_id(frame: bytes) -> int:
    """The clear-text authorization id of an encrypted frame, to look up the shared key.
    Not authenticated until `decode_encrypted` succeeds."""
    if len(frame) < ENCRYPTED_HEADER_SIZE:
        raise LengthError(f"encrypted frame of {len(frame)} bytes has no complete header")
    return int(_HEADER.unpack_from(bytes(frame))[1])


def decode_encrypted(frame: bytes, shared_key: bytes) -> EncryptedFrame:
    """Check, decrypt and split an encrypted frame."""
    frame = bytes(frame)
    if len(frame) < ENCRYPTED_HEADER_SIZE:
        raise LengthError(f"encrypted frame of {len(frame)} bytes has no complete header")
    nonce, outer_auth_id, length = _HEADER.unpack_from(frame)
    ciphertext = frame[ENCRYPTED_HEADER_SIZE:]
    if length != len(ciphertext):
        raise LengthError(f"length field says {length} bytes, {len(ciphertext)} follow")
    if length < MIN_CIPHERTEXT:
        raise LengthError(f"ciphertext of {length} bytes (minimum {MIN_CIPHERTEXT})")
    pdata = e1_decrypt(shared_key, nonce, ciphertext)
    body = strip_crc(pdata)
    inner_auth_id, command_id = struct.unpack_from("<IH", body)
    if inner_auth_id != outer_auth_id:
        raise ProtocolError(
            f"authorization id {outer_auth_id} in clear but {inner_auth_id} inside the message"
        )
    return EncryptedFrame(inner_auth_id, command_id, body[AUTH_ID_SIZE + COMMAND_SIZE :], nonce)


# -- typed helpers ------------------------------------------------------------------------------


def frame_plain(command: Command) -> bytes:
    """An unencrypted frame carrying `command`."""
    return encode_plain(command.COMMAND_ID, command.encode())


def frame_encrypted(
    command: Command,
    shared_key: bytes,
    authorization_id: int,
    *,
    nonce: bytes | None = None,
    random: RandomSource = _default_random,
) -> bytes:
    """An encrypted frame carrying `command`."""
    return encode_encrypted(
        shared_key,
        authorization_id,
        command.COMMAND_ID,
        command.encode(),
        nonce=nonce,
        random=random,
    )


def read_plain(frame: bytes) -> Command:
    """Decode an unencrypted frame into its typed command."""
    plain = decode_plain(frame)
    return decode_command(plain.command_id, plain.payload)


def read_encrypted(frame: bytes, shared_key: bytes) -> tuple[int, Command]:
    """Decode an encrypted frame into (authorization id, typed command)."""
    decrypted = decode_encrypted(frame, shared_key)
    return decrypted.authorization_id, decode_command(decrypted.command_id, decrypted.payload)


def split_chunks(message: bytes, size: int = MAX_CHUNK) -> list[bytes]:
    """Cut a message into the pieces one write or indication carries."""
    if size <= 0:
        raise ValueError("chunk size must be positive")
    return [message[i : i + size] for i in range(0, len(message), size)] or [b""]


# -- reassembly ---------------------------------------------------------------------------------


class Reassembler:
    """Collects indications of at most `chunk_size` bytes (the link's ATT MTU - 3) into whole
    messages.

    Encrypted channel: the length field at bytes 28..29 says where the message ends. The lock
    may still answer in clear on that channel (for example when it cannot find our key), and
    such a message is shorter than the encrypted header: a short indication (below) that ends
    the message before a header is complete is accepted as an unencrypted frame if its CRC
    holds.

    Unencrypted channel: the command's fixed size says where the message ends; for the few
    commands without a fixed size, a short indication ends the message (or a full one after
    which the CRC holds).

    A short indication is one shorter than the largest this link has carried so far (at least
    MIN_CHUNK, the payload at the default MTU of 23). A sender fills every indication of a
    message but the last, each to the same size (MTU - 3, or 20 on locks that keep to the
    characteristic's declared size), and that size is never below MIN_CHUNK, so a shorter one
    always ends a message: the reassembler needs no knowledge of the negotiated MTU to be
    right, only `chunk_size` as the upper bound (`LengthError` above it).

    On any inconsistency `feed` raises ProtocolError and drops what it had buffered, so the next
    message starts clean.
    """

    def __init__(
        self, *, encrypted: bool, chunk_size: int = MAX_CHUNK, max_message_size: int = 4096
    ) -> None:
        self.encrypted = encrypted
        self.chunk_size = chunk_size
        self.max_message_size = max_message_size
        self._buffer = b""
        self._full = min(MIN_CHUNK, chunk_size)
        """The largest indication seen on this link: a shorter one ends a message."""

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message waiting for more chunks."""
        return len(self._buffer)

    def reset(self) -> None:
        """Forget a partial message (after a disconnect)."""
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """Add one indication; return the messages it completed (usually zero or one)."""
        if len(chunk) > self.chunk_size:
            self.reset()
            raise LengthError(f"chunk of {len(chunk)} bytes exceeds {self.chunk_size}")
        self._buffer += bytes(chunk)
        self._full = max(self._full, len(chunk))
        short_chunk = len(chunk) < self._full
        try:
            messages = self._extract(short_chunk)
        except ProtocolError:
            self.reset()
            raise
        if len(self._buffer) > self.max_message_size:
            self.reset()
            raise LengthError(f"message exceeds {self.max_message_size} bytes")
        return messages

    def _extract(self, short_chunk: bool) -> list[bytes]:
        messages: list[bytes] = []
        while self._buffer:
            size = self._message_size(short_chunk)
            if size is None or len(self._buffer) < size:
                if short_chunk and self._buffer:
                    raise LengthError(
                        f"message ended after {len(self._buffer)} bytes, "
                        f"expected {size if size is not None else 'more'}"
                    )
                break
            messages.append(self._buffer[:size])
            self._buffer = self._buffer[size:]
        return messages

    def _message_size(self, short_chunk: bool) -> int | None:
        buffer = self._buffer
        if self.encrypted:
            if len(buffer) >= ENCRYPTED_HEADER_SIZE:
                length = int.from_bytes(
                    buffer[ENCRYPTED_HEADER_SIZE - 2 : ENCRYPTED_HEADER_SIZE], "little"
                )
                return ENCRYPTED_HEADER_SIZE + length
            if short_chunk and has_valid_crc(buffer) and len(buffer) >= MIN_PLAIN_FRAME:
                return len(buffer)  # an unencrypted answer on the encrypted channel
            return None
        if len(buffer) < COMMAND_SIZE:
            return None
        size = plain_frame_size(int.from_bytes(buffer[:COMMAND_SIZE], "little"))
        if size is not None:
            return size
        if (short_chunk or len(buffer) % self._full == 0) and has_valid_crc(buffer):
            return len(buffer)
        return None
