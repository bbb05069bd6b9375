"""manage.py rotate_secrets: re-encrypt every stored secret under the newest encryption key.

Rotation, step by step (also in .env.example):
1. put a new key in front: LATCHKEY_ENCRYPTION_KEY=new,old; restart web, worker and beat;
2. run this command: every secret (bridge tokens, Nuki Web OAuth tokens and webhook secrets,
   PMS secrets, iCal URLs: every EncryptedTextField) is rewritten under the new key;
3. drop the old key once no stay link needs it any more: this command lists the links still
   derived with an old key and when the last of them expires. (Stay links are not re-keyed:
   that would break the link already in the guest's email.)

`--check` only counts and reads, writing nothing. The command fails when a value cannot be
decrypted with any listed key (a key was dropped too early): put that key back and run again.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from bookings.stay.links import stay_link_key_ids_backfill, stay_links_on_old_keys
from portal.crypto import newest_key
from portal.key_rotation import rotate_secrets


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the newest key of LATCHKEY_ENCRYPTION_KEY."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--check", action="store_true", help="Only report; change nothing.")

    def handle(self, *args, batch_size: int, check: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        newest = newest_key().kid
        self.stdout.write(f"newest key: {newest}")
        reports = rotate_secrets(batch_size=batch_size, write=not check)
        unreadable = []
        for report in reports:
            before = ", ".join(
                f"{kid or 'no key id'}: {n}" for kid, n in sorted(report.keys_before.items())
            )
            verb = "to re-encrypt" if check else "re-encrypted"
            self.stdout.write(
                f"{report.label}: {report.rotated if not check else _stale(report)} {verb}, "
                f"{report.current} already under {newest}"
                + (f" (before: {before})" if before else "")
            )
            if report.unreadable:
                unreadable.append(f"{report.label} (rows {report.unreadable[:10]})")
        if not check:
            stay_link_key_ids_backfill(batch_size=batch_size)
        for kid, (count, until) in sorted(stay_links_on_old_keys().items()):
            self.stdout.write(
                f"stay links: {count} still use key {kid or '(unknown)'}; keep it listed in "
                f"LATCHKEY_ENCRYPTION_KEY until {until:%Y-%m-%d %H:%M} UTC"
            )
        if unreadable:
            raise CommandError(
                "Cannot decrypt (was a key dropped from LATCHKEY_ENCRYPTION_KEY?): "
                + "; ".join(unreadable)
            )


def _stale(report) -> int:
    return sum(report.keys_before.values()) - report.current - len(report.unreadable)
