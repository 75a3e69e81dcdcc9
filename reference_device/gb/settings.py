"""Process-wide GB28181 settings, from the `--gb-*` flags (reference_device/__main__.py)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from wire import manscdp

#: The `X-GB-ver` value a 2022 device sends on REGISTER (2022 Annex I; the spec's example).
GB_VERSION_2022: Final = "3.0"
X_GB_VER: Final = "X-GB-ver"
MAX_CHANNELS: Final = 10_000


class Edition(IntEnum):
    """The edition of GB/T 28181 the device follows."""

    GB2016 = 2016
    GB2022 = 2022


@dataclass(frozen=True)
class GbSettings:
    """Edition, keepalive interval (s) and count (§9.6 defaults 60 s, 3), decoder outputs."""

    edition: Edition = Edition.GB2016
    keepalive_interval: float = 60.0
    keepalive_count: int = 3
    channels: int = 16

    @property
    def charset(self) -> str:
        """The MANSCDP body charset: GB2312 under 2016 (§6.10 "should"), GB18030 under 2022
        (§6.10 "shall")."""
        if self.edition is Edition.GB2022:
            return manscdp.ENCODING_GB18030
        return manscdp.ENCODING_GB2312

    @property
    def version_header(self) -> str | None:
        """The `X-GB-ver` value to send on REGISTER: 3.0 under 2022, none under 2016."""
        return GB_VERSION_2022 if self.edition is Edition.GB2022 else None
