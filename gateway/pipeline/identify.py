"""Identify: settle who the visitor is, once per request.

The signed first-party cookie wins; without a valid one, a well-formed client id the
page sent (one of ours, or the id in a ``_ga`` cookie value) is adopted; otherwise a new
id is made. Every destination gets that one id as ``ids.client_id``. Whether the cookie is then set,
refreshed or cleared is the consent stage's call (storage consent), not this stage's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway import client_id
from gateway.decisions import Decision
from gateway.pipeline.ingest import Ingested
from gateway.request_context import RequestContext


@dataclass(frozen=True, slots=True)
class Identity:
    """The visitor's client id and where it came from."""

    client_id: str
    source: Literal["cookie", "page", "new"]
    decisions: tuple[Decision, ...] = ()


def identify(
    ctx: RequestContext, events: list[Ingested], cookie_name: str, secret: bytes, now_s: int
) -> Identity:
    """The identity for every event of one request."""
    decisions: list[Decision] = []
    if (raw := ctx.cookies.get(cookie_name)) is not None:
        if (cid := client_id.verify(raw, secret)) is not None:
            return Identity(cid, "cookie")
        decisions.append(
            Decision("identify", "cookie", "ignore", "identity.secret", "signature does not verify")
        )
    sent = events[0].event.ids.client_id if events else None
    if sent is not None and (page_id := client_id.from_page(sent)) is not None:
        return Identity(page_id, "page", tuple(decisions))
    return Identity(client_id.new_client_id(now_s), "new", tuple(decisions))
