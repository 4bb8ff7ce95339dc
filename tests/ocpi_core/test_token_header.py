"""Reading the Authorization header: which tokens a header may carry, and the tokens we issue."""

from __future__ import annotations

import base64

from ocpi_gateway.transport.auth import authorization_header, new_token, token_candidates


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_base64_token_is_read_decoded_first_then_literally() -> None:
    token = "3f2a-token-C"
    assert token_candidates(f"Token {_b64(token)}") == [(token, True), (_b64(token), False)]
    assert token_candidates(authorization_header(token)) == [(token, True), (_b64(token), False)]


def test_a_token_that_is_not_base64_is_only_read_literally() -> None:
    # "_" is no base64 character: a lenient decoder would drop it and read "testes",
    # offering the registry a second token nobody sent.
    assert token_candidates("Token dGVz_dGVz") == [("dGVz_dGVz", False)]
    assert token_candidates(authorization_header("plain", base64_encoded=False)) == [
        ("plain", False)]


def test_a_decoding_to_unprintable_or_padded_text_is_no_token() -> None:
    # "AAAA" is valid base64 for three NUL bytes; " x " decodes to surrounding blanks.
    assert token_candidates("Token AAAA") == [("AAAA", False)]
    assert token_candidates(f"Token {_b64(' x ')}") == [(_b64(" x "), False)]


def test_only_the_token_scheme_carries_a_token() -> None:
    for header in (None, "", "Token", "Token   ", f"Bearer {_b64('t')}", "Bearer t",
                   f"Basic {_b64('user:pass')}", "t"):
        assert token_candidates(header) == [], header
    assert token_candidates("token  t ") == [("t", False)]  # scheme case and blanks


def test_issued_tokens_carry_256_random_bits() -> None:
    token = new_token()
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert len(raw) == 32 and len(token) == 43
