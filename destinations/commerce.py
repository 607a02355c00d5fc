"""The ecommerce fields Meta's ``custom_data`` and TikTok's ``properties`` share.

Both take the gateway's GA4-style properties the same way (destinations.md §1.2, §3.2):
custom properties pass through, ``value`` and ``currency`` keep their names, the
transaction id becomes ``order_id``, and items become ``contents`` (each platform names
an entry's keys its own way).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: properties mapped to fields of their own; the rest pass as custom properties
MAPPED_PROPERTIES = frozenset({"value", "currency", "transaction_id", "items", "search_term"})


def is_number(value: Any) -> bool:
    """An int or float, not a bool (JSON ``true`` is not a price)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def commerce_fields(
    props: Mapping[str, Any], *, search_key: str
) -> tuple[dict[str, Any], list[Mapping[str, Any]]]:
    """The shared fields (the search term under ``search_key``), and the items that have
    an ``item_id`` for the caller to turn into its ``contents``."""
    out: dict[str, Any] = {k: v for k, v in props.items() if k not in MAPPED_PROPERTIES}
    if is_number(value := props.get("value")):
        out["value"] = value
    if isinstance(currency := props.get("currency"), str):
        out["currency"] = currency.upper()
    if isinstance(order := props.get("transaction_id"), str):
        out["order_id"] = order
    if isinstance(term := props.get("search_term"), str):
        out[search_key] = term
    items = [
        i
        for i in props.get("items") or ()
        if isinstance(i, Mapping) and i.get("item_id") is not None
    ]
    return out, items
