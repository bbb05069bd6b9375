"""The authenticators of the pairing exchange, as pure functions.

Both ends compute the same values (the client to send or check them, a simulated lock to check
or send them), so they live here rather than inside the client. The spec's rule: an
authenticator is h1 over every row of the command's table except the authenticator itself, in
table order, including the rows that are not transmitted (dashed border).
"""

from __future__ import annotations

import struct

from .crypto import h1
from .values import encode_name

NAME_SIZE = 32


def authorization_authenticator(
    shared_key: bytes, client_public_key: bytes, lock_public_key: bytes, nonce_k: bytes
) -> bytes:
    """Authorization Authenticator (0x0005): h1(public key A | public key K | n_K)."""
    return h1(shared_key, client_public_key, lock_public_key, nonce_k)


def authorization_data_authenticator(
    shared_key: bytes, id_type: int, app_id: int, name: str, nonce_abf: bytes, nonce_k: bytes
) -> bytes:
    """Authorization Data (0x0006): h1(ID type | ID | name[32] | n_A/B/F | n_K)."""
    return h1(
        shared_key,
        struct.pack("<BI", id_type, app_id),
        encode_name(name, NAME_SIZE),
        nonce_abf,
        nonce_k,
    )


def authorization_id_authenticator(
    shared_key: bytes, authorization_id: int, uuid: bytes, nonce_k: bytes, nonce_abf: bytes
) -> bytes:
    """Authorization-ID (0x0007): h1(authorization id | UUID | n_K | n_A/B/F).

    The order follows the spec's table. The spec's worked example does not print n_A, so this
    one cannot be checked against it (see ble-vectors.json).
    """
    return h1(shared_key, struct.pack("<I", authorization_id), uuid, nonce_k, nonce_abf)


def authorization_id_confirmation_authenticator(
    shared_key: bytes, authorization_id: int, nonce_k: bytes
) -> bytes:
    """Authorization-ID Confirmation (0x001E): h1(authorization id | n_K)."""
    return h1(shared_key, struct.pack("<I", authorization_id), nonce_k)
