"""SHA-256 helpers shared by every hashing recipe."""

import hashlib
import re

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def sha256_hex(text: str) -> str:
    """Return the lowercase hex SHA-256 digest of ``text`` encoded as UTF-8.

    Raises UnicodeEncodeError for text that is not encodable (lone surrogates).
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_sha256_hex(text: str) -> bool:
    """Return True when ``text`` is exactly 64 lowercase hex characters."""
    return _SHA256_HEX.fullmatch(text) is not None
