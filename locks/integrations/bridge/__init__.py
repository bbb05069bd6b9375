"""Nuki Bridges on the LAN (HTTP API): actions, state and logs; no codes."""
