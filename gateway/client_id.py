"""The first-party client id and its signed cookie.

A client id looks like GA4's (``<random 31-bit>.<first seen, Unix seconds>``) so GA4 can
use it as ``client_id``. The cookie holds ``<client id>.<signature>``: HMAC-SHA256 keyed
by ``GATEWAY_SECRET`` (cryptography's HMAC), base64url. A cookie whose signature does
not verify is ignored and replaced.
"""

from __future__ import annotations

import base64
import random
import re
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

CLIENT_ID = re.compile(r"^[0-9]{1,10}\.[0-9]{10}$")
#: the value of Google's ``_ga`` cookie: ``GA1.<domain depth>.<client id>``
_GA_COOKIE = re.compile(r"^GA1\.[0-9]{1,2}\.([0-9]{1,10}\.[0-9]{10})$")
_DOMAIN = b"gateway-client-id-v1:"


def from_page(value: str) -> str | None:
    """A client id the page sent, as the gateway's form: one of ours, or the id inside a
    ``_ga`` cookie value (so GA4 sees the same visitor as the site's gtag); else None."""
    if CLIENT_ID.match(value):
        return value
    match = _GA_COOKIE.match(value)
    return match.group(1) if match else None


def new_client_id(now_s: int) -> str:
    """A fresh random client id, first seen at ``now_s``.

    Ids must be unique, not unguessable: the cookie's signature, not the id, is what a
    forger lacks. So the process's seeded generator serves, without a syscall per id.
    """
    return f"{random.getrandbits(31) | 1}.{now_s}"


@lru_cache(maxsize=8)
def _keyed(secret: bytes) -> hmac.HMAC:
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(_DOMAIN)
    return mac


def _mac(secret: bytes) -> hmac.HMAC:
    # copying a keyed HMAC skips the key schedule: the secret is the same for every cookie
    return _keyed(secret).copy()


def sign(client_id: str, secret: bytes) -> str:
    """The cookie value for ``client_id``."""
    mac = _mac(secret)
    mac.update(client_id.encode())
    signature = base64.urlsafe_b64encode(mac.finalize()).rstrip(b"=").decode()
    return f"{client_id}.{signature}"


def set_cookie_header(
    name: str, value: str, *, max_age: int, domain: str | None, secure: bool
) -> str:
    """A ``Set-Cookie`` value: HttpOnly, SameSite=Lax, path ``/``.

    Built by hand because ``http.cookies`` costs more than the rest of the response; the
    name and domain are validated by the config and values are base64url and digits.
    """
    parts = [f"{name}={value}", f"Max-Age={max_age}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if domain:
        parts.append(f"Domain={domain}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def verify(value: str, secret: bytes) -> str | None:
    """The client id in a cookie value, or None when malformed or tampered with."""
    client_id, _, signature = value.rpartition(".")
    if not CLIENT_ID.match(client_id) or len(signature) != 43:
        return None
    try:
        expected = base64.urlsafe_b64decode(signature + "=")
    except ValueError:
        return None
    mac = _mac(secret)
    mac.update(client_id.encode())
    try:
        mac.verify(expected)
    except InvalidSignature:
        return None
    return client_id
