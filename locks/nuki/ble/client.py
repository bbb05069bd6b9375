"""The app side of the protocol: pairing and every exchange a Latchkey agent needs.

`NukiClient` acts as a Nuki *app* (ID type 0; pairing as a bridge would unregister a real Nuki
Bridge) and talks through any `Transport`. Each public method is one exchange as the spec
describes it:

* plain requests: Request Data(command) -> that command;
* nonce-protected: Request Data(Challenge) -> Challenge n_K -> command carrying n_K
  (Lock Action, Request Config, Request Advanced Config);
* PIN-protected: the same, with the security PIN after the nonce;
* listings (authorizations, log, keypad codes, time control): entries until Status COMPLETE.

While waiting for an answer the client skips messages that belong to no exchange (a late Status
of an earlier command, a pushed Nuki States), keeping the newest states in `last_states`, and
turns an Error Report into `NukiErrorReport`. All waits are bounded: `timeout` per answer
(field experience: about 3 s) and `action_timeout` for the motor to finish.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from . import commands as c
from .constants import CommandId, IdType, StatusCode
from .crypto import (
    KeyPair,
    authenticators_equal,
    new_challenge,
    shared_key,
)
from .entries import EntriesClient
from .errors import AuthenticationError, NukiErrorCode, NukiErrorReport, UnexpectedMessageError
from .exchange import Credentials
from .pairing import (
    authorization_authenticator,
    authorization_data_authenticator,
    authorization_id_authenticator,
    authorization_id_confirmation_authenticator,
)
from .values import (
    NukiDateTime,
    SecurityPin,
    to_lock_datetime,
)


@dataclass(frozen=True)
class LockActionResult:
    """Outcome of a lock action: whether ACCEPTED was seen, and the states pushed meanwhile."""

    accepted: bool
    states: list[c.NukiStates]


class NukiClient(EntriesClient):
    """Talks to one lock over one transport: pairing, states and actions, configuration, and
    (from `EntriesClient`) its stored entries. Not safe for concurrent use: one exchange at a
    time, as the lock itself handles one command at a time (an internal lock enforces it)."""

    # -- pairing --------------------------------------------------------------------------------

    async def pair(
        self,
        *,
        app_id: int,
        name: str,
        id_type: int = IdType.APP,
        keypair: KeyPair | None = None,
        verify_lock_authenticator: bool = True,
    ) -> Credentials:
        """Pair with a lock in pairing mode and keep the resulting credentials.

        `verify_lock_authenticator` checks the lock's Authorization-ID authenticator as the
        spec's table defines it; that formula cannot be checked against the spec's example
        (it needs n_A, which the example does not print), so it can be switched off if a real
        lock disagrees.
        """
        pairing = self.profile.pairing_gdio
        keypair = keypair or KeyPair.generate(self.random)
        async with self._busy:
            await self.send_plain(c.RequestData(command_identifier=CommandId.PUBLIC_KEY), pairing)
            lock_key = await self.expect(c.PublicKey)
            assert isinstance(lock_key, c.PublicKey)
            key = shared_key(keypair.secret_key, lock_key.public_key)

            await self.send_plain(c.PublicKey(public_key=keypair.public_key), pairing)
            first = await self.expect(c.Challenge)
            assert isinstance(first, c.Challenge)
            await self.send_plain(
                c.AuthorizationAuthenticator(
                    authenticator=authorization_authenticator(
                        key, keypair.public_key, lock_key.public_key, first.nonce_k
                    )
                ),
                pairing,
            )

            second = await self.expect(c.Challenge)
            assert isinstance(second, c.Challenge)
            nonce_a = new_challenge(self.random)
            await self.send_plain(
                c.AuthorizationData(
                    authenticator=authorization_data_authenticator(
                        key, id_type, app_id, name, nonce_a, second.nonce_k
                    ),
                    id_type=id_type,
                    app_id=app_id,
                    name=name,
                    nonce_abf=nonce_a,
                ),
                pairing,
            )

            granted = await self.expect(c.AuthorizationId)
            assert isinstance(granted, c.AuthorizationId)
            expected = authorization_id_authenticator(
                key, granted.authorization_id, granted.uuid, granted.nonce_k, nonce_a
            )
            if verify_lock_authenticator and not authenticators_equal(
                expected, granted.authenticator
            ):
                raise AuthenticationError("the lock's Authorization-ID authenticator is wrong")
            await self.send_plain(
                c.AuthorizationIdConfirmation(
                    authenticator=authorization_id_confirmation_authenticator(
                        key, granted.authorization_id, granted.nonce_k
                    ),
                    authorization_id=granted.authorization_id,
                ),
                pairing,
            )
            await self._expect_complete()

        self.credentials = Credentials(
            authorization_id=granted.authorization_id,
            shared_key=key,
            app_id=app_id,
            id_type=id_type,
            lock_public_key=lock_key.public_key,
            lock_uuid=granted.uuid,
        )
        return self.credentials

    # -- state and actions ----------------------------------------------------------------------

    async def request_nuki_states(self) -> c.NukiStates:
        """The keyturner state (lock state, battery, time)."""
        states = await self.request_data(c.NukiStates)
        self.last_states = states
        return states

    request_keyturner_states = request_nuki_states

    async def request_battery_report(self) -> c.BatteryReport:
        return await self.request_data(c.BatteryReport)

    async def lock_action(self, action: int, *, flags: int = 0) -> LockActionResult:
        """Run a lock action and wait until the lock reports it COMPLETE (after ACCEPTED)."""
        creds = self._credentials()
        async with self._busy:
            nonce = await self.challenge()
            await self.send_encrypted(
                c.LockAction(lock_action=action, app_id=creds.app_id, flags=flags, nonce_k=nonce)
            )
            loop = asyncio.get_running_loop()
            accepted = False
            states: list[c.NukiStates] = []
            deadline = loop.time() + self.timeout
            while True:
                answer = await self.expect(
                    c.Status, c.NukiStates, timeout=max(deadline - loop.time(), 0.0)
                )
                if isinstance(answer, c.NukiStates):
                    states.append(answer)
                    self.last_states = answer
                    continue
                assert isinstance(answer, c.Status)
                if answer.status == StatusCode.COMPLETE:
                    return LockActionResult(accepted=accepted, states=states)
                if answer.status != StatusCode.ACCEPTED:
                    raise UnexpectedMessageError(f"unknown status 0x{answer.status:02X}")
                if not accepted:
                    accepted = True
                    deadline = loop.time() + self.action_timeout

    # -- configuration --------------------------------------------------------------------------

    async def request_config(self) -> c.Config:
        async with self._busy:
            nonce = await self.challenge()
            await self.send_encrypted(c.RequestConfig(nonce_k=nonce))
            config = await self.expect(c.Config)
        assert isinstance(config, c.Config)
        return config

    async def set_config(self, **fields: Any) -> None:
        """Set Config with the given fields (all of SetConfig's fields but nonce and PIN)."""
        async with self._busy:
            await self._pin_command(c.SetConfig, **fields)
            await self._expect_complete()

    async def request_advanced_config(self) -> c.AdvancedConfig:
        async with self._busy:
            nonce = await self.challenge()
            await self.send_encrypted(c.RequestAdvancedConfig(nonce_k=nonce))
            config = await self.expect(c.AdvancedConfig)
        assert isinstance(config, c.AdvancedConfig)
        return config

    async def set_advanced_config(self, **fields: Any) -> None:
        async with self._busy:
            await self._pin_command(c.SetAdvancedConfig, **fields)
            await self._expect_complete()

    async def verify_security_pin(self) -> bool:
        """True if the lock accepts our PIN, False on K_ERROR_BAD_PIN."""
        async with self._busy:
            await self._pin_command(c.VerifySecurityPin)
            try:
                await self._expect_complete()
            except NukiErrorReport as exc:
                if exc.error_code == NukiErrorCode.K_ERROR_BAD_PIN:
                    return False
                raise
        return True

    async def set_security_pin(self, new_pin: SecurityPin | int) -> None:
        """Change the PIN; on success the client uses the new one from then on."""
        current = self._pin()
        pin = SecurityPin(new_pin, current.width) if isinstance(new_pin, int) else new_pin
        async with self._busy:
            await self._pin_command(c.SetSecurityPin, pin=pin)
            await self._expect_complete()
        self.security_pin = pin

    async def update_time(
        self, when: datetime | NukiDateTime | None = None, *, lock_tz: tzinfo | None = None
    ) -> None:
        """Set the lock's clock (now, by default) through `to_lock_datetime`."""
        if not isinstance(when, NukiDateTime):
            when = to_lock_datetime(when or datetime.now(UTC), lock_tz)
        async with self._busy:
            await self._pin_command(c.UpdateTime, time=when)
            await self._expect_complete()

    async def request_calibration(self) -> None:
        async with self._busy:
            await self._pin_command(c.RequestCalibration)
            await self._expect_complete(long_running=True)

    async def request_reboot(self) -> None:
        """Reboot the lock; it drops the connection, so only the send is awaited."""
        async with self._busy:
            await self._pin_command(c.RequestReboot)

    async def request_disconnect(self) -> None:
        async with self._busy:
            await self.send_encrypted(c.RequestDisconnect())
