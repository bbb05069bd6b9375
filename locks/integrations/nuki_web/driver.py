"""Driver for locks reached through Nuki Web (cloud → bridge → lock).

Keypad codes are authorizations of type 13; app access is an authorization of type 0 for a
Nuki account user (the holder, invited by email, sees it in their own Nuki app). Both carry
the date window, weekdays and times of day. Writes answer 204, which only means queued: the
entry stays `setting` until a DEVICE_AUTHS webhook or a read-back (reconcile) confirms it.

Fewer calls per code: a new keypad code is PUT straight away (no listing first). Nuki answers
409 when the digits are already on the lock or on their way; only then is the lock read, to
adopt our own earlier attempt (a worker that died after the PUT) or to report a conflict."""

from __future__ import annotations

from locks.integrations.base import (
    AccessKind,
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
from locks.integrations.nuki_web.connection import client_for
from locks.nuki.web import AuthType, NukiWebError
from locks.nuki.web.client import NukiWebAuth, auth_body

ACTION_CODES = {"unlock": 1, "lock": 2, "unlatch": 3, "lock_n_go": 4}


def as_driver_error(exc: NukiWebError) -> DriverError:
    return DriverError(
        exc.message,
        fix=exc.fix,
        permanent=exc.permanent,
        detail=str(exc),
        retry_after=exc.retry_after,
    )


def lock_code_from(auth: NukiWebAuth, emails: dict[int, str] | None = None) -> LockCode:
    app = auth.type == AuthType.APP
    return LockCode(
        auth.auth_id,
        None if app else auth.code,
        auth.name,
        auth.allowed_from,
        auth.allowed_until,
        weekdays=auth.weekdays,
        from_minute=auth.from_minute,
        until_minute=auth.until_minute,
        kind=AccessKind.APP if app else AccessKind.KEYPAD,
        account_email=(emails or {}).get(auth.account_user_id or 0, ""),
    )


class NukiWebDriver(Driver):
    kind = "nuki_web"
    capabilities = frozenset(
        {
            Capability.CODES,
            Capability.ACTIONS,
            Capability.STATE,
            Capability.LOGS,
            Capability.APP_ACCESS,
            Capability.SCHEDULES,
        }
    )

    @classmethod
    def capabilities_for(cls, lock) -> frozenset[str]:
        if lock.config.get("keypad") is False:
            return cls.capabilities - {Capability.CODES}  # no keypad paired: no codes
        return cls.capabilities

    def _client(self):
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
            if exc.status == 409:
                raise _Duplicate() from None
            raise as_driver_error(exc) from None
        finally:
            client.close()

    # Reading ---------------------------------------------------------------------------------
    def list_codes(self) -> list[LockCode]:
        """Keypad codes and app authorizations on the lock, ours or not (other types, such
        as fobs and the owner's bridge, are not access the portal manages)."""
        auths = self._call(lambda c: c.auths(self.lock.nuki_id))
        wanted = [a for a in auths if a.type in (AuthType.KEYPAD, AuthType.APP)]
        return [lock_code_from(a) for a in wanted]

    def find_code(self, spec: CodeSpec) -> LockCode | None:
        codes = self.list_codes()
        for code in codes:
            if code.kind == spec.kind and code.name == spec.name and (code.code or "") == spec.code:
                return code
        if spec.kind == AccessKind.KEYPAD and any(code.code == spec.code for code in codes):
            raise CodeConflict(spec.code)  # the digits are taken by an authorization not ours
        return None

    # Writing ---------------------------------------------------------------------------------
    def find_before_add(self, spec: CodeSpec) -> bool:
        # A keypad code's digits are unique on the lock: a repeated PUT answers 409, and only
        # then is the lock read. App authorizations have no such guard: look first.
        return spec.kind != AccessKind.KEYPAD

    def _body(self, client, spec: CodeSpec, *, creating: bool) -> dict:
        account_user_id = None
        if spec.kind == AccessKind.APP:
            language = self.lock.config.get("language", "en")
            user = client.account_user_for(
                email=spec.account_email, name=spec.name, language=language
            )
            account_user_id = user.account_user_id
        return auth_body(
            name=spec.name,
            code=spec.code if spec.kind == AccessKind.KEYPAD else "",
            account_user_id=account_user_id,
            valid_from=spec.valid_from,
            valid_until=spec.valid_until,
            weekdays=spec.weekdays,
            from_minute=spec.from_minute,
            until_minute=spec.until_minute,
            creating=creating,
        )

    def add_code(self, spec: CodeSpec) -> Applied:
        try:
            self._call(
                lambda c: c.auth_create(self.lock.nuki_id, self._body(c, spec, creating=True))
            )
        except _Duplicate:
            return self._after_duplicate(spec)
        return Applied(remote_id="", confirmed=False)

    def _after_duplicate(self, spec: CodeSpec) -> Applied:
        """409: the digits are on the lock or on their way. Ours (same name) is adopted;
        someone else's is a conflict; one still queued is retried once it has landed."""
        found = self.find_code(spec)  # raises CodeConflict for someone else's code
        if found is None:
            raise DriverError(
                "Nuki Web is still applying an earlier change for this code.",
                fix="Nothing to do: the portal retries.",
            )
        if found.matches(spec):
            return Applied(remote_id=found.remote_id, confirmed=True)
        return self.update_code(found.remote_id, spec)

    def update_code(self, remote_id: str, spec: CodeSpec) -> Applied:
        try:
            self._call(
                lambda c, rid: c.auth_update(
                    self.lock.nuki_id, rid, self._body(c, spec, creating=False)
                ),
                remote_id,
            )
        except _Duplicate:
            raise CodeConflict(spec.code) from None
        return Applied(remote_id=remote_id, confirmed=False)

    def remove_code(self, remote_id: str) -> bool:
        self._call(lambda c, rid: c.auth_delete(self.lock.nuki_id, rid), remote_id)
        return False  # queued: confirmed when the authorization is gone from a read-back

    def lock_action(self, action: str) -> LockStatus | None:
        self._call(lambda c: c.action(self.lock.nuki_id, ACTION_CODES[action]))
        return None


class _Duplicate(Exception):
    """Nuki Web answered 409: the keypad code exists on the lock or is queued for it."""
