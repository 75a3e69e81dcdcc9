"""Bundled reference decoder: an HTTP implementation of the SIP-module API the suite checks."""

from typing import Final

__version__: Final = "0.1.0"
IMPLEMENTATION: Final = "reference_device"
