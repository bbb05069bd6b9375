"""Client for the Nuki Bridge HTTP API v1.13 (no Django here: stdlib, httpx2, PyNaCl, redis).

`client` makes the calls; `failures` words what went wrong, `redact` keeps tokens out of
logs, `tokens` signs requests, `locking` keeps one request at a time per bridge, `models`
reads the answers."""

from .client import NO_RETRY, BridgeClient, RetryPolicy
from .errors import BridgeError
from .locking import (
    FileBridgeLock,
    LocalBridgeLock,
    LockFactory,
    RedisBridgeLock,
    default_lock_factory,
)
from .models import (
    ActionResult,
    BridgeInfo,
    Callback,
    CallbackEvent,
    Device,
    DeviceType,
    DoorSensorState,
    LockAction,
    LockState,
    LockStateCode,
    LogEntry,
    ScanResult,
)
from .tokens import TokenMode, TokenSigner, encrypt_token, format_ts, hash_token

__all__ = [
    "NO_RETRY",
    "ActionResult",
    "BridgeClient",
    "BridgeError",
    "BridgeInfo",
    "Callback",
    "CallbackEvent",
    "Device",
    "DeviceType",
    "DoorSensorState",
    "FileBridgeLock",
    "LocalBridgeLock",
    "LockAction",
    "LockFactory",
    "LockState",
    "LockStateCode",
    "LogEntry",
    "RedisBridgeLock",
    "RetryPolicy",
    "ScanResult",
    "TokenMode",
    "TokenSigner",
    "default_lock_factory",
    "encrypt_token",
    "format_ts",
    "hash_token",
]
