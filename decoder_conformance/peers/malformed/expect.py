"""What a malformed-SIP case expects of the device's answer, and the one function that judges it.

`judge(expect, answer)` is pure: the suite calls it on what the device sent, and the project's
negative controls call it on recorded bad answers (tests/decoder_conformance/peers/
test_malformed_corpus.py), so the check that fails a device is the check that is tested.
"""

from __future__ import annotations

from dataclasses import dataclass

from wire import sip

SUCCESS = frozenset(range(200, 300))
FINAL = frozenset(range(200, 700))
REFUSAL = frozenset(range(300, 700))


@dataclass(frozen=True)
class Expect:
    """The answers a case allows.

    `codes`: the final status codes allowed (None: any). `silent`: no final answer is allowed
    too (the case's request may be one nobody can answer). `unsupported`: option tags the 420's
    Unsupported must list. `headers`: header fields the answer must carry (Allow on a 405,
    Accept on a 415 for a type, Accept-Encoding for an encoding). `video_refused`: a 2xx is
    allowed only if its answer takes no video stream (RFC 3264 §6: port 0).
    """

    codes: frozenset[int] | None = None
    silent: bool = False
    unsupported: tuple[str, ...] = ()
    headers: tuple[tuple[int, tuple[str, ...]], ...] = ()
    video_refused: bool = False

    @property
    def open(self) -> bool:
        """Any answer or none: only liveness is judged."""
        return self.codes is None and self.silent

    def describe(self) -> str:
        """The expectation in a few words, for failure messages."""
        if self.open:
            return "any answer or none"
        if self.codes is None:
            codes = "a final answer"
        elif self.codes == SUCCESS:
            codes = "a 2xx"
        elif self.codes == REFUSAL:
            codes = "a final non-2xx answer"
        else:
            codes = " or ".join(str(c) for c in sorted(self.codes))
        extra = " (or no answer)" if self.silent else ""
        if self.video_refused:
            extra += ", a 2xx only with the video at port 0"
        return codes + extra


#: Liveness only: the RFC leaves the answer open.
OPEN = Expect(silent=True)
BAD_REQUEST = Expect(frozenset({400}))
BAD_REQUEST_OR_SILENT = Expect(frozenset({400}), silent=True)
ANSWERED_2XX = Expect(SUCCESS)
NOT_2XX = Expect(REFUSAL, silent=True)
NOT_FOUND_DIALOG = Expect(frozenset({481}))
METHOD_UNKNOWN = Expect(frozenset({405, 501}), headers=((405, ("Allow",)),))
TYPE_UNKNOWN = Expect(frozenset({415}), headers=((415, ("Accept",)),))
ENCODING_UNKNOWN = Expect(frozenset({415}), headers=((415, ("Accept-Encoding",)),))
NO_CONTENT_TYPE = Expect(frozenset({400, 415}))
SCHEME_UNKNOWN = Expect(frozenset({416}))
OUT_OF_ORDER = Expect(frozenset({500}))
VIDEO_NOT_TAKEN = Expect(FINAL, video_refused=True)
MAX_FORWARDS_ZERO = Expect(SUCCESS | {483})


def require_unknown(*tags: str) -> Expect:
    """420 whose Unsupported lists every tag (RFC 3261 §8.2.2.3)."""
    return Expect(frozenset({420}), unsupported=tags)


def _video_ports(body: bytes) -> list[int]:
    ports = []
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("m=video "):
            fields = line[2:].split()
            port = fields[1].split("/")[0] if len(fields) > 1 else ""
            ports.append(int(port) if port.isdigit() else -1)
    return ports


def judge(expect: Expect, answer: sip.SipResponse | None) -> str | None:
    """The problem with `answer` (the device's final answer; None: none came), or None."""
    if answer is None:
        return None if expect.silent else f"expected {expect.describe()}, observed no answer"
    code = answer.status_code
    seen = f"{code} {answer.reason}"
    if expect.codes is not None and code not in expect.codes:
        return f"expected {expect.describe()}, observed {seen}"
    if expect.video_refused and 200 <= code < 300:
        taken = [p for p in _video_ports(answer.body) if p != 0]
        if taken:
            return f"expected no video stream taken, observed {seen} taking video at port {taken}"
    wanted = dict(expect.headers).get(code, ())
    missing = [name for name in wanted if not answer.headers.get_all(name)]
    if missing:
        return f"expected the {code} to carry {', '.join(missing)}, observed none"
    if expect.unsupported and code == 420:
        listed = {t.strip().lower() for t in answer.headers.get_list("Unsupported")}
        absent = [t for t in expect.unsupported if t.lower() not in listed]
        if absent:
            return (
                f"expected the 420's Unsupported to list {', '.join(absent)}, observed "
                f"Unsupported {answer.headers.get_all('Unsupported') or 'absent'}"
            )
    return None
