"""Client for the Nuki Web API (cloud). No Django here: httpx2 only."""

from .client import AuthType, NukiWebAuth, NukiWebClient, NukiWebError, Smartlock

__all__ = ["AuthType", "NukiWebAuth", "NukiWebClient", "NukiWebError", "Smartlock"]
