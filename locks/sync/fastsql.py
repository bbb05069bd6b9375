"""The booking path's statements the ORM cannot build cheaply enough, hand-built here only
(and the claim of drawn codes, which the ORM has no words for).

Why: every new stay locks its property's lock rows and then asks which drawn codes are taken
(a stay without app access locks them shared and claims its candidates first, so that other
stays of the property need not wait for its commit: DEVELOPERS.md). Built with the ORM, these
statements cost about 2 ms more CPU per booking (a union of three querysets, and a SELECT of
the lock's many columns); bench/ingest_floor.py then falls under its guard (bookings / floor
>= 0.6). A new stay's codes and commands go in as one statement (`codes_insert_with_commands`).
Everything else on the path is the ORM (`save`, `bulk_create`, `select_for_update`).

Only `locks/sync/desired.py` imports this module. The one INSERT of codes is Django's own,
wrapped (no conflict target to name); column names are ours, values always go in as
parameters. The SQL of each SELECT's shape is built once per process; rows come back through
the ORM's own converters as models.
"""

from __future__ import annotations

import datetime as dt
import zlib
from functools import cache

from django.db import connection
from django.db.models import sql

from locks.models import AccessCode, Lock, LockCommand, ObservedCode
from locks.sync.reserved import ReservedCodes


@cache
def _lock_rows_sql(vendor: str, shared: bool) -> tuple[str, list[str], list[tuple]]:
    """SELECT of whole Lock rows by property, and per column the ORM's converters."""
    qn = connection.ops.quote_name
    table = Lock._meta.db_table
    fields = Lock._meta.concrete_fields
    columns = ", ".join(f"{qn(table)}.{qn(f.column)}" for f in fields)
    sql = f"SELECT {columns} FROM {qn(table)} WHERE {qn('property_id')} = %s ORDER BY {qn('id')}"
    if connection.features.has_select_for_update:
        # NO KEY UPDATE: enough to serialize the drawing of codes, and it does not block the
        # foreign-key checks of rows that point at the locks (new codes, commands).
        # SHARE (`shared`): holders that claim their codes one by one (`codes_claim`) do not
        # wait for each other, but still for every exclusive holder, and it for them.
        no_key = connection.features.has_select_for_no_key_update
        if shared:
            sql += " FOR SHARE"
        else:
            sql += " FOR NO KEY UPDATE" if no_key else " FOR UPDATE"
    converters = []
    for index, field in enumerate(fields):
        col = field.get_col(table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if found:
            converters.append((index, tuple(found), col))
    return sql, [f.attname for f in fields], converters


def lock_rows_locked(*, property_id: int, shared: bool = False) -> list[Lock]:
    """The property's locks, in id order, row-locked until the transaction ends (the same
    rows and the same lock strength as `Lock.objects.filter(property_id=...).order_by("id")
    .select_for_update(no_key=True)`; FOR SHARE when `shared`)."""
    sql, attnames, converters = _lock_rows_sql(connection.vendor, shared)
    with connection.cursor() as cursor:
        cursor.execute(sql, [property_id])
        rows = cursor.fetchall()
    locks = []
    for row in rows:
        if converters:
            row = list(row)
            for index, funcs, col in converters:
                value = row[index]
                for func in funcs:
                    value = func(value, col, connection)
                row[index] = value
        locks.append(Lock.from_db(connection.alias, attnames, row))
    return locks


@cache
def _reserved_sql(callback: ReservedCodes, vendor: str) -> tuple[str, tuple, str, str]:
    """A registered app's (code, property id) queryset, compiled once: it filters by nothing
    that changes between calls (locks/sync/reserved.py). Also its two columns' names."""
    queryset = callback().order_by()
    code, prop = (queryset.model._meta.get_field(n).column for n in queryset.query.values_select)
    sql, params = queryset.query.get_compiler(connection=connection).as_sql()
    qn = connection.ops.quote_name
    return sql, tuple(params), qn(code), qn(prop)


@cache
def _codes_taken_sql(
    locks: int, codes: int, exclude_holder: bool, reserved: tuple[ReservedCodes, ...], vendor: str
) -> tuple[str, tuple]:
    in_locks = ", ".join(["%s"] * locks)
    in_codes = ", ".join(["%s"] * codes)
    not_holder = " AND holder <> %s" if exclude_holder else ""
    sql = (
        f"SELECT code FROM {AccessCode._meta.db_table} WHERE lock_id IN ({in_locks})"
        f" AND wanted = %s AND code IN ({in_codes}) AND valid_from < %s AND valid_until > %s"
        f"{not_holder}"
        f" UNION SELECT code FROM {ObservedCode._meta.db_table} WHERE lock_id IN ({in_locks})"
        f" AND access_code_id IS NULL AND code IN ({in_codes})"
    )
    static: tuple = ()
    for callback in reserved:
        part, part_params, code, prop = _reserved_sql(callback, vendor)
        # The app's rows, narrowed to the candidates and the locks' properties.
        sql += (
            f" UNION SELECT r.{code} FROM ({part}) AS r WHERE r.{code} IN ({in_codes})"
            f" AND r.{prop} IN (SELECT property_id FROM {Lock._meta.db_table}"
            f" WHERE id IN ({in_locks}))"
        )
        static += (part_params,)
    return sql, static


def codes_taken(
    *,
    lock_ids: list[int],
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    candidates: list[str],
    exclude_holder: str | None,
    reserved: tuple[ReservedCodes, ...],
) -> set[str]:
    """What `desired.codes_taken` answers (see there), in one statement. `reserved` are the
    registered apps' callbacks (locks/sync/reserved.py): their querysets are compiled once
    and join the union, narrowed to these locks' properties and the candidates."""
    sql, static = _codes_taken_sql(
        len(lock_ids), len(candidates), bool(exclude_holder), reserved, connection.vendor
    )
    params = [
        *lock_ids, True, *candidates,
        connection.ops.adapt_datetimefield_value(valid_until),
        connection.ops.adapt_datetimefield_value(valid_from),
        *([exclude_holder] if exclude_holder else []),
        *lock_ids, *candidates,
    ]  # fmt: skip
    for part_params in static:
        params += [*part_params, *candidates, *lock_ids]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {code for (code,) in cursor.fetchall()}


def codes_claim(*, lock_ids: list[int], candidates: list[str]) -> None:
    """Take a transaction-level advisory lock on each (lock, candidate) pair, in key order,
    until the transaction ends (PostgreSQL; elsewhere writers are serialized anyway).

    Why: holders that row-lock their locks FOR SHARE (`lock_rows_locked(shared=True)`) no
    longer queue behind each other for the whole of each other's transaction. Two of them
    still must not give the same code on a lock at once: the second to claim a code waits
    here for the first to commit, and the `codes_taken` that follows (a new statement, so a
    new snapshot) then sees the first one's code. Keys that collide only make a holder wait.
    A later round of the caller's draw claims more keys out of order: two holders that each
    drew the other's next candidates could then wait in a circle, which PostgreSQL breaks by
    failing one of them (the delivery is answered 500 and retried; with 6-digit codes drawn
    at random this needs two such coincidences at once)."""
    if connection.vendor != "postgresql" or not lock_ids or not candidates:
        return
    keys = sorted(
        {
            (lock_id % 2**31) << 32 | zlib.crc32(code.encode())
            for lock_id in lock_ids
            for code in candidates
        }
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k", [keys])


def codes_insert_with_commands(
    codes: list[AccessCode], *, command: LockCommand, wants_command: str
) -> dict[int, int]:
    """INSERT `codes` (unsaved) and, for each whose state is `wants_command`, a copy of
    `command` (unsaved; its lock, organization and code taken from the code's row), in one
    statement. Sets each code's primary key; returns {code id: command id}.

    Why: a new stay's codes and their commands were two statements, one after the other, with
    the property's lock rows held (and two passes of Django's bulk_create). The codes' INSERT
    is Django's own (its compiler, as bulk_create builds it); the command's columns come from
    its model's fields, its values from `command` as the ORM would save them."""
    if not codes:
        return {}
    meta = AccessCode._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key and not f.generated]
    insert = sql.InsertQuery(AccessCode)
    insert.insert_values(fields, codes, raw=False)
    compiler = insert.get_compiler(connection=connection)
    returning = ("organization", "lock", "state")
    compiler.returning_fields = [meta.pk, *(meta.get_field(n) for n in returning)]
    ((codes_sql, codes_params),) = compiler.as_sql()
    qn = connection.ops.quote_name
    from_code = {
        "access_code_id": "c.id",
        "lock_id": "c.lock_id",
        "organization_id": "c.organization_id",
    }
    columns, values, params = [], [], []
    for field in LockCommand._meta.concrete_fields:
        if field.primary_key or field.generated:
            continue
        columns.append(qn(field.column))
        if field.attname in from_code:
            values.append(from_code[field.attname])
        else:
            value = field.get_db_prep_save(field.pre_save(command, add=True), connection)
            values.append(f"%s::{field.cast_db_type(connection)}")
            params.append(value)
    table = qn(LockCommand._meta.db_table)
    statement = (
        f"WITH c AS ({codes_sql}),"
        f" k AS (INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)}"
        f" FROM c WHERE c.state = %s ORDER BY c.id RETURNING id, access_code_id)"
        " SELECT c.id, c.lock_id, k.id FROM c LEFT JOIN k ON k.access_code_id = c.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [*codes_params, *params, wants_command])
        rows = cursor.fetchall()
    by_lock = {code.lock_id: code for code in codes}
    commands = {}
    for code_id, lock_id, command_id in rows:
        code = by_lock[lock_id]  # one code per holder and lock (one_code_per_holder_and_lock)
        code.pk = code_id
        code._state.adding, code._state.db = False, connection.alias
        if command_id is not None:
            commands[code_id] = command_id
    return commands
