"""Stand-ins for the hardware and cloud Latchkey talks to, each speaking the real protocol on
loopback, for tests and the demo (DESIGN.md: nothing but tests and demo/ imports them).

- `bridge/`: a Nuki hardware bridge (Bridge HTTP API): `python -m locks.simulators.bridge`.
- `nukiweb/`: the Nuki Web API (api.nuki.io) with OAuth2 and webhooks:
  `python -m locks.simulators.nukiweb`.
- `ble_lock/`: a Nuki Smart Lock over the BLE protocol (any `Transport`).
- `loopback.py`: the HTTP server and callback receiver the HTTP stand-ins share.
"""
