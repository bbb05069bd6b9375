"""Driver for locks reached through Nuki Web (cloud → bridge → lock).

Keypad codes are authorizations of type 13. Writes answer 204, which only means queued: the
code stays `setting` until a DEVICE_AUTHS webhook or a read-back (reconcile) confirms it."""

from __future__ import annotations

from locks.drivers.base import (
    Applied,
    Capability,
    CodeConflict,
    CodeSpec,
    Driver,
    DriverError,
    LockCode,
    LockStatus,
    NotFoundOnLock,
)
from locks.nuki.web import AuthType, NukiWebError
from locks.nuki.web.client import keypad_body

ACTION_CODES = {"unlock": 1, "lock": 2, "unlatch": 3, "lock_n_go": 4}


def as_driver_error(exc: NukiWebError) -> DriverError:
    return DriverError(exc.message, fix=exc.fix, permanent=exc.permanent, detail=str(exc))


class NukiWebDriver(Driver):
    kind = "nuki_web"
    capabilities = frozenset(
        {Capability.CODES, Capability.ACTIONS, Capability.STATE, Capability.LOGS}
    )

    @classmethod
    def capabilities_for(cls, lock) -> frozenset[str]:
        if lock.config.get("keypad") is False:
            return cls.capabilities - {Capability.CODES}  # no keypad paired: no codes
        return cls.capabilities

    def _client(self):
        from locks.nukiweb import client_for

        try:
            return client_for(self.lock.organization_id)
        except NukiWebError as exc:
            raise as_driver_error(exc) from None

    def _call(self, fn, *args):
        client = self._client()
        try:
            return fn(client, *args)
        except NukiWebError as exc:
            if exc.status == 404:
                raise NotFoundOnLock(str(args[0]) if args else "") from None
            raise as_driver_error(exc) from None
        finally:
            client.close()

    def list_codes(self) -> list[LockCode]:
        auths = self._call(lambda c: c.auths(self.lock.nuki_id))
        return [
            LockCode(a.auth_id, a.code, a.name, a.allowed_from, a.allowed_until)
            for a in auths
            if a.type == AuthType.KEYPAD
        ]

    def find_code(self, spec: CodeSpec) -> LockCode | None:
        codes = self.list_codes()
        for code in codes:
            if code.code == spec.code and code.name == spec.name:
                return code
        if any(code.code == spec.code for code in codes):
            raise CodeConflict(spec.code)  # the digits are taken by an authorization not ours
        return None

    def add_code(self, spec: CodeSpec) -> Applied:
        body = keypad_body(
            name=spec.name, code=spec.code, valid_from=spec.valid_from, valid_until=spec.valid_until
        )
        try:
            self._call(lambda c: c.auth_create(self.lock.nuki_id, body))
        except DriverError as exc:
            if "already exists" in exc.reason:
                raise CodeConflict(spec.code) from None
            raise
        return Applied(remote_id="", confirmed=False)

    def update_code(self, remote_id: str, spec: CodeSpec) -> Applied:
        body = keypad_body(
            name=spec.name, code=spec.code, valid_from=spec.valid_from, valid_until=spec.valid_until
        )
        self._call(lambda c, rid: c.auth_update(self.lock.nuki_id, rid, body), remote_id)
        return Applied(remote_id=remote_id, confirmed=False)

    def remove_code(self, remote_id: str) -> bool:
        self._call(lambda c, rid: c.auth_delete(self.lock.nuki_id, rid), remote_id)
        return False  # queued: confirmed when the authorization is gone from a read-back

    def lock_action(self, action: str) -> LockStatus | None:
        self._call(lambda c: c.action(self.lock.nuki_id, ACTION_CODES[action]))
        return None
