"""Nuki Web (cloud, OAuth2): codes, app access, actions, state and logs through Nuki's servers."""
