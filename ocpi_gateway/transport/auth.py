"""Credentials tokens in the Authorization header, and the hash we store instead of a token.

OCPI 2.2.1 sends ``Token <base64(token)>``; many 2.1.1/2.2 peers send the token unencoded.
We accept both on input by trying each reading of the header against the stored hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

TOKEN_BYTES = 32
"""Tokens we issue carry 256 random bits (the issue asks for at least 128)."""


def new_token() -> str:
    """A fresh credentials token: URL-safe printable ASCII, 43 characters (OCPI allows 64).

    Never starting with "-": an operator passes tokens on command lines, where that reads as
    an option."""
    while True:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        if not token.startswith("-"):
            return token


def token_hash(token: str) -> str:
    """SHA-256 hex of a token; tokens are long random strings, so no salt or slow hash is needed
    for a database copy to be useless (see docs/security.md)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_candidates(header: str | None) -> list[tuple[str, bool]]:
    """Possible tokens in an Authorization header, each with whether it was base64-encoded.

    The decoded reading comes first (2.2.1), the literal one second (2.1.1/2.2 peers)."""
    if not header:
        return []
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        return []
    candidates: list[tuple[str, bool]] = []
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if decoded and decoded.isprintable() and decoded.strip() == decoded:
        candidates.append((decoded, True))
    candidates.append((value, False))
    return candidates


def authorization_header(token: str, *, base64_encoded: bool = True) -> str:
    if base64_encoded:
        return "Token " + base64.b64encode(token.encode("utf-8")).decode("ascii")
    return "Token " + token
