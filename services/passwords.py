"""Passwords: the policy, argon2id hashes, and a random first password.

The policy follows NIST SP 800-63B: length over composition rules (at least 12 characters,
at most 256, any characters but control ones), not the username itself, and the text is
NFKC-normalised before hashing so that the same password typed with a different input method
(full-width Latin from a Chinese IME, composed or decomposed accents) still matches.
"""

from __future__ import annotations

import secrets
import unicodedata
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import InvalidInput
from services.schemas.bounds import reject_control_characters

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256
# argon2-cffi's defaults: argon2id, RFC 9106's low-memory profile (t=3, 64 MiB, p=4). When
# they change, a password is re-hashed at its owner's next sign-in.
_hasher = PasswordHasher()


def normalised(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check_policy(password: str, username: str) -> str:
    """The password as it will be hashed, or InvalidInput saying what is wrong (never
    echoing it)."""
    text = normalised(password)
    if len(text) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(text) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password has at most {MAX_PASSWORD_CHARS} characters")
    try:
        reject_control_characters(text)
    except ValueError as exc:
        raise InvalidInput(f"a password {exc}") from None
    if text.casefold() == normalised(username).casefold():
        raise InvalidInput("a password must not be the username")
    return text


def hash_password(password: str) -> str:
    return _hasher.hash(normalised(password))


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no hash (unknown user, no password set) a dummy
    one is checked, so the answer takes as long either way."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), normalised(password)) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError, UnicodeError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


def warm_up() -> None:
    """Make the dummy hash now (a first unknown-user sign-in would otherwise pay twice)."""
    _dummy_hash()


def generate_password() -> str:
    """A random password for first start: 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)
