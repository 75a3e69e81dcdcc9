"""A device profile drafted from one run's observations (`--discover PATH`).

A discovery run pins nothing (the generic profile, unless one is given), so every reading and
every error code the device chose is recorded rather than judged. The draft pins what was seen:
the reading of each observed point, the most frequent code of each refusal, and it promotes the
practices and SHOULDs the device kept, so a later firmware is checked against this one's
behaviour as well as against the page. Everything else (identity, capabilities, timers, limits,
binds) is copied from the profile the run used. Points and refusals the run did not observe are
listed as comments, to be filled in by hand or left open.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from decoder_conformance.contract.observations import Observations
from decoder_conformance.contract.profile import CAPABILITIES, Profile


def _toml(value: object) -> str:
    """A TOML scalar or array of strings (JSON's quoting is valid TOML for these)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def draft_profile(
    observations: Observations, kept: Iterable[str], target: str, when: datetime | None = None
) -> str:
    """The profile TOML pinning what `observations` saw; `kept`: requirements that passed."""
    profile: Profile = observations.profile
    catalogue = observations.catalogue
    stamp = (when or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Drafted by --discover from {target} on {stamp}, with {profile.source}.",
        "# It pins what the device was seen to do where the page leaves the choice open, and",
        "# promotes the practices it kept: a later firmware that changes any of it fails. Review",
        "# every line before using it to sign off a device.",
        "",
        "[device]",
    ]
    device = profile.device
    for key in ("url", "model", "firmware", "user"):
        value = getattr(device, key)
        if value:
            lines.append(f"{key} = {_toml(value)}")
    if not device.url and target.startswith("http"):
        lines.append(f"# url = {_toml(target)}  # or give it with --device")
    lines += ["", "[capabilities]"]
    lines += [f"{name} = {_toml(profile.has(name))}" for name in sorted(CAPABILITIES)]

    lines += ["", "[errors]                # the code seen for each refusal (times seen)"]
    for name in sorted(catalogue.errors):
        counter = observations.codes.get(name)
        if name in profile.errors:
            lines.append(f"{name} = {_toml(profile.errors[name])}  # pinned by {profile.source}")
        elif counter:
            (code, times), *others = counter.most_common()
            also = f"; also seen: {', '.join(c for c, _n in others)}" if others else ""
            lines.append(f"{name} = {_toml(code)}  # seen {times} time(s){also}")
        elif catalogue.errors[name].source != "vendor":
            lines.append(f"# {name} = ?  (not seen in this run)")

    lines += ["", "[readings]              # the reading seen on each ambiguous point of the page"]
    disagreements = observations.disagreements()
    followed = observations.followed()
    for point, requirement in sorted(catalogue.points.items()):
        if point in disagreements:
            seen = ", ".join(disagreements[point])
            lines.append(f"# {point} = ?  ({requirement.id}: seen following {seen}; pin by hand)")
        elif point in followed:
            lines.append(f"{point} = {_toml(followed[point])}  # {requirement.id}")
        else:
            names = " | ".join(r.name for r in requirement.readings)
            lines.append(f"# {point} = ?  ({requirement.id}: not observed; one of {names})")

    promoted = sorted(
        req_id
        for req_id in set(kept)
        if req_id in catalogue.requirements and not catalogue.requirements[req_id].can_fail
    )
    lines += [
        "",
        "[findings]              # practices and SHOULDs this device kept: a lapse now fails",
        "promote = [",
        *(f"    {_toml(req_id)}," for req_id in promoted),
        "]",
        "",
        "[timers]",
        *(f"{key} = {_toml(value)}" for key, value in vars(profile.timers).items()),
        "",
        "[limits]",
        *(f"{key} = {_toml(value)}" for key, value in vars(profile.limits).items()),
        "",
        "[binds]",
        f"spare = [{', '.join(_toml(b) for b in profile.binds.spare)}]",
        "",
    ]
    return "\n".join(lines)
