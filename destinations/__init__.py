"""Destination adapters, and the one list of them.

Registration is explicit: a new platform is one module plus one line here. Duplicate
types are refused at import time.
"""

from __future__ import annotations

from collections.abc import Mapping

from destinations import ga4_mp, meta_capi, tiktok_events, webhook
from destinations.base import Destination, HttpDestination


def build_registry(*adapters: type[HttpDestination]) -> Mapping[str, type[HttpDestination]]:
    """Map each adapter's ``type`` to its class; a type registered twice is an error."""
    registry: dict[str, type[HttpDestination]] = {}
    for adapter in adapters:
        if adapter.type in registry:
            raise ValueError(f"destination type {adapter.type!r} registered twice")
        registry[adapter.type] = adapter
    return registry


REGISTRY = build_registry(
    meta_capi.MetaCapi, ga4_mp.Ga4Mp, tiktok_events.TiktokEvents, webhook.Webhook
)

__all__ = ["REGISTRY", "Destination", "build_registry"]
