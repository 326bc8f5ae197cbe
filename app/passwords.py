"""Passwords and tokens: a memory-hard hash for what people choose, a plain digest for what we generate.

``hashlib.scrypt`` (RFC 7914) costs 16 MiB and tens of milliseconds per guess, which is the point:
callers run it off the event loop (``run_in_executor``). Tokens are 192 random bits, so a fast
SHA-256 digest stores them safely. Comparisons are constant-time.

``python -m app.passwords`` prints the hashed form of a password read from the terminal, for
``CHAT_OPERATOR_PASSWORD`` (so the server's environment need not hold the password itself).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """``scrypt$N$R$P$salt$hash`` (base64): everything needed to check the password later."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, N, R, P)
    return "$".join((SCHEME, str(N), str(R), str(P), _b64(salt), _b64(digest)))


def is_hashed(stored: str) -> bool:
    return stored.startswith(SCHEME + "$")


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``: a ``hash_password`` result, or a plain password from
    a setting (compared in constant time as well)."""
    if not is_hashed(stored):
        return hmac.compare_digest(_sha(password), _sha(stored))
    try:
        _, n, r, p, salt, digest = stored.split("$")
        computed = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))


def new_token() -> str:
    return secrets.token_urlsafe(24)


def token_digest(token: str) -> str:
    return _sha(token).hex()


def check_token(token: str, digest: str) -> bool:
    return hmac.compare_digest(token_digest(token), digest)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def _sha(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


if __name__ == "__main__":
    print(hash_password(getpass.getpass("Operator password: ")))
