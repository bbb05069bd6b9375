"""The floor under B's ping in bench/noisy_neighbour.py: the same server stack as the web
(uvicorn's event loop and HTTP parser, one process at the web's priority) answering with no
portal code at all.

- `GET /empty`: 200 at once: what an HTTP answer costs on this machine under A's noise;
- `GET /db`: 200 after one `SELECT 1` on a kept PostgreSQL connection (psycopg, async): the
  least an authenticated API request can cost, since its key must be looked up somewhere.

bench/db_probe.py pings both next to B's real ping. When even these miss the ping target in
the noisy phase, no design of the portal's can meet it on this machine.

Run by noisy_neighbour.py: `python -m uvicorn floor_http:app --port N` (cwd bench/,
FLOOR_HTTP_DSN set).
"""

from __future__ import annotations

import os

import psycopg

_state: dict = {}


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                dsn = os.environ["FLOOR_HTTP_DSN"]
                _state["db"] = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await _state["db"].close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/db":
        cursor = await _state["db"].execute("SELECT 1")
        await cursor.fetchone()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})
