"""Sensor families' protocols: UUIDs, start bytes, pure decoders (see base.py).

Covered so far: WitMotion BLE 5.0 and Movesense GSP (both experimental).
Polar PMD is still to come (issue 3).
"""

from stridesense.streaming.devices.movesense import Movesense
from stridesense.streaming.devices.witmotion import WitMotion

FAMILIES = {WitMotion.name: WitMotion, Movesense.name: Movesense}


def family_for(name: str | None, service_uuids: list[str]):
    """The family an advertisement belongs to, or None."""
    for family in FAMILIES.values():
        if family.matches(name, service_uuids):
            return family
    return None
