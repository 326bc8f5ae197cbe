"""asyncssh, imported for the SSH door without the warnings its import prints on every start.

asyncssh still reads and writes DSA keys, so its type hints name cryptography's DSA classes, and
cryptography deprecates DSA by warning at each use of those names: five
``CryptographyDeprecationWarning`` lines on stderr at every start, about an algorithm this server
never uses (its host key is Ed25519). Exactly those are ignored: that category, raised from
asyncssh's own modules; any other warning, from asyncssh or anywhere, still shows.
"""

from __future__ import annotations

import warnings

from cryptography.utils import CryptographyDeprecationWarning

warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=r"asyncssh(\.|$)")

import asyncssh  # noqa: E402  (after the filter: the warnings come at import)

__all__ = ["asyncssh"]
