"""ISO 3166 region codes as the config writes them (upper case, as CDNs send them)."""

from __future__ import annotations

import pycountry


def is_region_code(code: str) -> bool:
    """Whether ``code`` is an uppercase ISO 3166-1 alpha-2 or ISO 3166-2 code."""
    if code != code.upper():
        # compiled lookups match the upper-case codes CDNs send; "us-ca" would never match
        return False
    if "-" in code:
        return pycountry.subdivisions.get(code=code) is not None
    return len(code) == 2 and code.isupper() and pycountry.countries.get(alpha_2=code) is not None


def region_code_problem(code: str) -> str | None:
    """Why ``code`` is not a region code the config accepts, if it is not."""
    if is_region_code(code):
        return None
    upper = code.isascii() and is_region_code(code.upper())
    hint = " (codes are upper case)" if upper else ""
    return f"not an ISO 3166-1 alpha-2 country or ISO 3166-2 subdivision code{hint}"
