"""The ``gateway`` command: serve, validate, explain, test-destination, consent-log,
dead-letters, schema."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.config.loader import load_config
from gateway.config.models import Config
from gateway.errors import ConfigError, InputError, QueueError


def _load(path: str) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as err:
        for problem in err.problems:
            print(problem)
        return None


def cmd_validate(args: argparse.Namespace) -> int:
    """Exit 0 when the config is valid; else print every problem and exit 1."""
    if _load(args.config) is None:
        return 1
    print(f"{args.config}: ok")
    return 0


def _headers(args: argparse.Namespace) -> list[tuple[str, str]] | None:
    """``--header 'Name: value'`` options as pairs; None (after saying why) when malformed."""
    headers = []
    for header in args.header:
        name, sep, value = header.partition(":")
        if not sep or not name.strip() or not header.isascii():
            print(f"--header {header!r}: expected 'Name: value' in ASCII", file=sys.stderr)
            return None
        headers.append((name.strip(), value.strip()))
    return headers


def _event_file(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        print(f"{path}: cannot read ({err.strerror})", file=sys.stderr)
        return None


def _print_input_error(path: str, err: InputError) -> None:
    print(f"{path}: {err.error}", file=sys.stderr)
    for detail in err.details:
        print(f"  {'.'.join(map(str, detail.loc)) or '<body>'}: {detail.msg}", file=sys.stderr)


def cmd_explain(args: argparse.Namespace) -> int:
    """Print what each destination would receive for the event file, and why."""
    from gateway.config.compile import compile_policy
    from gateway.explain import explain, render

    config = _load(args.config)
    if config is None:
        return 1
    headers = _headers(args)
    body = _event_file(args.event)
    if headers is None or body is None:
        return 2
    try:
        result = explain(compile_policy(config), body, headers, peer=args.peer)
    except InputError as err:
        _print_input_error(args.event, err)
        return 1
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(render(result))
    return 0


def cmd_test_destination(args: argparse.Namespace) -> int:
    """Send the event file to one destination through its platform's test path; print
    the platform's answer. Exit 0 when the platform accepted it."""
    import httpx

    from gateway.config.compile import compile_policy
    from gateway.destination_check import DestinationCheckError, as_json, prepare, render, send

    config = _load(args.config)
    if config is None:
        return 1
    headers = _headers(args)
    body = _event_file(args.event)
    if headers is None or body is None:
        return 2
    try:
        destination, report, requests = prepare(
            compile_policy(config),
            args.name,
            body,
            headers,
            test_event_code=args.test_event_code,
            peer=args.peer,
        )
    except InputError as err:
        _print_input_error(args.event, err)
        return 1
    except DestinationCheckError as err:
        print(err, file=sys.stderr)
        return 1

    async def exchange() -> None:
        async with httpx.AsyncClient() as client:
            await send(destination, report, requests, client)

    asyncio.run(exchange())
    if args.json:
        print(json.dumps(as_json(report), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(render(report))
    return 0 if report.ok else 1


def _epoch_ms(text: str) -> int:
    """``--since``/``--until``: ISO 8601 (a date, or a time with a zone) to epoch ms."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            "expected ISO 8601, e.g. 2026-11-25 or 2026-11-25T10:00Z"
        ) from err
    if moment.tzinfo is None:
        if moment.time() != datetime.min.time():
            raise argparse.ArgumentTypeError("a time needs a zone (Z or +hh:mm)")
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def cmd_consent_log(args: argparse.Namespace) -> int:
    """Print the consent records of one visitor, one event or a time range."""
    from gateway import consent_records
    from gateway.queue.admin import open_admin

    config = _load(args.config)
    if config is None:
        return 1
    key = None
    if args.client_id is not None:
        key = consent_records.client_key(
            args.client_id, config.identity.secret.get_secret_value().encode()
        )
    query = consent_records.Query(key, args.event_id, args.since, args.until, args.limit)

    async def read() -> list[dict[str, Any]]:
        async with open_admin(config.queue) as admin:
            return await admin.consent_records(query)

    try:
        records = asyncio.run(read())
    except (sqlite3.Error, QueueError) as err:
        print(f"{_where(config)}: cannot read consent records ({err})", file=sys.stderr)
        return 1
    for record in records:
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
            continue
        at = datetime.fromtimestamp(record["at_ms"] / 1000, UTC).isoformat(timespec="milliseconds")
        verdicts = " ".join(
            f"{name}={v['action']}"
            + (f"({','.join(v['restrictions'])})" if "restrictions" in v else "")
            for name, v in record["verdicts"].items()
        )
        print(
            f"{at} {record['event_name']} event_id={record['event_id']}"
            f" region={record['region'] or 'unknown'} regime={record['regime']} {verdicts}"
            f" signals={record['signals_digest']} config={record['config_version']}"
        )
        for name, v in record["verdicts"].items():
            print(f"    {name}: {', '.join(v['rules'])}")
    if not records:
        print("no matching consent records", file=sys.stderr)
    return 0


def cmd_dead_letters(args: argparse.Namespace) -> int:
    """List, show, replay or purge dead letters (``gateway.dead_letter_commands``)."""
    from gateway import dead_letter_commands

    config = _load(args.config)
    if config is None:
        return 1
    try:
        return dead_letter_commands.run(args, config)
    except (sqlite3.Error, QueueError) as err:
        print(f"{_where(config)}: cannot read the dead letters ({err})", file=sys.stderr)
        return 1


def _where(config: Config) -> str:
    """The queue, for a message: its file, or its Redis prefix (never the URL)."""
    if config.queue.backend == "redis":
        return f"redis queue {config.queue.prefix!r}"
    return config.queue.path


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the gateway until SIGTERM or SIGINT; SIGHUP reloads the config."""
    import structlog
    import uvicorn
    import uvloop

    from gateway import logs
    from gateway.app import create_app

    config = _load(args.config)
    if config is None:
        return 1
    logs.configure(config.logging.level)
    app = create_app(config, args.config)
    # Everything alive now (modules, config, app) lives as long as the process: keep the
    # cyclic GC from re-scanning it, and collect the young generation less often. Under
    # load this is worth about a sixth of the request path's CPU.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            http="httptools",
            lifespan="on",
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=config.server.shutdown_grace_secs,
            # the gateway reads X-Forwarded-For itself, from configured proxies only;
            # uvicorn's own handling would rewrite the peer address before that check
            proxy_headers=False,
        )
    )

    async def main() -> None:
        runtime = app.state.runtime
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(runtime.reload()))
        # uvicorn re-raises SIGTERM/SIGINT once its graceful shutdown is over, to die of
        # it; the queue is closed by then, so we stay and exit 0, as a clean stop should
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)
        structlog.get_logger("gateway").info(
            "gateway_listening", url=f"http://{args.host}:{args.port}", config=args.config
        )
        await server.serve()

    # uvicorn picks its loop in Server.run(); serving ourselves, we pick uvloop here
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of the config file (for editor completion)."""
    from gateway.config.schema import schema_text

    sys.stdout.write(schema_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gateway`` command."""
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(func=cmd_serve)

    validate = sub.add_parser("validate", help="check a config file")
    validate.add_argument("--config", required=True)
    validate.set_defaults(func=cmd_validate)

    explain = sub.add_parser("explain", help="show what each destination would receive")
    explain.add_argument("--config", required=True)
    explain.add_argument("--event", required=True, help="a JSON file: one event or a batch")
    explain.add_argument("--header", action="append", default=[], metavar="'Name: value'")
    explain.add_argument(
        "--peer", default="127.0.0.1", help="the connecting address to assume (default 127.0.0.1)"
    )
    explain.add_argument("--json", action="store_true", help="print JSON instead of text")
    explain.set_defaults(func=cmd_explain)

    check = sub.add_parser(
        "test-destination",
        help="send one event through a destination's test path and print the platform's answer",
    )
    check.add_argument("name", help="the destination's name in the config (meta, ga4, tiktok)")
    check.add_argument("--config", required=True)
    check.add_argument("--event", required=True, help="a JSON file holding one event")
    check.add_argument(
        "--test-event-code",
        help="Meta / TikTok: the code from Events Manager > Test events (else the config's)",
    )
    check.add_argument("--header", action="append", default=[], metavar="'Name: value'")
    check.add_argument(
        "--peer", default="127.0.0.1", help="the connecting address to assume (default 127.0.0.1)"
    )
    check.add_argument("--json", action="store_true", help="print JSON instead of text")
    check.set_defaults(func=cmd_test_destination)

    consent_log = sub.add_parser(
        "consent-log", help="query the record of consent decisions (by client id, time)"
    )
    consent_log.add_argument("--config", required=True)
    consent_log.add_argument("--client-id", help="the visitor's client id (as in the cookie)")
    consent_log.add_argument("--event-id")
    consent_log.add_argument("--since", type=_epoch_ms, help="ISO 8601, inclusive")
    consent_log.add_argument("--until", type=_epoch_ms, help="ISO 8601, exclusive")
    consent_log.add_argument("--limit", type=int, default=100)
    consent_log.add_argument("--json", action="store_true", help="one JSON object per line")
    consent_log.set_defaults(func=cmd_consent_log)

    dead = sub.add_parser(
        "dead-letters",
        help="list, show, replay or purge dead letters (replay and purge: gateway stopped)",
    )
    dead.add_argument("action", choices=["list", "show", "replay", "purge"])
    dead.add_argument("--config", required=True)
    dead.add_argument("--id", type=int, action="append", default=[], help="a dead letter's id")
    dead.add_argument("--destination")
    dead.add_argument("--reason", help="text the reason contains")
    dead.add_argument("--since", type=_epoch_ms, help="failed at or after (ISO 8601)")
    dead.add_argument("--until", type=_epoch_ms, help="failed before (ISO 8601)")
    dead.add_argument("--limit", type=int)
    dead.add_argument("--all", action="store_true", help="replay or purge every dead letter")
    dead.add_argument("--json", action="store_true", help="one JSON object per line")
    dead.set_defaults(func=cmd_dead_letters)

    schema = sub.add_parser("schema", help="print the config's JSON Schema")
    schema.set_defaults(func=cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gateway`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
