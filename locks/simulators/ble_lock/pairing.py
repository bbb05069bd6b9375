"""The lock side of the pairing exchange (spec v1.10, "Authorize app"), one per connection.

    CL Request Data(Public Key)      -> SL Public Key (only in pairing mode)
    CL Public Key                    -> SL Challenge n_K1          (both derive the shared key)
    CL Authorization Authenticator   -> SL Challenge n_K2          (h1(pk_A|pk_K|n_K1) checked)
    CL Authorization Data            -> SL Authorization-ID        (authenticator checked, id kept)
    CL Authorization-ID Confirmation -> SL Status COMPLETE         (authorization stored)

The authorization is stored only when the confirmation checks out, and the lock then leaves
pairing mode. Any failure ends the exchange: the client has to start again with Request Data.

The exchange sees the lock only through `PairingStore`, the few things pairing needs (its keys,
whether it is in pairing mode, room for another user, and storing the result), so it never
imports the lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from locks.nuki.ble import commands as c
from locks.nuki.ble.constants import CommandId, IdType, StatusCode
from locks.nuki.ble.crypto import (
    KeyPair,
    RandomSource,
    authenticators_equal,
    new_challenge,
    shared_key,
)
from locks.nuki.ble.errors import NukiErrorCode, ProtocolError
from locks.nuki.ble.pairing import (
    authorization_authenticator,
    authorization_data_authenticator,
    authorization_id_authenticator,
    authorization_id_confirmation_authenticator,
)

from .errors import Refused
from .model import Authorization


class PairingStore(Protocol):
    """What the pairing exchange needs of the lock (the simulated lock is one)."""

    keys: KeyPair
    uuid: bytes
    random: RandomSource

    @property
    def in_pairing_mode(self) -> bool: ...

    def has_room_for_authorization(self, *, replacing_bridge: bool = False) -> bool: ...

    def allocate_authorization_id(self) -> int: ...

    def store_paired_authorization(
        self,
        *,
        authorization_id: int,
        id_type: int,
        app_id: int,
        name: str,
        shared_key: bytes,
        leave_pairing_mode: bool = True,
    ) -> Authorization: ...


@dataclass
class _Pending:
    """An authorization that got its id but is not confirmed yet."""

    authorization_id: int
    id_type: int
    app_id: int
    name: str


class PairingExchange:
    """State of one connection's pairing exchange."""

    def __init__(self, lock: PairingStore) -> None:
        self.lock = lock
        self.reset()

    def reset(self) -> None:
        self.step = "idle"
        self.client_public_key = b""
        self.shared_key = b""
        self.nonce_k = b""
        self.pending: _Pending | None = None

    def _fail(self, code: int, reason: str) -> Refused:
        self.reset()
        return Refused(code, reason)

    def _expect(self, step: str, command: c.Command) -> None:
        if not self.lock.in_pairing_mode:
            raise self._fail(NukiErrorCode.P_ERROR_NOT_PAIRING, "pairing mode has ended")
        if self.step != step:
            raise self._fail(NukiErrorCode.ERROR_UNKNOWN, f"{command.NAME} out of sequence")

    def handle(self, command: c.Command) -> list[c.Command]:
        """Answer one unencrypted pairing command; raises `Refused` for an Error Report."""
        lock = self.lock
        if isinstance(command, c.RequestData):
            if command.command_identifier != CommandId.PUBLIC_KEY:
                raise self._fail(NukiErrorCode.P_ERROR_BAD_PARAMETER, "only the public key")
            if not lock.in_pairing_mode:
                raise self._fail(NukiErrorCode.P_ERROR_NOT_PAIRING, "not in pairing mode")
            self.reset()
            self.step = "public_key"
            return [c.PublicKey(public_key=lock.keys.public_key)]

        if isinstance(command, c.PublicKey):
            self._expect("public_key", command)
            try:
                key = shared_key(lock.keys.secret_key, command.public_key)
            except ProtocolError:
                raise self._fail(
                    NukiErrorCode.P_ERROR_BAD_PARAMETER, "unusable public key"
                ) from None
            self.client_public_key, self.shared_key = command.public_key, key
            self.nonce_k = new_challenge(lock.random)
            self.step = "authenticator"
            return [c.Challenge(nonce_k=self.nonce_k)]

        if isinstance(command, c.AuthorizationAuthenticator):
            self._expect("authenticator", command)
            expected = authorization_authenticator(
                self.shared_key, self.client_public_key, lock.keys.public_key, self.nonce_k
            )
            if not authenticators_equal(expected, command.authenticator):
                raise self._fail(NukiErrorCode.P_ERROR_BAD_AUTHENTICATOR, "authenticator")
            self.nonce_k = new_challenge(lock.random)
            self.step = "data"
            return [c.Challenge(nonce_k=self.nonce_k)]

        if isinstance(command, c.AuthorizationData):
            self._expect("data", command)
            expected = authorization_data_authenticator(
                self.shared_key,
                command.id_type,
                command.app_id,
                command.name,
                command.nonce_abf,
                self.nonce_k,
            )
            if not authenticators_equal(expected, command.authenticator):
                raise self._fail(NukiErrorCode.P_ERROR_BAD_AUTHENTICATOR, "data authenticator")
            if command.id_type not in tuple(IdType):
                raise self._fail(NukiErrorCode.P_ERROR_BAD_PARAMETER, "unknown ID type")
            if not lock.has_room_for_authorization(
                replacing_bridge=command.id_type == IdType.BRIDGE
            ):
                raise self._fail(NukiErrorCode.P_ERROR_MAX_USER, "no room for another user")
            self.pending = _Pending(
                lock.allocate_authorization_id(), command.id_type, command.app_id, command.name
            )
            self.nonce_k = new_challenge(lock.random)
            self.step = "confirmation"
            return [
                c.AuthorizationId(
                    authenticator=authorization_id_authenticator(
                        self.shared_key,
                        self.pending.authorization_id,
                        lock.uuid,
                        self.nonce_k,
                        command.nonce_abf,
                    ),
                    authorization_id=self.pending.authorization_id,
                    uuid=lock.uuid,
                    nonce_k=self.nonce_k,
                )
            ]

        if isinstance(command, c.AuthorizationIdConfirmation):
            self._expect("confirmation", command)
            pending = self.pending
            assert pending is not None
            expected = authorization_id_confirmation_authenticator(
                self.shared_key, pending.authorization_id, self.nonce_k
            )
            if command.authorization_id != pending.authorization_id or not authenticators_equal(
                expected, command.authenticator
            ):
                raise self._fail(NukiErrorCode.P_ERROR_BAD_AUTHENTICATOR, "confirmation")
            lock.store_paired_authorization(
                authorization_id=pending.authorization_id,
                id_type=pending.id_type,
                app_id=pending.app_id,
                name=pending.name,
                shared_key=self.shared_key,
            )
            self.reset()
            return [c.Status(status=StatusCode.COMPLETE)]

        raise self._fail(NukiErrorCode.ERROR_UNKNOWN, f"{command.NAME} is not a pairing command")
