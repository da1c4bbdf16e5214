"""Sensor families' protocols: UUIDs, start bytes, pure decoders (see base.py).

Covered so far: WitMotion BLE 5.0 (experimental). Polar PMD and Movesense GSP
are still to come (issue 3).
"""

from stridesense.streaming.devices.witmotion import WitMotion

FAMILIES = {WitMotion.name: WitMotion}


def family_for(name: str | None, service_uuids: list[str]):
    """The family an advertisement belongs to, or None."""
    for family in FAMILIES.values():
        if family.matches(name, service_uuids):
            return family
    return None
