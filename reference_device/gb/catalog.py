"""The decoder's channel list for Catalog queries (A.2.6; notes §3 "Decoder channels").

The standard does not say which channels a decoder (type 114) lists. The reference decoder lists
one item per decoder output (`--gb-channels`, default 16; 0 gives the Annex N empty answer,
SumNum 0): ID = the device ID's first ten digits (its domain) + type 133 "display" + the
device's network digit + the output number as the 6-digit serial, ParentID = the device. Names
are Chinese ("解码器输出 3") so that an encoding defect shows in every Catalog.

Fields: the twelve 2016 requires (DeviceID, Name, Manufacturer, Model, Owner, CivilCode, Address,
Parental, ParentID, RegisterWay, Secrecy, Status ON); under 2022, which dropped it, no Owner.
"""

from __future__ import annotations

from typing import Final

from reference_device.gb.settings import Edition, GbSettings
from wire import gb_id, manscdp

MANUFACTURER: Final = "reference-decoder"
MODEL: Final = "RD-GB"
FIRMWARE: Final = "1.0"
DEVICE_NAME: Final = "参考解码器"
CHANNEL_NAME: Final = "解码器输出 {n}"
ADDRESS: Final = "本地"
OWNER: Final = "Owner"
#: Type code of a decoder output channel: 133 "display" (notes §3, [inference]).
CHANNEL_TYPE: Final = gb_id.TYPE_DISPLAY


def channel_id(device_id: str, number: int) -> str:
    """The ID of output `number` (1-based) of decoder `device_id`; ValueError for a bad one."""
    parsed = gb_id.parse_id(device_id, known_type_only=False)
    return gb_id.make_id(
        CHANNEL_TYPE,
        number,
        center=parsed.center_code,
        industry=device_id[8:10],
        network=parsed.network,
    )


def channel_items(device_id: str, settings: GbSettings) -> list[manscdp.CatalogItem]:
    """One Catalog item per decoder output, in output order ([] when the ID is not a GB ID)."""
    if not gb_id.is_valid_id(device_id):
        return []
    civil_code = device_id[:6]
    items = []
    for number in range(1, settings.channels + 1):
        fields = {
            "DeviceID": channel_id(device_id, number),
            "Name": CHANNEL_NAME.format(n=number),
            "Manufacturer": MANUFACTURER,
            "Model": MODEL,
            "Owner": OWNER,
            "CivilCode": civil_code,
            "Address": ADDRESS,
            "Parental": "0",
            "ParentID": device_id,
            "RegisterWay": "1",
            "Secrecy": "0",
            "Status": "ON",
        }
        if settings.edition is Edition.GB2022:
            del fields["Owner"]
        items.append(manscdp.CatalogItem(fields))
    return items
