"""Benchmarks on the embedded stack. ``make bench`` (or ``python -m bench [relay|gateway|codecs|all]``)
prints figures.

relay: events/s and p50/p99 latency from outbox insert to consumer commit, through the real
outbox relay (one, then two), JetStream and the shared consumer; a COPY burst and steady producers.
codecs: export and import of a 2000-indicator framework as JSON, YAML and Excel.
gateway: median and p99 latency of one REST read straight to indicator_svc and through the gateway.
identity: signing-key unwrap (legacy PBKDF2 vs scrypt) and password-grant logins (many accounts vs one).
survey: response intake through the gateway (64 wrk clients) beside a bare uvicorn hello-world, and
indices with intervals over 1,000,000 synthetic responses (``--baseline`` runs an older tree alongside).
requests: req/s, p50, p99 and CPU per request of a bare FastAPI app, indicator_svc and the gateway
side by side at 1, 16 and 64 connections (wrk when installed); not part of ``all`` (minutes long).
feedback: one results.published of 2,000 objects into cases, set-based vs a row-at-a-time baseline.
publication: the publication job of a scored plan of 10,000 objects x 100 leaves (results event by reference
with its objects hash, CSV and xlsx of the league table) beside a raw SELECT + sha256 of the same
rows; not part of ``all``.
collection: appraisal bulk submission of 100,000 rows beside a raw COPY of them, anomaly rules over
1,000,000 data points, audit chain verification over 1,000,000 entries.
scoring: one appraisal scoring run of 10,000 objects x 100 leaves (1,000,000 values) beside a raw COPY
of its 1,000,000 result rows.
experts: 5,000 expert assignments in one request, survey.results.finalized with 5,000 cells (then a
correction superseding them), each beside a raw COPY of the same rows; a monitoring page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
from pathlib import Path

from shared.embedded import start_nats, start_postgres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "which",
        nargs="?",
        choices=[
            "relay",
            "gateway",
            "codecs",
            "identity",
            "survey",
            "requests",
            "feedback",
            "collection",
            "scoring",
            "publication",
            "experts",
            "all",
        ],
        default="all",
    )
    parser.add_argument("--logins", type=int, default=200, help="identity: password-grant logins per shape")
    parser.add_argument("--events", type=int, default=20_000, help="relay: events of the COPY burst")
    parser.add_argument("--steady-events", type=int, default=3_000, help="relay: events of the steady run")
    parser.add_argument("--rate", type=float, default=100.0, help="relay: offered events/s of the steady run")
    parser.add_argument("--requests", type=int, default=2_000, help="gateway: requests per path")
    parser.add_argument("--concurrency", type=int, default=8, help="gateway: requests in flight")
    parser.add_argument(
        "--responses", type=int, default=30_000, help="survey: tokens per intake run (it ends when they are spent)"
    )
    parser.add_argument("--intake-seconds", type=float, default=20.0, help="survey: longest intake run")
    parser.add_argument("--seconds", type=float, default=5.0, help="requests: seconds per sample")
    parser.add_argument(
        "--profile",
        type=Path,
        help="requests: py-spy stacks of each process at 16 connections; survey: of the gateway and survey_svc",
    )
    parser.add_argument(
        "--baseline", type=Path, help="requests, survey: a source tree run alongside (git archive main)"
    )
    parser.add_argument("--workers", type=int, default=1, help="survey: uvicorn workers of the gateway and survey_svc")
    parser.add_argument("--log-level", default="WARNING", help="survey: of the services (INFO logs every request)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="requests: sweeps, to show the spread; survey: measured intake runs per tree (with --baseline the "
        "trees take turns going first; the figures are the median run's, every run under <label>_runs)",
    )
    parser.add_argument("--objects", type=int, default=10_000, help="scoring: objects of the plan (x 100 leaves)")
    parser.add_argument("--connections", default="1,16,64", help="requests: comma-separated connection counts")
    parser.add_argument("--publish-objects", type=int, default=10_000, help="publication: objects of the plan")
    parser.add_argument("--keep-data", action="store_true", help="keep the /tmp/gpb-* data folder (for profiling)")
    args = parser.parse_args()
    if args.which in ("codecs", "all"):
        from bench import codecs  # lazy: imports the services

        formats = codecs.run()
        print(json.dumps({"benchmark": "framework import/export, 2000 indicators", **formats}, indent=2))
        print(
            "; ".join(
                f"{name}: export {f['export_s']:.2f} s, import {f['import_s']:.2f} s" for name, f in formats.items()
            )
        )
        if args.which == "codecs":
            return
    data_dir = Path(tempfile.mkdtemp(prefix="gpb-", dir="/tmp"))
    pg, broker = start_postgres(data_dir), start_nats(data_dir)
    try:
        if args.which in ("relay", "all"):
            from bench import relay

            for mode, events in (("burst", args.events), ("steady", args.steady_events)):
                for relays in (1, 2):
                    result = asyncio.run(
                        relay.run(pg.url, broker.url, events=events, relays=relays, mode=mode, rate=args.rate)
                    )
                    print(json.dumps({"benchmark": "outbox insert -> relay -> JetStream -> consumer commit", **result}))
                    print(
                        f"{mode}, {relays} relay(s): {result['end_to_end_events_per_s']:,} events/s end to end, "
                        f"latency p50 {result['latency_p50_ms']} ms, p99 {result['latency_p99_ms']} ms "
                        f"({result['events']:,} events)"
                    )
        if args.which in ("identity", "all"):
            from bench import identity  # lazy: imports the services

            costs = identity.run(pg.url, broker.url, data_dir, count=args.logins, concurrency=args.concurrency)
            print(json.dumps({"benchmark": "identity: key unwrap and password-grant logins", **costs}, indent=2))
        if args.which in ("gateway", "all"):
            from bench import gateway  # lazy: imports the services

            figures = gateway.run(pg.url, broker.url, data_dir, requests=args.requests, concurrency=args.concurrency)
            print(
                json.dumps(
                    {"benchmark": "GET /api/v1/frameworks/{id}: direct vs through the gateway", **figures}, indent=2
                )
            )
            direct, through = figures["direct"], figures["gateway"]
            assert isinstance(direct, dict) and isinstance(through, dict)
            print(
                f"direct: median {direct['median_ms']:.2f} ms, p99 {direct['p99_ms']:.2f} ms; "
                f"gateway: median {through['median_ms']:.2f} ms, p99 {through['p99_ms']:.2f} ms; "
                f"added: median {figures['added_median_ms']:.2f} ms, p99 {figures['added_p99_ms']:.2f} ms "
                f"({args.requests:,} requests each, {args.concurrency} in flight)"
            )
        if args.which in ("survey", "all"):
            from bench import survey  # lazy: imports the services

            result = {
                "benchmark": "survey intake through the gateway (64 clients) and indices over 1M responses",
                **survey.intake(
                    pg.url,
                    broker.url,
                    data_dir,
                    responses=args.responses,
                    concurrency=64,
                    seconds=args.intake_seconds,
                    baseline=args.baseline,
                    profile_dir=args.profile,
                    workers=args.workers,
                    log_level=args.log_level,
                    rounds=args.rounds,
                ),
                **survey.indices(),
            }
            print(json.dumps(result, indent=2))
        if args.which == "requests":
            from bench import requests  # lazy: imports the services

            result = requests.run(
                pg.url,
                broker.url,
                data_dir,
                seconds=args.seconds,
                rounds=args.rounds,
                connections=tuple(int(c) for c in args.connections.split(",")),
                profile_dir=args.profile,
                baseline=args.baseline,
            )
            print(requests.report(result))
        if args.which in ("feedback", "all"):
            from bench import feedback  # lazy: imports the services

            figures = feedback.run(pg.url)
            print(json.dumps({"benchmark": "appraisal.results.published -> improvement cases", **figures}, indent=2))
            print(
                f"{figures['objects']:,} objects: set-based handler {figures['set_based_handler_s']:.2f} s, "
                f"row-at-a-time baseline {figures['orm_row_at_a_time_s']:.2f} s ({figures['speedup']:.1f}x); "
                f"{figures['cases_opened']:,} cases; usage report {figures['usage_report_ms']:.1f} ms"
            )
        if args.which == "publication":
            from bench import publication  # lazy: imports the services

            figures = publication.run(pg.url, objects=args.publish_objects)
            print(json.dumps({"benchmark": "appraisal publication", **figures}, indent=2))
        if args.which in ("collection", "all"):
            from bench import collection  # lazy: imports the services

            figures = collection.run(pg.url)
            print(json.dumps({"benchmark": "appraisal data collection", **figures}, indent=2))
        if args.which in ("scoring", "all"):
            from bench import scoring  # lazy: imports the services

            figures = scoring.run(pg.url, objects=args.objects)
            print(json.dumps({"benchmark": "appraisal scoring run vs raw COPY of its results", **figures}, indent=2))
        if args.which in ("experts", "all"):
            from bench import experts  # lazy: imports the services

            figures = experts.run(pg.url)
            print(
                json.dumps({"benchmark": "expert assignments and satisfaction values vs raw COPY", **figures}, indent=2)
            )
    finally:
        broker.stop()
        pg.stop()
        # A scoring run leaves ~2 GB behind; a full disk makes JetStream refuse streams.
        if not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
