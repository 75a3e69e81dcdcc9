"""peers/register_duties.py: the REGISTER duties every registrar peer checks."""

from __future__ import annotations

from decoder_conformance.peers import register_duties
from decoder_conformance.peers.register_duties import CSeqTracker, digest_uri_findings
from wire import digest, sip


def register(cseq: int, *, call_id: str = "c1", branch: str | None = None) -> sip.SipRequest:
    return sip.make_request(
        "REGISTER",
        "sip:127.0.0.1:5070",
        sent_by=("127.0.0.1", 5060),
        transport="UDP",
        from_uri="sip:alice@127.0.0.1",
        from_tag="t",
        to_uri="sip:alice@127.0.0.1",
        call_id=call_id,
        cseq=cseq,
        branch=branch,
    )


def test_cseq_must_grow_on_one_call_id_but_a_retransmission_repeats_it() -> None:
    tracker = CSeqTracker()
    first = register(1, branch="z9hG4bK-a")
    assert tracker.findings(first) == []
    assert tracker.findings(first) == []  # the same request again (same branch)
    assert tracker.findings(register(2, branch="z9hG4bK-b")) == []
    assert tracker.findings(register(1, call_id="c2", branch="z9hG4bK-c")) == []  # another Call-ID
    (code, detail), *rest = tracker.findings(register(2, branch="z9hG4bK-d"))
    assert code == register_duties.CSEQ_NOT_INCREASING and "CSeq 2 after 2" in detail and not rest


def test_digest_uri_must_be_the_request_uri() -> None:
    challenge = digest.Challenge(realm="r", nonce="n", algorithm="MD5", qop=["auth"])
    request = register(1)
    same = digest.build_authorization(challenge, "REGISTER", request.uri, "alice", "secret")
    other = digest.build_authorization(challenge, "REGISTER", "sip:127.0.0.1", "alice", "secret")
    assert digest_uri_findings(same, request) == []
    [(code, detail)] = digest_uri_findings(other, request)
    assert code == register_duties.AUTH_URI and "sip:127.0.0.1:5070" in detail
