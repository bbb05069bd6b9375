"""Sentences the lock integrations store for a manager to read: a command's reason and its
"what to do", a code's last error, a bridge's or connection's last error. They are written
in English where they arise (the protocol code under locks/nuki/ imports no Django) and kept
so in the database; the pages show them in the reader's language through `advice()`.

web/tests/test_advice.py finds every such sentence in locks/ and fails until it is listed
here (and so in the catalogue, where `make messages` picks it up and the German test wants
its translation).
"""

from __future__ import annotations

from django.utils.translation import gettext, gettext_noop

SENTENCES: tuple[str, ...] = (
    gettext_noop(
        "Unpair the locks this agent should not serve, or serve them with a second "
        "agent near them (LATCHKEY_AGENT_MAX_LOCKS is the cap)."
    ),
    gettext_noop("No on-site agent serves this lock."),
    gettext_noop("Check the agent near the door is running and has paired this lock."),
    gettext_noop(
        "Check that the computer running the agent near the door is on, online and "
        "running the agent; the portal retries."
    ),
    gettext_noop("The on-site agent did not answer in time."),
    gettext_noop("Check that the agent near the door is running and online; the portal retries."),
    gettext_noop("The change was edited while the on-site agent worked on it."),
    gettext_noop("Nothing to do: the portal starts it again."),
    gettext_noop("A lock's driver cannot be changed."),
    gettext_noop("Give the bridge's IP address or host name."),
    gettext_noop("Remove codes that are no longer needed from this lock."),
    gettext_noop("This lock cannot report its keypad codes."),
    gettext_noop("This lock cannot hold keypad codes."),
    gettext_noop("This lock cannot be operated remotely."),
    gettext_noop("The lock did not answer in time."),
    gettext_noop("Nothing to do: the portal retries."),
    gettext_noop("Waiting for Nuki Web's request limit for this account."),
    gettext_noop("Waiting for the bridge's request limit."),
    gettext_noop("Nothing to do: the portal sends it when the limit allows."),
    gettext_noop("Change the bridge's address to its address on your local network."),
    gettext_noop("This lock is no longer connected to a bridge."),
    gettext_noop("Add the bridge again and import its locks."),
    gettext_noop("The bridge could not reach the lock."),
    gettext_noop("Check that the lock is in range of the bridge and its batteries are fine."),
    gettext_noop("Nuki Web is still applying an earlier change for this code."),
    gettext_noop("The lock is offline."),
    gettext_noop("Check the lock's batteries and its connection; the portal keeps retrying."),
    gettext_noop("Nothing to do yet: the portal retries automatically."),
    gettext_noop("This lock cannot limit codes to weekdays or times."),
    gettext_noop("The lock already holds this code."),
    gettext_noop("Generate a new code for this stay."),
    gettext_noop("No Nuki bridge answered at this address."),
    gettext_noop(
        "Check that the bridge is powered and on the network, that its IP address and "
        "port are right, and that its HTTP API is enabled in the Nuki app."
    ),
    gettext_noop("Try again; if it keeps happening, report it."),
    gettext_noop("The bridge firmware may be newer or older than Latchkey supports; report it."),
    gettext_noop(
        "Ask for the token again and press the bridge's button within 30 seconds, while"
        " its LED is lit."
    ),
    gettext_noop(
        "The lock may be out of the bridge's Bluetooth range, its batteries may be "
        "empty, or it may be jammed. Check it and try again."
    ),
    gettext_noop("A bridge can only call back plain http:// URLs."),
    gettext_noop(
        "Use an http:// callback URL that carries a secret, reachable from the bridge's network."
    ),
    gettext_noop("Use a shorter host name or path."),
    gettext_noop("List the callbacks again; it may have been removed already."),
    gettext_noop(
        "Enter the token shown in the Nuki app (Manage bridge, HTTP API), or get one with /auth."
    ),
    gettext_noop(
        "Check that this server keeps time (NTP) and compare with the bridge's time "
        "(currentTime in /info, via a plain token). If both clocks are right, check the"
        " token in the Nuki app."
    ),
    gettext_noop("This is a fault in Latchkey or an unsupported bridge firmware; report it."),
    gettext_noop("Turn it on in the Nuki app (Manage bridge), or copy the token from there."),
    gettext_noop("Its firmware may be too old, or it is a software bridge; update it."),
    gettext_noop("Check the lock's batteries and that it is within Bluetooth range of the bridge."),
    gettext_noop("Try again; if it keeps happening, reboot the bridge."),
    gettext_noop("Try again; if it keeps failing, check the bridge in the Nuki app."),
    gettext_noop(
        "Another app or integration may be using the bridge heavily, or a lock action "
        "is still running. Try again shortly."
    ),
    gettext_noop(
        "Copy the current token from the Nuki app (Manage bridge, HTTP API) or get one "
        "with /auth; it changes when the bridge is reset."
    ),
    gettext_noop(
        "It may have been unpaired from the bridge, or the ID is wrong. Check the lock "
        "list in the Nuki app."
    ),
    gettext_noop(
        "Try again in a minute. If it keeps happening, check that the bridge answers "
        "(it may be hanging or rebooting)."
    ),
    gettext_noop(
        "Could not reach Redis, which keeps requests to each bridge one at a time, so "
        "the bridge was not called."
    ),
    gettext_noop("Check that Redis is running and reachable from this server."),
    gettext_noop("Reconnect Nuki Web in the portal's integrations."),
    gettext_noop("Nuki Web refused this: the account lacks the permission for this lock."),
    gettext_noop("Check in Nuki Web that the account may manage this lock, then reconnect."),
    gettext_noop("Nuki Web does not know this lock or authorization."),
    gettext_noop("This keypad code already exists on the lock."),
    gettext_noop("The lock is still busy with an earlier change."),
    gettext_noop("Nuki Web requires a paid plan for this."),
    gettext_noop("Check the Nuki Web subscription of this account."),
    gettext_noop("Nuki Web did not answer in time."),
    gettext_noop("Open Integrations → Nuki Web and connect again; codes wait until then."),
    gettext_noop("Connect Nuki Web in the portal's integrations."),
    gettext_noop(
        "If they are not needed, remove them at the lock, or let Latchkey remove codes "
        "it did not create (organization setting)."
    ),
    gettext_noop(
        "Remove codes that are no longer needed from this lock; codes of ended stays "
        "are removed automatically."
    ),
    gettext_noop(
        "The action was not carried out in time and was cancelled, so the door does not"
        " open or close later than asked."
    ),
    gettext_noop("Check that the lock and its bridge are online, then try again."),
    gettext_noop("This lock cannot give access through the Nuki app."),
    gettext_noop("App access needs a lock connected through Nuki Web."),
    gettext_noop("This lock cannot limit a code to weekdays or times of day."),
    gettext_noop("Use a lock connected through Nuki Web, or give this access without limits."),
    gettext_noop(
        "Remove codes that are no longer needed from this lock (see its codes), or move"
        " some stays to another door."
    ),
    gettext_noop("An unexpected error stopped this change."),
    gettext_noop("The portal retries it; if this stays, contact support."),
)


def advice(text: str) -> str:
    """`text` in the reader's language: a stored sentence, or several of them joined (a
    bridge's error is its reason and its fix in one line); anything else as stored."""
    if not text:
        return text
    translated = gettext(text)
    if translated != text:
        return translated
    for sentence in _LONGEST_FIRST:
        if sentence in text:
            text = text.replace(sentence, gettext(sentence))
    return text


_LONGEST_FIRST = sorted(SENTENCES, key=len, reverse=True)
