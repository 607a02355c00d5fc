"""Global Privacy Control: the ``Sec-GPC`` request header.

Per the GPC spec, only the exact value ``1`` means "do not sell or share"; any other
value is ignored, and several headers count as set when any of them is ``1``.
"""

from __future__ import annotations

from collections.abc import Iterable


def decode(header_values: Iterable[str]) -> bool:
    """Whether the request carries a GPC opt-out."""
    return any(value.strip() == "1" for value in header_values)
