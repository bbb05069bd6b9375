"""Client for the Nuki Web API (cloud). No Django here: httpx only."""

from .client import AuthType, NukiWebAuth, NukiWebClient, NukiWebError, Smartlock

__all__ = ["AuthType", "NukiWebAuth", "NukiWebClient", "NukiWebError", "Smartlock"]
