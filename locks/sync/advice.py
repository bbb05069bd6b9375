"""Advice on a command that the portal has stopped retrying.

Drivers write their `fix` for the attempt that failed ("…; the portal retries."): true while
attempts remain, false once the last one failed. The runner stores the text this module
makes of it on a command that failed for good, so a manager is never told to wait for a
retry that will not come.
"""

from __future__ import annotations

import re

STOPPED = "The portal has stopped retrying: press Retry once this is fixed."

# "Nothing to do: the portal retries.", "; the portal keeps retrying", "The portal retries
# it; …": every way a driver promises another attempt.
_PROMISE = re.compile(
    r"(?:nothing to do(?: yet)?:\s*)?"
    r"(?:;\s*|,\s*|\.\s*|^)?the portal (?:keeps retrying|retries(?: it)?(?: automatically)?)"
    r"[.;]?\s*",
    re.IGNORECASE,
)


def gave_up_fix(fix: str) -> str:
    """`fix` without its promise of a retry, followed by what to do now that none comes."""
    kept = _PROMISE.sub(". ", fix or "").strip(" .;,")
    if not kept:
        return STOPPED
    kept = kept[0].upper() + kept[1:]
    return f"{kept}. {STOPPED}"
