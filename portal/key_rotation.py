"""Re-encrypting stored secrets under the newest key of the ring (`manage.py rotate_secrets`).

After a new key is put in front of LATCHKEY_ENCRYPTION_KEY and every process restarted, old
values still decrypt (the ring keeps the old key), but they stay readable only as long as the old
key is listed. Rotation rewrites each one under the newest key, so the old key can go.

Every EncryptedTextField of every installed app is found through the app registry, so a secret
added later is covered without touching this module. Rows are read in primary-key batches, each
batch in its own transaction, and each value is written back only if the row still holds the
value that was read (compare and swap): a token refreshed meanwhile by a worker is never
overwritten with the older one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.db import models, transaction
from django.db.models.functions import Cast

from portal.crypto import EncryptedTextField, decrypt, is_current, newest_key, stored_key_id

RAW = "_stored_ciphertext"


@dataclass
class FieldRotation:
    """What rotation found and did in one encrypted column."""

    label: str
    rotated: int = 0
    current: int = 0
    unreadable: list = field(default_factory=list)  # primary keys whose value does not decrypt
    keys_before: Counter = field(default_factory=Counter)  # key id ("" for enc1) → rows


def encrypted_fields() -> Iterator[tuple[type[models.Model], EncryptedTextField]]:
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for f in model._meta.concrete_fields:
            if isinstance(f, EncryptedTextField):
                yield model, f


def _stored(model: type[models.Model], f: EncryptedTextField) -> models.QuerySet:
    """The column as stored (ciphertext): a Cast to a plain text field skips decryption."""
    return model._base_manager.alias(**{RAW: Cast(f.attname, output_field=models.TextField())})


def rotate_field(
    *, model: type[models.Model], f: EncryptedTextField, batch_size: int = 500, write: bool = True
) -> FieldRotation:
    report = FieldRotation(label=f"{model._meta.label}.{f.name}")
    rows = _stored(model, f).exclude(**{f"{RAW}__isnull": True}).exclude(**{RAW: ""})
    rows = rows.annotate(**{f"{RAW}_value": models.F(RAW)})
    last_pk = None
    while True:
        page = rows.order_by("pk")
        if last_pk is not None:
            page = page.filter(pk__gt=last_pk)
        batch = list(page.values_list("pk", f"{RAW}_value")[:batch_size])
        if not batch:
            return report
        last_pk = batch[-1][0]
        with transaction.atomic():
            for pk, stored in batch:
                report.keys_before[stored_key_id(stored) or ""] += 1
                try:
                    plain = decrypt(stored)
                except ValueError:
                    report.unreadable.append(pk)
                    continue
                if is_current(stored):
                    report.current += 1
                    continue
                if not write:
                    continue
                # get_prep_value encrypts under the newest key.
                changed = (
                    _stored(model, f).filter(pk=pk, **{RAW: stored}).update(**{f.attname: plain})
                )
                if changed:
                    report.rotated += 1
                else:  # written meanwhile, by a process that encrypts under the newest key
                    report.current += 1


def rotate_secrets(*, batch_size: int = 500, write: bool = True) -> list[FieldRotation]:
    """Re-encrypt every stored secret under the newest key (or, with write=False, only count
    which key each is under and which cannot be read)."""
    newest_key()  # fail before touching anything if there is no key at all
    return [
        rotate_field(model=model, f=f, batch_size=batch_size, write=write)
        for model, f in encrypted_fields()
    ]
