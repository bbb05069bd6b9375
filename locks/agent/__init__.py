"""Latchkey's on-site agent: the program on a small computer near the doors.

It reaches the portal only outbound (HTTPS, long-polling for jobs), so it works behind any
home router, and it talks to Nuki Smart Locks over Bluetooth LE as a paired *app* (ID type 0)
through `locks.nuki.ble`. The shared keys it holds never leave its disk: the portal sees lock
addresses, states, codes and logs, never key material.

Dependencies are httpx2, bleak and PyNaCl only (no Django, nothing from the portal), so the
package can be copied to a Raspberry Pi together with `locks/nuki/ble`.

Modules, each small on purpose:

* `state`: the state directory (agent.json, locks/<address>.json, log cursors, result outbox),
  written atomically with mode 0600.
* `portal`: the HTTP client of the agent protocol (`/agent/v1/...`).
* `sessions`: one BLE session at a time per lock, through an injectable transport factory.
* `jobs`: what each job kind does on the lock, and how failures become results.
* `runner`: the loop (report locks, poll jobs, run them, post results, back off).
* `__main__`: `python -m locks.agent enroll | pair | set-pin | status | run`.
"""

AGENT_VERSION = "0.1.0"
