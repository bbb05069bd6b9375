"""Entries the lock keeps: its activity log, authorizations, keypad codes and time control,
each listed, added, changed and removed through PIN-protected exchanges."""

from __future__ import annotations

from typing import Any

from . import commands as c
from .constants import StatusCode
from .errors import UnexpectedMessageError
from .exchange import Exchange, Listing
from .values import (
    NukiDateTime,
    NukiTime,
    keypad_code_problem,
)


def _time_window(
    time_limited: bool,
    allowed_from_date: NukiDateTime | None,
    allowed_until_date: NukiDateTime | None,
    allowed_weekdays: int,
    allowed_from_time: NukiTime | None,
    allowed_until_time: NukiTime | None,
) -> dict[str, Any]:
    """The allowed-* fields as the wire needs them: zeros stand for "not set"."""
    return {
        "time_limited": int(time_limited),
        "allowed_from_date": allowed_from_date or NukiDateTime.unset(),
        "allowed_until_date": allowed_until_date or NukiDateTime.unset(),
        "allowed_weekdays": allowed_weekdays,
        "allowed_from_time": allowed_from_time or NukiTime(0, 0),
        "allowed_until_time": allowed_until_time or NukiTime(0, 0),
    }


class EntriesClient(Exchange):
    """The lock's stored entries (log, authorizations, keypad codes, time control)."""

    async def request_log_entries(
        self,
        *,
        start_index: int = 0,
        count: int = 20,
        sort_order: int = 1,
        total_count: bool = True,
    ) -> Listing[c.LogEntry]:
        """Log entries (newest first by default), with the total if `total_count`."""
        async with self._busy:
            await self._pin_command(
                c.RequestLogEntries,
                start_index=start_index,
                count=count,
                sort_order=sort_order,
                total_count=int(total_count),
            )
            return await self._collect(c.LogEntry, c.LogEntryCount if total_count else None, count)

    async def enable_logging(self, enabled: bool = True) -> None:
        async with self._busy:
            await self._pin_command(c.EnableLogging, enabled=int(enabled))
            await self._expect_complete()

    async def request_authorization_entries(
        self, *, offset: int = 0, count: int = 100
    ) -> Listing[c.AuthorizationEntry]:
        """Authorizations (apps, bridges, fobs); the first one is our own."""
        async with self._busy:
            await self._pin_command(c.RequestAuthorizationEntries, offset=offset, count=count)
            return await self._collect(
                c.AuthorizationEntry, c.AuthorizationEntryCount, count, offset
            )

    async def remove_authorization_entry(self, authorization_id: int) -> None:
        async with self._busy:
            await self._pin_command(c.RemoveAuthorizationEntry, authorization_id=authorization_id)
            await self._expect_complete()

    async def update_authorization_entry(
        self,
        authorization_id: int,
        *,
        name: str,
        enabled: bool = True,
        remote_allowed: bool = False,
        time_limited: bool = False,
        allowed_from_date: NukiDateTime | None = None,
        allowed_until_date: NukiDateTime | None = None,
        allowed_weekdays: int = 0,
        allowed_from_time: NukiTime | None = None,
        allowed_until_time: NukiTime | None = None,
    ) -> None:
        async with self._busy:
            await self._pin_command(
                c.UpdateAuthorizationEntry,
                authorization_id=authorization_id,
                name=name,
                enabled=int(enabled),
                remote_allowed=int(remote_allowed),
                **_time_window(
                    time_limited,
                    allowed_from_date,
                    allowed_until_date,
                    allowed_weekdays,
                    allowed_from_time,
                    allowed_until_time,
                ),
            )
            await self._expect_complete()

    # -- keypad codes --------------------------------------------------------------------------

    async def add_keypad_code(
        self,
        code: int,
        name: str,
        *,
        time_limited: bool = False,
        allowed_from_date: NukiDateTime | None = None,
        allowed_until_date: NukiDateTime | None = None,
        allowed_weekdays: int = 0,
        allowed_from_time: NukiTime | None = None,
        allowed_until_time: NukiTime | None = None,
    ) -> c.KeypadCodeId | None:
        """Store a keypad code. Returns the lock's Keypad Code ID answer, or None if the lock
        only confirmed with Status COMPLETE (list the codes to learn the id then)."""
        problem = keypad_code_problem(code)
        if problem:
            raise ValueError(f"code: {problem}")
        command_fields = {
            "code": code,
            "name": name,
            **_time_window(
                time_limited,
                allowed_from_date,
                allowed_until_date,
                allowed_weekdays,
                allowed_from_time,
                allowed_until_time,
            ),
        }
        # Build once without the nonce to reject a bad name or date before any radio traffic.
        c.AddKeypadCode(**command_fields, nonce_k=bytes(32), security_pin=self._pin()).encode()
        async with self._busy:
            await self._pin_command(c.AddKeypadCode, **command_fields)
            answer = await self.expect(c.KeypadCodeId, c.Status)
        if isinstance(answer, c.KeypadCodeId):
            return answer
        assert isinstance(answer, c.Status)
        if answer.status != StatusCode.COMPLETE:
            raise UnexpectedMessageError(f"unexpected status 0x{answer.status:02X}")
        return None

    async def request_keypad_codes(
        self, *, offset: int = 0, count: int = 100
    ) -> Listing[c.KeypadCode]:
        async with self._busy:
            await self._pin_command(c.RequestKeypadCodes, offset=offset, count=count)
            return await self._collect(c.KeypadCode, c.KeypadCodeCount, count, offset)

    async def update_keypad_code(
        self,
        code_id: int,
        code: int,
        name: str,
        *,
        enabled: bool = True,
        time_limited: bool = False,
        allowed_from_date: NukiDateTime | None = None,
        allowed_until_date: NukiDateTime | None = None,
        allowed_weekdays: int = 0,
        allowed_from_time: NukiTime | None = None,
        allowed_until_time: NukiTime | None = None,
    ) -> None:
        problem = keypad_code_problem(code)
        if problem:
            raise ValueError(f"code: {problem}")
        command_fields = {
            "code_id": code_id,
            "code": code,
            "name": name,
            "enabled": int(enabled),
            **_time_window(
                time_limited,
                allowed_from_date,
                allowed_until_date,
                allowed_weekdays,
                allowed_from_time,
                allowed_until_time,
            ),
        }
        c.UpdateKeypadCode(**command_fields, nonce_k=bytes(32), security_pin=self._pin()).encode()
        async with self._busy:
            await self._pin_command(c.UpdateKeypadCode, **command_fields)
            await self._expect_complete()

    async def remove_keypad_code(self, code_id: int) -> None:
        async with self._busy:
            await self._pin_command(c.RemoveKeypadCode, code_id=code_id)
            await self._expect_complete()

    # -- time control ---------------------------------------------------------------------------

    async def add_time_control_entry(
        self, *, weekdays: int, time: NukiTime, lock_action: int
    ) -> c.TimeControlEntryId:
        async with self._busy:
            await self._pin_command(
                c.AddTimeControlEntry, weekdays=weekdays, time=time, lock_action=lock_action
            )
            answer = await self.expect(c.TimeControlEntryId)
        assert isinstance(answer, c.TimeControlEntryId)
        return answer

    async def request_time_control_entries(self) -> Listing[c.TimeControlEntry]:
        async with self._busy:
            await self._pin_command(c.RequestTimeControlEntries)
            return await self._collect(c.TimeControlEntry, c.TimeControlEntryCount, 0xFF)

    async def update_time_control_entry(
        self, entry_id: int, *, enabled: bool, weekdays: int, time: NukiTime, lock_action: int
    ) -> None:
        async with self._busy:
            await self._pin_command(
                c.UpdateTimeControlEntry,
                entry_id=entry_id,
                enabled=int(enabled),
                weekdays=weekdays,
                time=time,
                lock_action=lock_action,
            )
            await self._expect_complete()

    async def remove_time_control_entry(self, entry_id: int) -> None:
        async with self._busy:
            await self._pin_command(c.RemoveTimeControlEntry, entry_id=entry_id)
            await self._expect_complete()
