"""What an act of the service layer refuses, in words the API (400, 404, 409) and the CLI (a
line and exit code 1) both show."""

from __future__ import annotations


class NotFound(LookupError):
    """Nothing under that key."""


class Conflict(Exception):
    """The record is not in a state the act applies to (ended, already lifted...)."""


class Invalid(ValueError):
    """What was asked cannot be done as asked (a ban ending in the past...)."""
