"""Adapters for each PMS's native webhook: how a delivery is authenticated, and how its
payload becomes the reservations it describes. One module per PMS (hostaway.py, guesty.py,
smoobu.py, lodgify.py, hospitable.py, generic.py), what they share in base.py; `ADAPTERS`
maps a connection's kind to its adapter.

Authentication follows what each PMS offers (README.md, Integrations; and the sample
payloads in bookings/tests/pms_samples.py):

- Hostaway: HTTP basic auth configured on the unified webhook; the connection's secret is
  the password (the user name is not checked).
- Guesty: Svix-style signature (`svix-id`, `svix-timestamp`, `svix-signature: v1,<base64>`
  over "id.timestamp.body"), key = the `whsec_` secret Guesty issues.
- Lodgify: `ms-signature: sha256=<hex>` HMAC-SHA256 of the body, key = the secret Lodgify
  returns when the webhook is subscribed.
- Hospitable: `Signature: <hex>` HMAC-SHA256 of the body, key = the webhook secret Hospitable
  hands out at onboarding.
- Smoobu: no signature and no basic auth: the unguessable URL is the credential.
- Generic JSON: `X-Latchkey-Signature: sha256=<hex>` HMAC-SHA256 of the body with the
  connection's secret, or basic auth with the secret as the password.

Ordering versions: every adapter extracts the PMS's own modification time where the payload
carries one (Hostaway `updatedOn`, Guesty `lastUpdatedAt`/`publishedAt`, Smoobu `modifiedAt`,
Hospitable envelope `created` + its ordered ULID id, Lodgify `updated_at` when present, generic
`updated_at`). Without one the service orders by receipt.
"""

from bookings.pms.adapters.base import Adapter, Rejected, Reservation
from bookings.pms.adapters.generic import Generic
from bookings.pms.adapters.guesty import Guesty
from bookings.pms.adapters.hospitable import Hospitable
from bookings.pms.adapters.hostaway import Hostaway
from bookings.pms.adapters.lodgify import Lodgify
from bookings.pms.adapters.smoobu import Smoobu

__all__ = ["ADAPTERS", "Adapter", "Rejected", "Reservation"]

ADAPTERS: dict[str, Adapter] = {
    a.kind: a for a in (Hostaway(), Guesty(), Smoobu(), Lodgify(), Hospitable(), Generic())
}
