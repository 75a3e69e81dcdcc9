"""wire.digest: known answers from RFC 2617, RFC 2069 (errata) and RFC 7616; parse/verify."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.digest import (
    Challenge,
    Credentials,
    build_authorization,
    compute_response,
    format_nc,
    parse_auth_params,
    verify,
)

# RFC 2617 §3.5 (HTTP example; the digest arithmetic is the same for SIP).
RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC2617_AUTHORIZATION = (
    'Digest username="Mufasa", realm="testrealm@host.com", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, '
    'cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
    'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)


def test_rfc2617_section_3_5_known_answer() -> None:
    assert (
        compute_response(
            "Mufasa",
            "Circle Of Life",
            "testrealm@host.com",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop="auth",
            nc=1,
            cnonce="0a4f113b",
        )
        == "6629fae49393a05397450978507c4ef1"
    )


def test_rfc2069_no_qop_known_answer() -> None:
    """RFC 2069 §2.4 with the errata's corrected response (the RFC prints e966c932...)."""
    assert (
        compute_response(
            "Mufasa",
            "CircleOfLife",
            "testrealm@host.com",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        )
        == "1949323746fe6a43ef61f9606e7febea"
    )


def test_rfc7616_section_3_9_1_md5_known_answer() -> None:
    assert (
        compute_response(
            "Mufasa",
            "Circle of Life",
            "http-auth@example.org",
            "GET",
            "/dir/index.html",
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            qop="auth",
            nc="00000001",
            cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        )
        == "8ca523f5e9506fed4657c9700eebdbec"
    )


def test_md5_sess_follows_rfc2617_ha1_definition() -> None:
    def md5(text: str) -> str:
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    ha1 = md5(f"{md5('alice:example.com:pw')}:n1:c1")
    expected = md5(f"{ha1}:n1:0000000a:c1:auth:{md5('REGISTER:sip:example.com')}")
    assert (
        compute_response(
            "alice",
            "pw",
            "example.com",
            "REGISTER",
            "sip:example.com",
            "n1",
            qop="auth",
            nc=10,
            cnonce="c1",
            algorithm="md5-SESS",
        )
        == expected
    )


def test_parse_the_rfc2617_challenge_and_credentials() -> None:
    challenge = Challenge.parse(RFC2617_CHALLENGE)
    assert challenge.realm == "testrealm@host.com"
    assert challenge.nonce == "dcd98b7102dd2f0e8b11d0f600bfb0c093"
    assert challenge.opaque == "5ccc069c403ebaf9f0171e9517f40e41"
    assert challenge.qop == ["auth", "auth-int"]
    assert challenge.algorithm is None and not challenge.stale
    credentials = Credentials.parse(RFC2617_AUTHORIZATION)
    assert (credentials.username, credentials.uri, credentials.qop, credentials.nc) == (
        "Mufasa",
        "/dir/index.html",
        "auth",
        "00000001",
    )
    assert verify(credentials, "Circle Of Life", "GET", challenge=challenge)
    assert verify(RFC2617_AUTHORIZATION, "Circle Of Life", "GET")
    assert not verify(credentials, "Circle of Life", "GET")
    assert not verify(credentials, "Circle Of Life", "POST")


def test_build_authorization_answers_a_sip_challenge() -> None:
    challenge = Challenge.parse(
        'Digest realm="3402000000", nonce="abc", algorithm=MD5, qop="auth", stale=TRUE'
    )
    assert challenge.stale and challenge.algorithm == "MD5"
    credentials = build_authorization(
        challenge,
        "REGISTER",
        "sip:34020000002000000001@3402000000",
        "34020000001320000001",
        "12345678",
        nc=3,
        cnonce="deadbeef",
    )
    assert credentials.to_header() == (
        'Digest username="34020000001320000001", realm="3402000000", nonce="abc", '
        'uri="sip:34020000002000000001@3402000000", '
        f'response="{credentials.response}", algorithm=MD5, cnonce="deadbeef", qop=auth, '
        "nc=00000003"
    )
    assert Credentials.parse(credentials.to_header()) == credentials
    assert verify(credentials.to_header(), "12345678", "REGISTER", challenge=challenge)
    other_nonce = Challenge.parse('Digest realm="3402000000", nonce="xyz", qop="auth"')
    assert not verify(credentials, "12345678", "REGISTER", challenge=other_nonce)


def test_build_authorization_without_qop_is_rfc2069_style() -> None:
    credentials = build_authorization(
        'Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"',
        "GET",
        "/dir/index.html",
        "Mufasa",
        "CircleOfLife",
    )
    assert credentials.response == "1949323746fe6a43ef61f9606e7febea"
    assert (credentials.qop, credentials.nc, credentials.cnonce) == (None, None, None)
    assert credentials.opaque == "5ccc069c403ebaf9f0171e9517f40e41"
    assert "qop" not in credentials.to_header()


def test_md5_sess_generates_a_cnonce() -> None:
    challenge = Challenge("example.com", "n", algorithm="MD5-sess")
    credentials = build_authorization(challenge, "INVITE", "sip:a@example.com", "a", "pw")
    assert credentials.cnonce is not None
    assert verify(credentials, "pw", "INVITE", challenge=challenge)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: compute_response("u", "p", "r", "GET", "/", "n", qop="auth-int", cnonce="c"),
            "qop 'auth-int' is not supported",
        ),
        (
            lambda: compute_response("u", "p", "r", "GET", "/", "n", qop="auth"),
            "cnonce is required",
        ),
        (
            lambda: compute_response("u", "p", "r", "GET", "/", "n", algorithm="SHA-256"),
            "algorithm 'SHA-256' is not supported",
        ),
        (
            lambda: build_authorization(
                'Digest realm="r", nonce="n", qop="auth-int"', "GET", "/", "u", "p"
            ),
            "does not offer 'auth'",
        ),
        (lambda: format_nc(0), "nonce count 0 is not"),
        (lambda: format_nc("1"), "nonce count '1' is not 8 hex digits"),
    ],
)
def test_unsupported_modes_are_value_errors(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ('Digest realm="r', "unterminated quoted value of 'realm'"),
        ('Digest nonce="n"', "challenge has no realm parameter"),
        ('Digest realm="r"', "challenge has no nonce parameter"),
        ('Basic realm="r"', "auth scheme 'Basic' is not Digest"),
        ('Digest realm="r", realm="s", nonce="n"', "parameter 'realm' appears twice"),
        ('Digest realm="r" nonce="n"', "expected ',' at offset 17"),
        ('Digest realm, nonce="n"', "parameter 'realm' has no '='"),
        ("Digest realm=, nonce=n", "parameter 'realm' has no value"),
        ('Digest realm="r", nonce="n", stale=maybe', "stale='maybe' is neither"),
        ("", "no scheme token"),
        ('Digest,realm="r"', "scheme must be followed by whitespace"),
    ],
)
def test_malformed_challenges(header: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Challenge.parse(header)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (RFC2617_AUTHORIZATION.replace(", nc=00000001", ""), "need nc and cnonce"),
        (RFC2617_AUTHORIZATION.replace("nc=00000001", "nc=1"), "nc='1' is not 8 hex digits"),
        (RFC2617_AUTHORIZATION.replace("6629fae4", "zz"), "is not 32 hex"),
        (RFC2617_AUTHORIZATION.replace('uri="/dir/index.html", ', ""), "has no uri parameter"),
    ],
)
def test_malformed_credentials(header: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Credentials.parse(header)


def test_quoted_values_with_escapes_and_commas() -> None:
    scheme, params = parse_auth_params(
        'Digest realm="IP Camera(C1), \\"main\\"" ,  NONCE = abc ,opaque="a\\\\b"'
    )
    assert scheme == "Digest"
    assert params == {"realm": 'IP Camera(C1), "main"', "nonce": "abc", "opaque": "a\\b"}
    challenge = Challenge(
        'a "quoted" realm, with comma',
        "n",
        opaque="o",
        qop=["auth"],
        stale=True,
        domain="sip:example.com",
        extra={"charset": "UTF-8"},
    )
    assert Challenge.parse(challenge.to_header()) == challenge


def test_every_prefix_of_a_credentials_header_parses_or_raises_value_error() -> None:
    full = Credentials.parse(RFC2617_AUTHORIZATION)
    parsed = 0
    for end in range(len(RFC2617_AUTHORIZATION) + 1):
        try:
            credentials = Credentials.parse(RFC2617_AUTHORIZATION[:end])
        except ValueError:
            continue
        parsed += 1  # only prefixes that end after response="..." (and the optional opaque)
        assert (credentials.response, credentials.cnonce) == (full.response, full.cnonce)
    assert parsed >= 2


printable = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=16)


# Property tests take the active profile's example count, capped at 40 (the ci profile) so the
# folder stays fast when run without the project plugin (hypothesis' default is 100); no deadline,
# so a loaded machine cannot make them flaky.
PROPERTY = settings(max_examples=min(settings().max_examples, 40), deadline=None)


@PROPERTY
@given(
    st.tuples(printable, printable, printable, printable), st.integers(1, 2**32 - 1), st.booleans()
)
def test_property_built_credentials_verify(
    texts: tuple[str, str, str, str], nc: int, sess: bool
) -> None:
    username, password, realm, nonce = texts
    challenge = Challenge(realm, nonce, qop=["auth"], algorithm="MD5-sess" if sess else None)
    assert Challenge.parse(challenge.to_header()) == challenge
    credentials = build_authorization(
        challenge, "INVITE", "sip:x@example.com", username, password, nc=nc
    )
    header = credentials.to_header()
    assert Credentials.parse(header) == credentials
    assert verify(header, password, "INVITE", challenge=challenge)
    assert not verify(header, password + "x", "INVITE", challenge=challenge)


@PROPERTY
@given(st.text(max_size=80))
def test_property_arbitrary_text_parses_or_raises_value_error(header: str) -> None:
    for candidate in (header, "Digest " + header):
        with contextlib.suppress(ValueError):
            Challenge.parse(candidate)
        with contextlib.suppress(ValueError):
            Credentials.parse(candidate)
