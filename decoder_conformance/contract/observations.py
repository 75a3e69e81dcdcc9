"""What a device was seen to choose where the page leaves the choice open.

Two kinds of choice are recorded per run: the **reading** a device follows on an ambiguous point
of the page (`Requirement.point`, e.g. `id_type`: a JSON integer or a decimal string), and the
**error code** it answers for each refusal the page does not number. A profile may pin either;
then a different choice is the device's defect (DeviceFailure). Unpinned, any listed reading and
any code passes and is recorded for the summary and for `--discover`, which drafts a profile
pinning what it saw.

A discovery run also measures what the cases cannot observe without a profile to trust: the
device's limits (`LimitProbe`) and whether it takes a setting the page does not document
(`CapabilityProbe`). `decoder_conformance/device/probe.py` measures them at the end of the run;
the draft pins them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn

from decoder_conformance.contract.catalogue import Catalogue, Requirement
from decoder_conformance.contract.profile import Profile
from decoder_conformance.failures import DeviceFailure, NotExercised


@dataclass(frozen=True)
class ReadingSeen:
    """One observation of the reading a device follows."""

    point: str
    reading: str
    requirement: str
    seen: str
    case: str


@dataclass(frozen=True)
class LimitProbe:
    """What a discovery probe measured of one `[limits]` entry.

    `value` is the limit found; with `at_least` the probe stopped at its ceiling `value` before
    the device refused anything. None when the probe could not run; `detail` says how it was
    measured, or why it could not be.
    """

    value: int | None
    detail: str
    at_least: bool = False

    @property
    def ran(self) -> bool:
        """True when the probe measured something (exactly or as a lower bound)."""
        return self.value is not None


@dataclass(frozen=True)
class CapabilityProbe:
    """What a discovery probe found of one `[capabilities]` entry (None: could not run)."""

    value: bool | None
    detail: str

    @property
    def ran(self) -> bool:
        """True when the probe found whether the device has the capability."""
        return self.value is not None


@dataclass
class Observations:
    """The readings and error codes seen in one run, checked against the profile's pins."""

    catalogue: Catalogue
    profile: Profile
    readings: list[ReadingSeen] = field(default_factory=list)
    #: Catalogue error name -> code -> how many times the device answered it.
    codes: dict[str, Counter[str]] = field(default_factory=dict)
    #: `[limits]` key -> what the discovery probes measured (empty: no probe ran).
    limits_probed: dict[str, LimitProbe] = field(default_factory=dict)
    #: `[capabilities]` key -> what the discovery probes found (empty: no probe ran).
    capabilities_probed: dict[str, CapabilityProbe] = field(default_factory=dict)
    #: Why the discovery probes did not run, or what went wrong with them ("" if nothing).
    probe_note: str = ""

    def requirement_of(self, point: str, req: str) -> Requirement:
        """The reading requirement of `point`, which must be the calling case's own (`req`).

        A reading is observed only by the cases of its own requirement, so a device's choice
        fails at most that one requirement (no cascades into cases about other things).
        """
        requirement = self.catalogue.points.get(point)
        if requirement is None:
            raise NotExercised(f"harness: no reading requirement has point {point!r}")
        if requirement.id != req:
            raise NotExercised(
                f"harness: point {point} belongs to {requirement.id}; case of {req} observed it"
            )
        return requirement

    def follow(self, req: str, point: str, reading: str, seen: str, case: str) -> None:
        """Record that the device follows `reading` on `point` (shown by `seen`).

        DeviceFailure when the profile pins another reading of the point.
        """
        requirement = self.requirement_of(point, req)
        try:
            requirement.reading(reading)
        except KeyError as exc:
            raise NotExercised(f"harness: {exc.args[0]}") from None
        self.readings.append(ReadingSeen(point, reading, requirement.id, seen, case))
        pinned = self.profile.readings.get(point)
        if pinned is not None and pinned != reading:
            raise DeviceFailure(
                f"[{requirement.id}] expected reading {point} = {pinned} "
                f"({requirement.reading(pinned).means}), pinned by {self.profile.source}\n"
                f"  observed reading {reading} ({requirement.reading(reading).means}): {seen}"
            )

    def none_of(self, req: str, point: str, seen: str) -> NoReturn:
        """The device follows none of the readings the page allows: its defect."""
        requirement = self.requirement_of(point, req)
        listed = "; ".join(f"{r.name}: {r.means}" for r in requirement.readings)
        raise DeviceFailure(
            f"[{requirement.id}] expected one of the readings of {point} ({listed})\n"
            f"  observed {seen}"
        )

    def code(self, name: str, code: str) -> None:
        """Record that the device answered `code` for the refusal the catalogue calls `name`."""
        self.codes.setdefault(name, Counter())[code] += 1

    def followed(self) -> dict[str, str]:
        """Point -> the reading seen (the last one when observations disagree)."""
        return {r.point: r.reading for r in self.readings}

    def disagreements(self) -> dict[str, list[str]]:
        """Points where the device was seen following more than one reading."""
        seen: dict[str, list[str]] = {}
        for r in self.readings:
            names = seen.setdefault(r.point, [])
            if r.reading not in names:
                names.append(r.reading)
        return {point: names for point, names in seen.items() if len(names) > 1}

    def export(self, since: ObservationsMark | None = None) -> dict[str, Any]:
        """What was observed after `since` (everything without it), JSON-ready: an xdist worker
        sends it to the controller, which `merge`s it (plugin/parallel.py)."""
        mark = since or ObservationsMark()
        codes = {
            name: dict(counter - mark.codes.get(name, Counter()))
            for name, counter in self.codes.items()
        }
        return {
            "readings": [asdict(r) for r in self.readings[mark.readings :]],
            "codes": {name: counted for name, counted in codes.items() if counted},
            "limits_probed": {k: asdict(v) for k, v in self.limits_probed.items()},
            "capabilities_probed": {k: asdict(v) for k, v in self.capabilities_probed.items()},
            "probe_note": self.probe_note,
        }

    def mark(self) -> ObservationsMark:
        """Where the observations stand now (for a later `export(since=...)`)."""
        codes = {name: Counter(counter) for name, counter in self.codes.items()}
        return ObservationsMark(len(self.readings), codes)

    def merge(self, data: Mapping[str, Any]) -> None:
        """Add what another process observed (an `export` of it) to these observations."""
        self.readings += [ReadingSeen(**r) for r in data.get("readings", [])]
        for name, counted in data.get("codes", {}).items():
            self.codes.setdefault(name, Counter()).update(counted)
        self.limits_probed |= {k: LimitProbe(**v) for k, v in data.get("limits_probed", {}).items()}
        self.capabilities_probed |= {
            k: CapabilityProbe(**v) for k, v in data.get("capabilities_probed", {}).items()
        }
        self.probe_note = self.probe_note or str(data.get("probe_note", ""))


@dataclass(frozen=True)
class ObservationsMark:
    """How far `Observations` had got: readings recorded and codes counted until then."""

    readings: int = 0
    codes: Mapping[str, Counter[str]] = field(default_factory=dict)
