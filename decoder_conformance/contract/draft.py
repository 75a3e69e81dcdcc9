"""A device profile drafted from one run's observations (`--discover PATH`).

A discovery run pins nothing (the generic profile, unless one is given), so every reading and
every error code the device chose is recorded rather than judged. The draft pins what was seen:
the reading of each observed point, the most frequent code of each refusal, and it promotes the
practices and SHOULDs the device kept, so a later firmware is checked against this one's
behaviour as well as against the page. The limits and `policy_write` are pinned from what the
discovery probes measured (`decoder_conformance/device/probe.py`), each with a comment saying how;
where a probe could not run, or stopped at its ceiling, the profile's value is kept and the comment
says why. Everything else (identity, the other capabilities, timers, binds) is copied from the
profile the run used. Points and refusals the run did not observe are listed as comments, to be
filled in by hand or left open.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from decoder_conformance.contract.observations import Observations
from decoder_conformance.contract.profile import CAPABILITIES, Profile

#: The comment on a limit or capability no probe result was recorded for.
NOT_PROBED = "no probe result"


def _toml(value: object) -> str:
    """A TOML scalar or array of strings (JSON's quoting is valid TOML for these)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _comment(text: str) -> str:
    """`text` on one line, to follow a `#`."""
    return " ".join(text.split())


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
    ]
    if observations.probe_note:
        lines.append(f"# Discovery probes: {_comment(observations.probe_note)}")
    lines += ["", "[device]"]
    device = profile.device
    for key in ("url", "model", "firmware", "user", "restart_command"):
        value = getattr(device, key)
        if value:
            lines.append(f"{key} = {_toml(value)}")
    if not device.url and target.startswith("http"):
        lines.append(f"# url = {_toml(target)}  # or give it with --device")
    lines += ["", "[capabilities]"]
    lines += [_capability_line(observations, name) for name in sorted(CAPABILITIES)]

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
        *(_limit_line(observations, key, value) for key, value in vars(profile.limits).items()),
        "",
        "[binds]",
        f"spare = [{', '.join(_toml(b) for b in profile.binds.spare)}]",
        "",
        "[gb28181]              # the decoder's own GB28181 settings (no page field): check",
        *(f"{key} = {_toml(value)}" for key, value in vars(profile.gb28181).items()),
        "",
    ]
    return "\n".join(lines)


def _capability_line(observations: Observations, name: str) -> str:
    """`name = true|false`: as probed when a probe found it, else the profile's (and why)."""
    profile = observations.profile
    probe = observations.capabilities_probed.get(name)
    if probe is None:  # no probe measures this capability
        return f"{name} = {_toml(profile.has(name))}"
    if probe.value is None:
        return (
            f"{name} = {_toml(profile.has(name))}  # not probed: {_comment(probe.detail)}; "
            f"{profile.source}'s value"
        )
    return f"{name} = {_toml(probe.value)}  # probed: {_comment(probe.detail)}"


def _limit_line(observations: Observations, key: str, value: object) -> str:
    """`key = N`: the probed limit, or the profile's value with why it was kept."""
    source = observations.profile.source
    probe = observations.limits_probed.get(key)
    if probe is None:
        return f"{key} = {_toml(value)}  # {NOT_PROBED}; {source}'s value"
    if probe.value is None:
        return f"{key} = {_toml(value)}  # not probed: {_comment(probe.detail)}; {source}'s value"
    if probe.at_least:
        return (
            f"{key} = {_toml(value)}  # probed: accepted at least {probe.value} "
            f"({_comment(probe.detail)}); {source}'s value kept"
        )
    return f"{key} = {_toml(probe.value)}  # probed: {_comment(probe.detail)}"
