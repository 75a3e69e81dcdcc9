"""Who a gb28181 account is on the wire (2016 §6.1.2, Annex J.1; notes §1 "URIs").

* device ID: `localAccount` (20 digits); platform ID: `serverId`;
* SIP domain: `realm`, or the first ten digits of `serverId` when `realm` is ``*`` or empty
  (`wire.gb_id.realm_of`); the registrar's host when `serverId` is not a GB ID either;
* digest username: `username`, or the device ID when empty (the digest realm is the challenge's);
* Request-URI of REGISTER and of every MESSAGE to the platform: ``sip:<serverId>@<domain>``
  (the J.1 form; the platform accepts ``@IP:port`` too); From of both and To of REGISTER:
  ``sip:<deviceID>@<domain>``; To of a MESSAGE: ``sip:<serverId>@<domain>``.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Final

from wire import gb_id

ANY_REALM: Final = "*"
#: §9.10 time sync: the 200 to REGISTER carries ``Date: yyyy-MM-ddTHH:mm:ss.SSS`` (not RFC 1123).
_GB_DATE_RE: Final = re.compile(
    r"\s*(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,3}))?\s*\Z"
)


@dataclass(frozen=True)
class GbIdentity:
    """The addresses and names of one gb28181 account."""

    device_id: str
    server_id: str
    domain: str
    username: str

    @classmethod
    def of(
        cls, device_id: str, server_id: str, realm: str, username: str, server_host: str
    ) -> GbIdentity:
        """From the account fields (see the module docstring for the defaults)."""
        domain = realm.strip()
        if domain in ("", ANY_REALM):
            try:
                domain = gb_id.realm_of(server_id)
            except gb_id.GbIdError:
                domain = server_host
        return cls(device_id, server_id, domain, username or device_id)

    @property
    def device_uri(self) -> str:
        """``sip:<deviceID>@<domain>``: From of every request, To of REGISTER."""
        return f"sip:{self.device_id}@{self.domain}"

    @property
    def platform_uri(self) -> str:
        """``sip:<serverId>@<domain>``: Request-URI of REGISTER and MESSAGE, To of MESSAGE."""
        return f"sip:{self.server_id}@{self.domain}"


def parse_gb_date(value: str) -> datetime.datetime | None:
    """The §9.10 ``yyyy-MM-ddTHH:mm:ss.SSS`` Date value (local time), None when it is not one
    (an RFC 1123 Date from a plain registrar is not an error: it is just not GB time sync)."""
    match = _GB_DATE_RE.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    millis = int((match.group(7) or "0").ljust(3, "0"))
    try:
        return datetime.datetime(year, month, day, hour, minute, second, millis * 1000)
    except ValueError:
        return None
