"""Hand-built SQL for the statements on the booking ingest path.

Why: the ORM spends about a millisecond of CPU building each statement, and a new booking runs
about ten of them: more than every other cost of the request together (bench/ingest.py). These
helpers build the SQL text once per model and shape, bind values exactly as the ORM does (each
field's `pre_save` and `get_db_prep_save`), convert what the database returns with the ORM's own
converters, and hand back ordinary model instances. So the business logic stays in the services,
written once, and only the statements underneath are cheaper.

They send no model signals (like `bulk_create`): use them where no pre_save/post_save receiver
has to run. Column names in `where` / `order_by` are written by us, never taken from input;
values always go in as parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


@cache
def _insert_fields(model: type[Model]) -> tuple:
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key)


@cache
def _insert_sql(model: type[Model], rows: int, vendor: str, skip_conflict: bool = False) -> str:
    qn = connection.ops.quote_name
    fields = _insert_fields(model)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
        f"VALUES {', '.join([row] * rows)}"
        f"{' ON CONFLICT DO NOTHING' if skip_conflict else ''}"
        f" RETURNING {qn(model._meta.pk.column)}"
    )


def _params(objs: Sequence[Model], fields: tuple) -> list:
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs for f in fields]


def _saved(obj: Model, pk) -> None:
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias


def insert(objs: Sequence[Model]) -> None:
    """INSERT the (unsaved) instances of one model in one statement and set their primary keys."""
    if not objs:
        return
    model = type(objs[0])
    params = _params(objs, _insert_fields(model))
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(model, len(objs), connection.vendor), params)
        pks = cursor.fetchall()
    for obj, (pk,) in zip(objs, pks, strict=True):
        _saved(obj, pk)


def insert_unless_exists(obj: Model) -> bool:
    """INSERT one instance unless a row with the same unique key exists (ON CONFLICT DO
    NOTHING: no error, so the transaction stays usable). True when it was inserted.

    Against a concurrent insert of the same key, PostgreSQL waits for that transaction and
    then reports the conflict, so the caller can go on to read (and lock) the row."""
    model = type(obj)
    params = _params([obj], _insert_fields(model))
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(model, 1, connection.vendor, skip_conflict=True), params)
        row = cursor.fetchone()
    if row is None:
        return False
    _saved(obj, row[0])
    return True


@cache
def _select_plan(model: type[Model], vendor: str) -> tuple[str, list[str], list[tuple]]:
    """The column list, the attribute names and, per column, the converters the ORM would
    apply (SQLite returns datetimes as text, JSON arrives as text, and so on)."""
    qn = connection.ops.quote_name
    table = model._meta.db_table
    fields = model._meta.concrete_fields
    columns = ", ".join(f"{qn(table)}.{qn(f.column)}" for f in fields)
    converters = []
    for index, field in enumerate(fields):
        col = field.get_col(table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if found:
            converters.append((index, tuple(found), col))
    return columns, [f.attname for f in fields], converters


def select(
    model: type[M],
    where: str,
    params: Sequence,
    *,
    order_by: str = "",
    for_update: bool = False,
    limit: int | None = None,
) -> list[M]:
    """SELECT whole rows of `model` WHERE `where` (placeholders %s), as model instances."""
    columns, attnames, converters = _select_plan(model, connection.vendor)
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"SELECT {columns} FROM {table} WHERE {where}"
    if order_by:
        sql += f" ORDER BY {order_by}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    if for_update and connection.features.has_select_for_update:
        # NO KEY UPDATE: enough to serialize writers of these rows, and it does not block the
        # foreign-key checks of rows that point at them (new codes, commands).
        no_key = connection.features.has_select_for_no_key_update
        sql += " FOR NO KEY UPDATE" if no_key else " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        rows = cursor.fetchall()
    found = []
    for row in rows:
        if converters:
            row = list(row)
            for index, funcs, col in converters:
                value = row[index]
                for func in funcs:
                    value = func(value, col, connection)
                row[index] = value
        found.append(model.from_db(connection.alias, attnames, row))
    return found


def values(sql: str, params: Sequence) -> list[tuple]:
    """Rows of a hand-written query (plain values, no conversion)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def prep_datetime(value):
    """A datetime as the database compares it (SQLite stores text in its own format)."""
    return connection.ops.adapt_datetimefield_value(value)
