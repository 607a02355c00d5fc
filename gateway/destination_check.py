"""``gateway test-destination``: send one event through a platform's test path, print its answer.

The way Meta's Test Events tool is used: an operator checks credentials and mapping
before going live. The event goes through the same stages as on the request path
(consent included: a withheld event is not sent, and the command says why), is encoded
by the destination's adapter switched to its test path (Meta and TikTok: a
``test_event_code``; GA4: the validation server), sent once, and the platform's answer
is printed with the gateway's classification of it. Secrets are masked in all output.

Meta and TikTok record test events (they show in Test Events and are counted); only
GA4's validation server records nothing. The command says so before sending.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from destinations.base import HttpDestination, QueuedEvent, SendResult
from gateway.config.compile import Policy
from gateway.explain import MASK, describe_request, run

#: what each platform's test path does with the event, for the operator
TEST_PATHS = {
    "meta_capi": "Meta records events sent with a test_event_code (Events Manager > Test "
    "events); they are not dropped",
    "tiktok_events": "TikTok records events sent with a test_event_code (Events Manager > "
    "Test events)",
    "ga4_mp": "GA4's validation server (/debug/mp/collect) checks the request and records nothing",
}


class DestinationCheckError(Exception):
    """The event cannot be sent to the destination; the message says why and what to do."""


@dataclass
class Exchange:
    """One request sent and the platform's answer."""

    request: dict[str, Any]
    status: int | None
    answer: Any
    result: SendResult


@dataclass
class Report:
    """What ``test_destination`` did."""

    destination: str
    type: str
    note: str
    event_id: str
    verdict: str
    restrictions: list[str]
    rejected: list[str] = field(default_factory=list)
    fitted: list[str] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every request was answered as accepted, and no event was refused."""
        return (
            bool(self.exchanges)
            and not self.rejected
            and all(e.result.outcome == "ok" for e in self.exchanges)
        )


def prepare(
    policy: Policy,
    name: str,
    body: bytes,
    headers: list[tuple[str, str]],
    *,
    test_event_code: str | None = None,
    peer: str = "127.0.0.1",
) -> tuple[HttpDestination, Report, list[Any]]:
    """The test-mode adapter, a report so far, and the requests to send.

    Raises ``DestinationCheckError`` for an unknown destination, missing credentials, a
    platform without a usable test path, or an event consent withholds; ``InputError``
    for an event file ``POST /collect`` would refuse.
    """
    if name not in policy.destinations:
        known = ", ".join(sorted(policy.destinations))
        raise DestinationCheckError(f"no destination {name!r} in the config (it has: {known})")
    configured = policy.destinations[name]
    if missing := configured.missing_credentials():
        raise DestinationCheckError(
            f"{name}: credentials missing ({', '.join(missing)}): set them in the config "
            "or its environment variables"
        )
    try:
        destination = configured.for_testing(test_event_code)
    except ValueError as err:
        raise DestinationCheckError(f"{name}: {err}") from err
    _, processed = run(policy, body, headers, peer)
    if len(processed.outcomes) != 1:
        raise DestinationCheckError("the event file must hold one event, not a batch")
    [outcome] = processed.outcomes
    verdict = outcome.consent.verdicts[name]
    report = Report(
        name,
        destination.type,
        TEST_PATHS.get(destination.type, "this destination has no test path: sent as is"),
        outcome.ingested.event_id,
        verdict.action,
        list(verdict.restrictions),
    )
    governed = outcome.governed.get(name)
    if governed is None:
        reasons = "; ".join(d.reason for d in verdict.decisions)
        rules = sorted(
            {
                d.rule
                for d in outcome.decisions
                if d.destination == name or (d.destination is None and d.stage == "consent")
            }
        )
        raise DestinationCheckError(
            f"{name}: not sent ({verdict.action}): {reasons}; rules: {', '.join(rules)}. "
            "Give the event the consent this destination requires (see `gateway explain`)"
        )
    item = QueuedEvent(0, name, 0, outcome.ingested.received_ms, governed)
    encoded = destination.encode([item], now_ms=int(time.time() * 1000))
    report.rejected = [r.reason for r in encoded.rejected]
    report.fitted = [f"{r.path}: {r.reason}" for r in encoded.remarks]
    return destination, report, encoded.requests


async def send(
    destination: HttpDestination, report: Report, requests: list[Any], client: httpx.AsyncClient
) -> Report:
    """Send each request once (no retry) and record the answers in ``report``."""
    secrets = destination.settings.secret_values()
    for request in requests:
        answer: Any = None
        status: int | None = None
        try:
            response = await client.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                content=request.content,
                timeout=destination.timeout(),
            )
        except httpx.HTTPError as err:
            result = SendResult("retry", f"no answer ({type(err).__name__})")
        else:
            status = response.status_code
            result = destination.classify(response)
            answer = _answer(response, secrets)
        report.exchanges.append(
            Exchange(describe_request(request, destination), status, answer, result)
        )
    return report


def _answer(response: httpx.Response, secrets: list[str]) -> Any:
    text = response.text
    for secret in secrets:
        text = text.replace(secret, MASK)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text[:2000]


def render(report: Report) -> str:
    """The report as text for a terminal."""
    lines = [
        f"destination {report.destination} ({report.type}), event_id {report.event_id}",
        f"  consent: {report.verdict.upper()}"
        + (f" [{', '.join(report.restrictions)}]" if report.restrictions else ""),
        f"  test path: {report.note}",
    ]
    lines += [f"  refused before sending: {reason}" for reason in report.rejected]
    lines += [f"  fitted: {remark}" for remark in report.fitted]
    for exchange in report.exchanges:
        req = exchange.request
        lines.append(f"  {req['method']} {req['url']}")
        body = orjson.dumps(req["body"], option=orjson.OPT_INDENT_2).decode()
        lines += [f"    {line}" for line in body.splitlines()]
        lines.append(f"  answer: HTTP {exchange.status if exchange.status else '-'}")
        answer = (
            orjson.dumps(exchange.answer, option=orjson.OPT_INDENT_2).decode()
            if not isinstance(exchange.answer, str)
            else exchange.answer
        )
        lines += [f"    {line}" for line in answer.splitlines()]
        result = exchange.result
        lines.append(f"  outcome: {result.outcome.upper()} ({result.reason})")
    lines.append("OK" if report.ok else "FAILED")
    return "\n".join(lines) + "\n"


def as_json(report: Report) -> dict[str, Any]:
    """The report as JSON-able data."""
    return {
        "destination": report.destination,
        "type": report.type,
        "test_path": report.note,
        "event_id": report.event_id,
        "verdict": report.verdict,
        "restrictions": report.restrictions,
        "rejected": report.rejected,
        "fitted": report.fitted,
        "exchanges": [
            {
                "request": e.request,
                "status": e.status,
                "answer": e.answer,
                "outcome": e.result.outcome,
                "reason": e.result.reason,
            }
            for e in report.exchanges
        ],
        "ok": report.ok,
    }
