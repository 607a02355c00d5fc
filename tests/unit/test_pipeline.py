"""The request path's stages together: ingest defaults, identity, governance per
destination (allow-list, hashing, never raw PII), routing."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from gateway import client_id
from gateway.config.compile import Policy, compile_policy
from gateway.config.models import Config
from gateway.errors import InputError
from gateway.pipeline import process
from gateway.pipeline.ingest import parse_body, pixel_event, validate
from gateway.request_context import build_context
from tests.support.configs import SECRET, base_config, merged
from tests.support.events import RAW_MARKERS, purchase


def make_policy(**overrides: object) -> Policy:
    data = merged(base_config(Path("/tmp/unused.db")), dict(overrides))
    return compile_policy(Config.model_validate(data))


@pytest.fixture(scope="module")
def policy() -> Policy:
    data = base_config(Path("/tmp/unused.db"))
    data["destinations"]["hook"] = {
        "type": "webhook",
        "requires": ["analytics"],
        "url": "https://hooks.example/in",
        "secret": "0123456789abcdef0123",
    }
    return compile_policy(Config.model_validate(data))


def us_context(policy: Policy, cookies: dict[str, str] | None = None) -> object:
    headers = {"cf-ipcountry": ["US"], "user-agent": ["UA/1"]}
    return build_context("127.0.0.1", headers, cookies or {}, policy.context_rules)


def run(policy: Policy, *events: dict, cookies: dict[str, str] | None = None) -> object:
    return process(
        validate(list(events), batch=len(events) > 1),
        us_context(policy, cookies),
        policy,
        field_remarks=True,
    )


def test_ingest_fills_event_id_and_time() -> None:
    """Without event_id and timestamp the gateway makes an id and uses its clock."""
    (ingested,) = validate([{"event": "page_view"}], batch=False, now_ms=1_795_000_000_000)
    assert len(ingested.event_id) == 36 and ingested.timestamp_ms == 1_795_000_000_000
    assert [d.subject for d in ingested.decisions] == ["event_id"]


def test_ingest_accepts_iso_and_epoch_ms_and_clamps_the_future() -> None:
    """ISO 8601 with a zone or epoch ms; a timestamp ahead of the clock is clamped."""
    now = 1_795_000_000_000
    iso, ms, future = validate(
        [
            {"event": "a", "timestamp": "2026-11-18T08:00:00+01:00"},
            {"event": "b", "timestamp": now - 5000},
            {"event": "c", "timestamp": now + 3_600_000},
        ],
        batch=True,
        now_ms=now,
    )
    assert iso.timestamp_ms == int(datetime(2026, 11, 18, 7, tzinfo=UTC).timestamp() * 1000)
    assert ms.timestamp_ms == now - 5000
    assert future.timestamp_ms == now and future.decisions[-1].action == "clamp"


def test_batch_errors_are_located_by_index() -> None:
    """Errors in a batch carry ["events", i, ...] locations; all are reported at once."""
    raw, batch = parse_body(orjson.dumps({"events": [{"event": "ok"}, {}, {"event": 1}]}), 100)
    with pytest.raises(InputError) as err:
        validate(raw, batch=batch)
    assert [d.loc for d in err.value.details] == [("events", 1, "event"), ("events", 2, "event")]


def test_pixel_query_maps_to_an_event() -> None:
    """Pixel parameters: e, eid, ts, dl/dr/dt, cid, c.<category>; the rest are properties."""
    raw = pixel_event(
        [
            ("e", "email_open"),
            ("eid", "m1"),
            ("ts", "1795000000000"),
            ("dl", "https://x.example/"),
            ("c.advertising", "1"),
            ("utm_source", "nl"),
        ]
    )
    assert raw == {
        "event": "email_open",
        "event_id": "m1",
        "timestamp": 1795000000000,
        "page": {"url": "https://x.example/"},
        "consent": {"categories": {"advertising": True}},
        "properties": {"utm_source": "nl"},
    }


def test_govern_hashes_pii_and_keeps_only_declared_fields(policy: Policy) -> None:
    """For Meta: user fields hashed by the meta recipe, undeclared fields dropped (page
    title, client id), IP and user agent kept; each change is a remark without values."""
    processed = run(policy, purchase(page={"url": "https://s.example/", "title": "Thanks"}))
    (outcome,) = processed.outcomes
    meta = outcome.governed["meta"]
    assert meta["user"]["email"] == hashlib.sha256(b"jane.doe@example.com").hexdigest()
    assert "title" not in meta["page"] and "client_id" not in meta.get("ids", {})
    assert meta["context"]["user_agent"] == "UA/1"
    remarks = {(d.subject, d.action) for d in outcome.decisions if d.destination == "meta"}
    assert ("user.email", "hash") in remarks and ("page.title", "drop") in remarks
    assert not any(m in repr(outcome.decisions) for m in RAW_MARKERS)


def test_field_remarks_change_nothing_but_the_record(policy: Policy) -> None:
    """The request path governs without field remarks; explain asks for them. Both must
    queue exactly the same rows, and only the remarks differ."""
    event = purchase(
        page={"url": "https://s.example/?email=a%40b.example", "title": "T"},
        ids={"client_id": "123.1795000000"},
    )
    events = validate([event], batch=False)
    ctx = us_context(policy)
    quiet = process(events, ctx, policy)
    noted = process(events, ctx, policy, field_remarks=True)
    assert [(e.destination, e.payload) for e in quiet.entries] == [
        (e.destination, e.payload) for e in noted.entries
    ]
    # quietly, only the governance rules' changes are remarked (they are counted)
    quiet_govern = [d for d in quiet.outcomes[0].decisions if d.stage == "govern"]
    assert quiet_govern == quiet.outcomes[0].changes
    assert {"redact", "hash", "drop"} <= {
        d.action for d in noted.outcomes[0].decisions if d.stage == "govern"
    }


def test_no_queue_entry_holds_raw_pii(policy: Policy) -> None:
    """Not for Meta, not for the webhook: raw PII never reaches a queue row."""
    processed = run(policy, purchase(), purchase())
    assert {e.destination for e in processed.entries} == {"meta", "hook"}
    for entry in processed.entries:
        for marker in RAW_MARKERS:
            assert marker.encode() not in entry.payload


def test_prehashed_values_pass_and_unusable_ones_drop(policy: Policy) -> None:
    """A 64-hex value is not hashed again; an unusable value is dropped with a remark."""
    digest = hashlib.sha256(b"someone@example.com").hexdigest()
    processed = run(policy, purchase(user={"email": digest, "phone": "not a phone"}))
    (outcome,) = processed.outcomes
    assert outcome.governed["meta"]["user"] == {"email": digest}
    actions = {d.subject: d.action for d in outcome.decisions if d.destination == "meta"}
    assert actions["user.email"] == "pass_hashed" and actions["user.phone"] == "drop"


def test_withheld_destination_gets_no_entry(policy: Policy) -> None:
    """A destination whose purposes are not granted gets nothing queued."""
    processed = run(policy, purchase(consent={"categories": {"advertising": False}}))
    assert [e.destination for e in processed.entries] == ["hook"]


def test_disabled_destination_is_skipped_with_a_reason() -> None:
    """enabled: false routes nothing and says so."""
    policy = make_policy(destinations={"meta": {"enabled": False}})
    (outcome,) = run(policy, purchase()).outcomes
    assert outcome.entries == []
    assert any(d.rule == "destinations.meta.enabled" for d in outcome.decisions)


def test_unmapped_event_is_skipped_when_unknown_events_drop() -> None:
    """``unknown_events: drop``: an event without a name for the destination is not
    queued for it, with the rule in the record, while a mapped event still is."""
    policy = make_policy(destinations={"meta": {"unknown_events": "drop"}})
    (outcome,) = run(policy, purchase(event="newsletter_signup")).outcomes
    assert "meta" not in [e.destination for e in outcome.entries]
    [skip] = [d for d in outcome.decisions if d.rule == "destinations.meta.unknown_events"]
    assert (skip.action, skip.destination) == ("skip", "meta")
    (mapped,) = run(policy, purchase()).outcomes
    assert "meta" in [e.destination for e in mapped.entries]


def test_identity_from_cookie_page_or_new(policy: Policy) -> None:
    """A valid signed cookie is the identity; without it a well-formed page client id is
    adopted; otherwise a new GA-style id is made; a tampered cookie is ignored."""
    cookie = client_id.sign("111.1795000000", SECRET.encode())
    assert run(policy, purchase(), cookies={"gw_id": cookie}).identity.client_id == "111.1795000000"
    page = purchase(ids={"client_id": "222.1795000000"})
    assert run(policy, page).identity.source == "page"
    fresh = run(policy, purchase()).identity
    assert fresh.source == "new" and client_id.CLIENT_ID.match(fresh.client_id)
    forged = run(policy, purchase(), cookies={"gw_id": cookie[:-2] + "xx"}).identity
    assert forged.source == "new" and forged.decisions[0].action == "ignore"


def test_cookie_signature() -> None:
    """Signatures verify under the right secret only, and survive no edit."""
    value = client_id.sign("123.1795000000", b"k" * 32)
    assert client_id.verify(value, b"k" * 32) == "123.1795000000"
    assert client_id.verify(value, b"j" * 32) is None
    assert client_id.verify("124" + value[3:], b"k" * 32) is None
    assert client_id.verify("garbage", b"k" * 32) is None
    assert int(client_id.new_client_id(int(time.time())).split(".")[1]) > 0


def test_email_addresses_in_raw_text_never_leave(policy: Policy) -> None:
    """An email in a page URL (plain or %40-encoded) or in a custom property is replaced
    before queueing, with a remark naming the field and the rule."""
    event = purchase(
        page={
            "url": "https://s.example/thanks?email=jane.doe%40example.com&x=1",
            "referrer": "https://mail.example/?to=Jane.Doe@Example.com",
        },
        properties={
            "note": {"contact": ["ask jane.doe@example.com"]},
            "value": 1.0,
            "currency": "EUR",
        },
    )
    (outcome,) = run(policy, event).outcomes
    for entry in outcome.entries:
        assert b"jane.doe" not in entry.payload.lower()
    meta = outcome.governed["meta"]
    assert meta["page"]["url"] == "https://s.example/thanks?email=redacted&x=1"
    redactions = {d.subject for d in outcome.decisions if d.action == "redact"}
    assert {"page.url", "page.referrer", "properties.note"} <= redactions
