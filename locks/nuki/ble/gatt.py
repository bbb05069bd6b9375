"""GATT services and characteristics of Nuki devices (UUID suffix -5501-11e4-916c-0800200c9a66).

Data on a pairing or GDIO characteristic is unencrypted; data on USDIO (user-specific) is
encrypted with the shared key of the authorization that sends it.
"""

from __future__ import annotations

from dataclasses import dataclass

_SUFFIX = "-5501-11e4-916c-0800200c9a66"


def nuki_uuid(prefix: str) -> str:
    """Full 128-bit UUID from the 8-hex-digit prefix the spec uses."""
    return prefix + _SUFFIX


MAX_CHUNK = 20
"""Largest value one write or indication carries at the default ATT MTU; longer messages are
split (spec: uint8[20])."""

ATT_HEADER = 3
"""Bytes of an ATT write/indication PDU that are not payload: a link carries MTU - 3."""
DEFAULT_MTU = 23
"""The ATT MTU of every BLE link until an MTU exchange raises it (Bluetooth Core, Vol 3 F)."""
MAX_MTU = 517
"""The largest ATT MTU (attribute values are at most 512 bytes)."""
MIN_CHUNK = DEFAULT_MTU - ATT_HEADER
"""No indication that is followed by more of the same message is shorter than this."""
MAX_INDICATION = MAX_MTU - ATT_HEADER


def chunk_size_for(mtu: int) -> int:
    """The payload one write or indication carries on a link with this ATT MTU."""
    if not DEFAULT_MTU <= mtu <= MAX_MTU:
        raise ValueError(f"ATT MTU {mtu} outside {DEFAULT_MTU}..{MAX_MTU}")
    return mtu - ATT_HEADER


@dataclass(frozen=True)
class NukiProfile:
    """The characteristics one device family uses."""

    name: str
    pairing_service: str
    pairing_gdio: str
    keyturner_service: str
    gdio: str | None
    usdio: str

    @property
    def encrypted_characteristics(self) -> frozenset[str]:
        return frozenset({self.usdio})


SMART_LOCK = NukiProfile(
    name="Smart Lock",
    pairing_service=nuki_uuid("a92ee100"),
    pairing_gdio=nuki_uuid("a92ee101"),
    keyturner_service=nuki_uuid("a92ee200"),
    gdio=nuki_uuid("a92ee201"),
    usdio=nuki_uuid("a92ee202"),
)

OPENER = NukiProfile(
    name="Opener",
    pairing_service=nuki_uuid("a92ae100"),
    pairing_gdio=nuki_uuid("a92ae101"),
    keyturner_service=nuki_uuid("a92ae200"),
    gdio=None,
    usdio=nuki_uuid("a92ae202"),
)

INITIALIZATION_SERVICE = nuki_uuid("a92ee000")
"""Advertised (without characteristics) by a Smart Lock that is not initialized yet."""

ULTRA_PAIRING_SERVICE = nuki_uuid("a92ee300")
ULTRA_PAIRING_GDIO = nuki_uuid("a92ee301")
"""Smart Lock Ultra / Go / 5th generation pair here and use a 4-byte PIN (FACTS.md)."""

ENCRYPTED_CHARACTERISTICS = frozenset({SMART_LOCK.usdio, OPENER.usdio})
"""Characteristics whose messages are framed as encrypted messages (length in the header)."""
