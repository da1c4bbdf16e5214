"""Sensor families' protocols: UUIDs, start bytes, pure decoders (see base.py).

Covered: Polar PMD, Movesense GSP and WitMotion BLE 5.0, each checked
against its vendor's published vectors; experimental until checked against
recorded bytes from real sensors (docs/devices.md).
"""

from stridesense.streaming.devices.movesense import Movesense
from stridesense.streaming.devices.polar_pmd import PolarPmd
from stridesense.streaming.devices.witmotion import WitMotion

FAMILIES = {PolarPmd.name: PolarPmd, Movesense.name: Movesense, WitMotion.name: WitMotion}


def family_for(name: str | None, service_uuids: list[str]):
    """The family (model class, where a family has several) an advertisement belongs to, or None."""
    for family in FAMILIES.values():
        if family.matches(name, service_uuids):
            return family.for_advert(name)
    return None
