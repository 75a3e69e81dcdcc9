"""Digest guessing: svcrack (sipvicious) against a configured extension, bounded by the profile.

The extension gets a strong random password (masked in every report). svcrack sends REGISTER,
then INVITE, answering each challenge with the next guess of a dictionary of
[security].svcrack_attempts wrong passwords. Where the device challenges, no guess may be
accepted; a device that challenges neither is recorded as such: it has no digest to guess, which
the page does not ask for (SIP-SEC-CRACK-001's decision).
"""

from __future__ import annotations

import secrets

import pytest

from decoder_conformance.device.client import ConformanceFailure
from decoder_conformance.failures import NotExercised
from decoder_conformance.peers.sipvicious import CHALLENGES, svcrack

#: Passwords scanners try first, before the generated ones.
COMMON = ("1234", "12345", "123456", "password", "admin", "secret", "0000", "1111", "sip")
METHODS = ("REGISTER", "INVITE")
SVCRACK_TIMEOUT = 20.0  # svcrack's own socket timeout is 10 s


def guesses(extension: str, attempts: int, password: str) -> list[str]:
    """`attempts` wrong passwords: common ones, the extension's variants, then generated ones."""
    words = [*COMMON, extension, extension * 2, f"{extension}{extension[::-1]}"]
    words += [f"guess-{n:04d}" for n in range(attempts)]
    return [w for w in dict.fromkeys(words) if w != password][:attempts]


@pytest.mark.req("SIP-SEC-CRACK-001")
def test_svcrack_guesses_no_password(
    api,
    shared_bind_accounts,
    device_target,
    *,
    suite_host,
    device_hosts,
    scans,
    tmp_path,
    record_property,
):
    target = shared_bind_accounts[1]
    extension = target.local_account
    password = secrets.token_urlsafe(18)
    scans.secrets.add(password)
    api.modify(target.id, username=extension, password=password)
    attempts = device_target.profile.security.svcrack_attempts
    dictionary = guesses(extension, attempts, password)
    seen: dict[str, str] = {}
    for method in METHODS:
        result = svcrack(
            target.sip.host,
            target.sip.port,
            extension,
            dictionary,
            tmp_path / "svcrack",
            suite_host=suite_host,
            allowed_hosts=device_hosts,
            method=method,
            timeout=SVCRACK_TIMEOUT,
        )
        scans.keep(result.run)
        scans.secrets.update(result.cracked.values())
        # The event first: the device answered svcrack.
        if not result.codes:
            raise NotExercised(
                f"svcrack ({method}) logged no answer from {target.sip.address} "
                f"(outcomes {result.outcomes}):\n{result.run.text(scans.secrets)}"
            )
        challenges = [c for c in result.codes if c in CHALLENGES]
        tried = max(0, len(challenges) - 1)  # the first challenge answers the probe
        seen[method] = (
            f"challenged {len(challenges)} times, {tried} guesses answered"
            if challenges
            else f"never challenged (answered {sorted(set(result.codes))}): nothing to guess"
        )
        if result.cracked:
            raise ConformanceFailure(
                api.req,
                f"no wrong password accepted ({method}: {len(dictionary)} guesses, none of "
                "them the account's)",
                f"svcrack reports {scans.masked(str(result.cracked))} after {seen[method]}",
            )
        if challenges and tried > attempts:
            raise NotExercised(f"harness: svcrack sent {tried} guesses, over the {attempts} bound")
    for method, what in seen.items():
        record_property(f"svcrack {method}", what)
