"""Request parameters after the GET/POST merge, with the control-character rule applied on read."""

from collections.abc import Mapping

from reference_device.errors import ApiError, ErrorCode
from reference_device.validation import has_control


class Params:
    """Merged parameters (one value per name). Reading a value with a control character: 1203."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def get(self, name: str) -> str | None:
        """The value of `name`, None if absent; ApiError 1203 if it holds a control character."""
        value = self._values.get(name)
        if value is not None and has_control(value):
            raise ApiError(ErrorCode.BAD_VALUE, f"control character in {name}")
        return value

    def raw(self, name: str) -> str | None:
        """The value of `name` unchecked (for tokens, which are compared, never stored)."""
        return self._values.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._values
