"""The `detainer-tracker` command: the one place that reads flags and the environment into Settings."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from streams import __version__
from streams.config import Settings, environment_help
from streams.errors import DetainerTrackerError, KafkaUnavailable
from streams.wire.reach import Refused, check
from streams.worker.state.local import EXIT_INFRASTRUCTURE, disk_too_full, mark_clean_stop, prepare

EXIT_REJECTED = 1
EXIT_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command; errors of ours print one clear line and exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # the Kafka client retries transient errors (e.g. a leader election) itself; say only what it gives up on
        logging.getLogger("kafka").setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        settings = Settings.from_env(bootstrap_servers=args.bootstrap_servers, topic_prefix=args.topic_prefix,
                                     partitions=args.partitions)
        return int(args.handler(args, settings) or 0)
    except DetainerTrackerError as exc:
        print(f"detainer-tracker: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): stop quietly, like other Unix tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C, so producers flush and close on the way out
    raise KeyboardInterrupt


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, sub-commands included (also used to render --help in the README)."""
    parser = argparse.ArgumentParser(
        prog="detainer-tracker", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Track jail bookings, fingerprint matches and immigration detainers on Kafka.",
        epilog="environment variables (flags win over them):\n" + environment_help())
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--bootstrap-servers", help="Kafka bootstrap servers [env DT_BOOTSTRAP_SERVERS]")
    parser.add_argument("--topic-prefix", help="prefix of every topic name [env DT_TOPIC_PREFIX]")
    parser.add_argument("--partitions", type=int, help="partitions of the case topics [env DT_PARTITIONS]")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _broker_parser(sub)
    _topics_parser(sub)
    _deploy_parser(sub)
    _produce_parser(sub)
    _simulate_parser(sub)
    _decide_parser(sub)
    _replay_parser(sub)
    _state_parser(sub)
    _report_parser(sub)
    _tail_parser(sub)
    _schema_parser(sub)
    _import_parser(sub)
    _worker_parser(sub)
    _agencies_parser(sub)
    _acl_parser(sub)
    w = sub.add_parser("watch", help="print a live summary of what flows (events in, decisions out, holds open)",
                       description="Read the case inputs and outputs from the beginning (no consumer group) and print "
                                   "one summary line every few seconds until interrupted: the latest event time "
                                   "(California time), events in, decisions, directives, holds open, releases due "
                                   "in the next hour, overdue releases, violations, CLETS denials, dead letters.")
    w.add_argument("--every", type=float, default=5.0, help="seconds between summary lines (default 5)")
    w.set_defaults(handler=_watch)
    rules = sub.add_parser("check-rules", help="load and validate the rule book",
                           description="Load the rule book (rules, regimes, forms, criteria, the offense table, "
                                       "policies, calendar, places, the CLETS table) and check every reference; "
                                       "print what it holds and its digest (the one dt_build_info and replay "
                                       "reports show), or the file and entry that is wrong (exit 2).")
    rules.add_argument("--rules", type=Path, help="rule book folder (default: the shipped streams/core/law/data)")
    rules.set_defaults(handler=_check_rules)
    check = sub.add_parser("check-schemas", help="parse every schema and check it against its topic",
                           description="Parse every schema version under schemas/, check that versions have no gaps "
                                       "and that each topic's event types have a schema (exit 2 when not).")
    check.set_defaults(handler=_check_schemas)
    return parser


# --- broker ---------------------------------------------------------------------------------------------------


def _broker_parser(sub: Any) -> None:
    p = sub.add_parser("broker", help="start, stop or inspect the local Kafka broker (KRaft, Maven jars)",
                       description="The local single-node KRaft broker, run on this machine's JVM from Kafka's "
                                   "Maven Central jars (fetched once into .local/jars). start formats its storage "
                                   "the first time and waits until it answers; stop stops only a broker this "
                                   "folder started; status exits 0 when it runs, 3 when it does not.")
    p.add_argument("action", choices=["start", "stop", "status", "fetch"],
                   help="status exits 0 when the broker runs, 3 when it does not")
    p.add_argument("--home", type=Path, help="broker folder [env DT_BROKER_HOME] (default .local/broker in the "
                                             "repository)")
    p.add_argument("--port", type=int, help="client port on 127.0.0.1 [env DT_BROKER_PORT] (default 9092)")
    p.add_argument("--controller-port", type=int,
                   help="KRaft controller port [env DT_CONTROLLER_PORT] (default 9093)")
    p.add_argument("--secure", action="store_true",
                   help="TLS on every listener (a local CA in HOME/tls), SASL/SCRAM and ACLs: a user for `admin` "
                        "(super user) and each principal of --roles, their settings written to "
                        "HOME/credentials/NAME.env (users set at the broker's first start)")
    p.add_argument("--mtls-port", type=int, default=9094,
                   help="with --secure: the port for clients that authenticate by certificate alone (SSL; "
                        "default 9094)")
    p.add_argument("--roles", type=Path, help="roles file naming the principals (default deploy/access/roles.yaml)")
    p.add_argument("--json", action="store_true", help="status: as JSON (running, pid, bootstrap, home, version)")
    p.set_defaults(handler=_broker)


def _broker(args: argparse.Namespace, settings: Settings) -> int:
    from streams.tools.localbroker import DEFAULT_HOME, LocalBroker, ensure_jars

    home = args.home or (Path(os.environ["DT_BROKER_HOME"]) if os.environ.get("DT_BROKER_HOME") else DEFAULT_HOME)
    port = args.port or _env_port("DT_BROKER_PORT", 9092)
    controller_port = args.controller_port or _env_port("DT_CONTROLLER_PORT", 9093)
    users = _local_users(home, settings, args.roles) if args.secure and args.action == "start" else {}
    broker = LocalBroker(home=home, port=port, controller_port=controller_port, users=users,
                         mtls_port=args.mtls_port if users else None)
    if args.action == "fetch":
        print(f"Kafka {broker.version} jars in {ensure_jars(broker.version, broker.jar_cache)}")
    elif args.action == "start":
        started = broker.start()
        state = "started" if started else "already running"
        print(f"Kafka {broker.version} {state} at {broker.bootstrap} (pid {broker.pid()}, log {broker.log_file})")
        if users:
            for name in users:
                broker.client_certificate(name)
            print(f"secured: SASL_SSL (TLS, CA {broker.ca_file}), SCRAM users {', '.join(sorted(users))}; "
                  f"settings in {home / 'credentials'} (source one: set -a; . {home / 'credentials'}/NAME.env); "
                  f"client certificates for SSL on 127.0.0.1:{args.mtls_port} in {broker.tls_dir}/client-NAME.pem")
    elif args.action == "stop":
        print("stopped" if broker.stop() else "not running")
    else:
        pid = broker.pid()
        if args.json:
            print(json.dumps({"running": pid is not None, "pid": pid, "bootstrap": broker.bootstrap,
                              "home": str(home), "version": broker.version}))
        else:
            print(f"running at {broker.bootstrap} (pid {pid})" if pid else "not running")
        return 0 if pid else 3
    return 0


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise DetainerTrackerError(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise DetainerTrackerError(f"{name}={raw!r} is not a port number")
    return port


def _local_users(home: Path, settings: Settings, roles: Path | None) -> dict[str, str]:
    """The SCRAM users of a secured local broker: kept in HOME/credentials, made once with random passwords."""
    import secrets

    from streams.tools import access
    from streams.tools.localbroker import ADMIN_USER, SCRAM_MECHANISM, LocalBroker
    from streams.wire.topics import Topics

    plan = access.load(roles or access.DEFAULT_ROLES, Topics(settings), settings.app_id)
    folder = home / "credentials"
    formatted = (home / "data" / "meta.properties").exists()
    if formatted and not folder.is_dir():
        raise DetainerTrackerError(f"the broker in {home} was first started without --secure; users are made "
                                   f"when its storage is formatted (stop it and remove {home} to start afresh)")
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    users = {}
    for name in (ADMIN_USER, *plan.principals):
        path = folder / f"{name}.env"
        if path.exists():
            values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
            users[name] = values["DT_SASL_PASSWORD"]
        elif formatted:
            raise DetainerTrackerError(f"principal {name!r} is new, but the broker in {home} is formatted; "
                                       f"SCRAM users are made at format time (remove {home} to start afresh)")
        else:
            users[name] = secrets.token_urlsafe(18)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(f"DT_SECURITY_PROTOCOL=SASL_SSL\nDT_SSL_CAFILE={LocalBroker(home=home).ca_file}\n"
                        f"DT_SASL_MECHANISM={SCRAM_MECHANISM}\nDT_SASL_USERNAME={name}\n"
                        f"DT_SASL_PASSWORD={users[name]}\n")
    return users


# --- access control -------------------------------------------------------------------------------------------


def _acl_parser(sub: Any) -> None:
    p = sub.add_parser("acl", help="write the Kafka ACLs of a roles file, or print who can do what",
                       description="apply: create the ACLs the roles file asks for (idempotent; --prune also "
                                   "removes ACLs of its principals that it no longer asks for). check: print, "
                                   "from the ACLs the broker holds, what each principal may read and write, and "
                                   "where the broker differs from the roles file; exit 1 when it does.")
    p.add_argument("action", choices=["apply", "check"], help="write the ACLs, or print who can do what")
    p.add_argument("file", nargs="?", type=Path, help="roles file (default deploy/access/roles.yaml)")
    p.add_argument("--prune", action="store_true", help="apply: remove ACLs of the file's principals not in it")
    p.set_defaults(handler=_acl)


def _acl(args: argparse.Namespace, settings: Settings) -> int:
    from streams.tools import access
    from streams.tools.admin import admin_client
    from streams.wire.topics import Topics

    topics = Topics(settings)
    plan = access.load(args.file or access.DEFAULT_ROLES, topics, settings.app_id)
    admin = admin_client(settings.kafka_client_config())
    try:
        if args.action == "apply":
            done = access.apply(admin, plan, prune=args.prune)
            for grant in done.created:
                print(f"created  {_grant_text(grant)}")
            for grant in done.removed:
                print(f"removed  {_grant_text(grant)}")
            print(f"{len(done.created)} ACL(s) created, {len(done.removed)} removed, {done.kept} already in place")
            return 0
        have = access.current(admin)
    finally:
        admin.close()
    have = frozenset(g for g in have if g.name.startswith(plan.prefix))  # this deployment's resources only
    principals = sorted({*plan.principal_names, *(g.principal for g in have)})
    width = max(len(t.name) for t in topics)
    print(f"{'principal':<22} {'topic':<{width}}  may")
    for principal, topic, can in access.matrix(have, principals, [t.name for t in topics]):
        if can != "-":
            print(f"{principal:<22} {topic:<{width}}  {can}")
    for principal in principals:
        groups = sorted(g.name + ("*" if g.pattern == "PREFIXED" else "") for g in have
                        if g.principal == principal and g.resource_type == "GROUP" and g.operation == "READ")
        if groups:
            print(f"{principal:<22} consumer groups {', '.join(groups)}")
    missing, extra = plan.grants - have, {g for g in have - plan.grants if plan.owns(g)}
    for grant in sorted(missing):
        print(f"MISSING on the broker: {_grant_text(grant)}")
    for grant in sorted(extra):
        print(f"NOT in the roles file: {_grant_text(grant)}")
    print("the broker's ACLs match the roles file" if not (missing or extra)
          else f"{len(missing)} missing, {len(extra)} not in the file (acl apply [--prune] fixes it)")
    return EXIT_REJECTED if missing or extra else 0


def _grant_text(grant: Any) -> str:
    star = "*" if grant.pattern == "PREFIXED" else ""
    return f"{grant.principal} {grant.operation} {grant.resource_type} {grant.name}{star}"


# --- agency registry ------------------------------------------------------------------------------------------


def _agencies_parser(sub: Any) -> None:
    p = sub.add_parser("agencies", help="keep the CLETS agency registry (a compacted topic) from a file, or list it",
                       description="load: produce the entries of a YAML file that are new or changed (loading "
                                   "the same file twice writes nothing); entries are never deleted, an agency "
                                   "that loses access gets revoked_at. list: print the registry.")
    p.add_argument("action", choices=["load", "list"], help="load a file into the registry, or list the registry")
    p.add_argument("file", nargs="?", type=Path, help="load: YAML file with an `agencies:` list "
                                                     "(example: deploy/agencies.yaml)")
    p.add_argument("--dry-run", action="store_true", help="load: say what would change, produce nothing")
    p.add_argument("--json", action="store_true", help="list: one JSON object per agency")
    p.set_defaults(handler=_agencies)


def _agencies(args: argparse.Namespace, settings: Settings) -> int:
    from streams.tools import agencies
    from streams.tools.produce import EventProducer

    codec = _codec(settings)
    topic = codec.topics["clets_agreements"].name
    registry = agencies.read_registry(settings.kafka_client_config(), codec, topic)
    if args.action == "list":
        if args.json:
            from streams.wire.schemas import to_json

            for _, r in sorted(registry.items()):
                print(json.dumps(to_json(codec.registry.latest(agencies.TYPE), r)))
            return 0
        for agency_id, r in sorted(registry.items()):
            signed = r["agreement_signed_at"].date().isoformat() if r["agreement_signed_at"] else "-"
            revoked = r["revoked_at"].date().isoformat() if r["revoked_at"] else "-"
            print(f"{agency_id:<12} {r['kind']:<10} access {'yes' if r['clets_access'] else 'no ':<3} "
                  f"agreement {signed:<10} revoked {revoked:<10} {r['name']}")
        print(f"{len(registry)} agencies in {topic}")
        return 0
    if args.file is None:
        raise DetainerTrackerError("agencies load needs a FILE")
    entries = agencies.read_file(args.file, codec, settings.source, datetime.now(UTC))
    plan = agencies.plan(entries, registry)
    if not args.dry_run and plan.to_send:
        with EventProducer(settings.kafka_client_config(), codec) as producer:
            for record in plan.to_send:
                producer.send(agencies.TYPE, record)
    verb = "would send" if args.dry_run else "sent"
    for record in plan.added:
        print(f"{verb} new      {record['agency_id']} ({record['kind']}) {record['name']}")
    for record in plan.changed:
        print(f"{verb} changed  {record['agency_id']} ({record['kind']}) {record['name']}")
    if plan.only_in_registry:
        print(f"in the registry, not in the file (left as they are): {', '.join(plan.only_in_registry)}")
    print(f"{len(plan.added)} new, {len(plan.changed)} changed, {len(plan.unchanged)} unchanged")
    return 0


# --- topics ---------------------------------------------------------------------------------------------------


def _deploy_parser(sub: Any) -> None:
    from streams.tools.kubernetes import DEFAULT_OUT, Options

    d = Options()
    p = sub.add_parser("deploy", help="write the Kubernetes manifests derived from the topics, roles and alerts",
                       description="kubernetes: write deploy/kubernetes/ for a Strimzi-managed Kafka: the cluster, "
                                   "a KafkaTopic per declared topic, a KafkaUser per principal of the roles file "
                                   "with its ACLs, the workers' StatefulSet, the PodMonitor, the alert rules and "
                                   "the dashboards. --check: write nothing, exit 1 if the files differ.")
    p.add_argument("target", choices=["kubernetes"], help="what to write manifests for")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder (default deploy/kubernetes)")
    p.add_argument("--namespace", default=d.namespace, help=f"namespace (default {d.namespace})")
    p.add_argument("--workers", type=int, default=d.workers, help=f"worker replicas (default {d.workers})")
    p.add_argument("--kafka-nodes", type=int, default=d.kafka_nodes,
                   help=f"Kafka nodes, each broker and controller (default {d.kafka_nodes})")
    p.add_argument("--replicas", type=int, default=d.replicas, help=f"replicas of every topic (default {d.replicas})")
    p.add_argument("--image", default=d.image, help=f"the worker image (default {d.image})")
    p.add_argument("--authentication", choices=["scram-sha-512", "tls"], default=d.authentication,
                   help="how the workers authenticate (default scram-sha-512)")
    p.add_argument("--roles", type=Path, help="roles file (default deploy/access/roles.yaml)")
    p.add_argument("--check", action="store_true", help="exit 1 if the files on disk differ from what is derived")
    p.set_defaults(handler=_deploy)


def _deploy(args: argparse.Namespace, settings: Settings) -> int:
    from streams.tools import access
    from streams.tools.kubernetes import Options, render, write

    if not 1 <= args.workers <= settings.partitions:
        raise DetainerTrackerError(f"--workers must be 1 to {settings.partitions} (a worker owns at least one of "
                                   "the case topics' partitions)")
    options = Options(namespace=args.namespace, workers=args.workers, kafka_nodes=args.kafka_nodes,
                      replicas=args.replicas, image=args.image, authentication=args.authentication)
    files = render(settings, options, args.roles or access.DEFAULT_ROLES)
    if args.check:
        stale = [name for name, text in files.items()
                 if not (args.out / name).exists() or (args.out / name).read_text() != text]
        print(f"differ from what is derived: {', '.join(stale)}" if stale else f"{args.out} is up to date")
        return 1 if stale else 0
    changed = write(args.out, files)
    print(f"{len(files)} file(s) in {args.out}, {len(changed)} changed")
    return 0


def _topics_parser(sub: Any) -> None:
    p = sub.add_parser("topics", help="create the declared topics, or list them with what the broker has",
                       description="create: make every declared topic that does not exist (idempotent). list: "
                                   "every declared topic with its key, partitions, retention and writer, and what "
                                   "the broker holds of it; exit 1 when a topic is missing or has another partition "
                                   "count, 2 when the broker cannot be reached. list --declared: the declarations "
                                   "alone, without a broker.")
    p.add_argument("action", choices=["create", "list"], help="create the declared topics, or list them")
    p.add_argument("--declared", action="store_true", help="list: the declared topics only, without asking the broker")
    p.add_argument("--json", action="store_true", help="list: one JSON object per topic")
    p.set_defaults(handler=_topics)


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from streams.wire.topics import Topics

    topics = Topics(settings)
    if args.action == "list":
        return _list_topics(topics, None if args.declared else settings, args.json)
    from streams.tools.admin import admin_client, create_topics

    admin = admin_client(settings.kafka_client_config())
    try:
        statuses = create_topics(admin, topics, settings.replication_factor)
    finally:
        admin.close()
    bad = [s for s in statuses if not s.ok]
    for s in statuses:
        note = "" if s.ok else f"  MISMATCH: has {s.partitions} partitions, declared {s.topic.partitions}"
        print(f"{s.action:<8} {s.topic.name} ({s.topic.partitions} partitions){note}")
    if bad:
        raise DetainerTrackerError(f"{len(bad)} topic(s) exist with another partition count; co-partitioning "
                                   "needs them equal (recreate them or set DT_PARTITIONS to match)")
    return 0


def _list_topics(topics: Any, settings: Settings | None, as_json: bool = False) -> int:
    """The declared topics, and (given the settings) what the broker holds of each; 1 when it differs."""
    found: dict[str, int] | None = None
    if settings is not None:
        from streams.tools.admin import admin_client, partition_counts

        admin = admin_client(settings.kafka_client_config())
        try:
            found = partition_counts(admin, [t.name for t in topics])
        finally:
            admin.close()
    differ = 0
    for t in topics:
        retention = ("forever" if t.spec.retention_ms < 0 and t.spec.retention_bytes < 0 else
                     f"{t.spec.retention_ms // 86_400_000} days" if t.spec.retention_ms >= 0 else
                     f"{t.spec.retention_bytes // 2**20} MiB")
        broker = ""
        if found is not None:
            has = found.get(t.name)
            broker = ("MISSING" if has is None else "present" if has == t.partitions else
                      f"MISMATCH: {has} partitions")
            broker = f"broker {broker:<26} "
            differ += has != t.partitions
        if as_json:
            print(json.dumps({"id": t.spec.id, "name": t.name, "partitions": t.partitions, "key": t.spec.key_field,
                              "cleanup_policy": t.spec.cleanup_policy, "retention": retention,
                              "writer": t.spec.writer, "event_types": list(t.spec.event_types),
                              "broker_partitions": found.get(t.name) if found is not None else None,
                              "on_broker": None if found is None else found.get(t.name) == t.partitions}))
            continue
        print(f"{t.name:<32} {t.partitions:>3} partitions  key {t.spec.key_field or '-':<11} "
              f"{t.spec.cleanup_policy:<7} {retention:<8} {broker}writer {t.spec.writer}")
    if differ:
        print(f"{differ} declared topic(s) missing or with another partition count (detainer-tracker topics create)",
              file=sys.stderr)
    return EXIT_REJECTED if differ else 0


# --- produce --------------------------------------------------------------------------------------------------


def _produce_parser(sub: Any) -> None:
    p = sub.add_parser("produce", help="send JSON-lines events (one event a line, with its 'type') to Kafka",
                       description="Send JSON-lines events to their topics. Every bad line is reported with "
                                   "its number; good lines are sent regardless. An event whose occurred_at is "
                                   "more than DT_FUTURE_TOLERANCE seconds past this machine's clock, or before "
                                   "DT_EARLIEST_EVENT, is refused: history may be any age, the future may not. "
                                   "Exit 1 when any line was rejected.")
    p.add_argument("file", help="JSON-lines file, or - for standard input")
    p.add_argument("--dry-run", action="store_true",
                   help="check every line as produce would (JSON, schema, size, time window, jurisdiction) and "
                        "send nothing; no broker needed")
    p.set_defaults(handler=_produce)


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    from streams.core.admission import TimeWindow
    from streams.tools.produce import EventProducer, check_lines, produce_file

    codec = _codec(settings)
    stream = sys.stdin.buffer if args.file == "-" else _open(args.file)
    window = TimeWindow.around(datetime.now(UTC), settings.earliest, timedelta(seconds=settings.future_tolerance))
    if args.dry_run:
        report = check_lines(stream, codec, window)
    else:
        with EventProducer(settings.kafka_client_config(), codec) as producer:
            report = produce_file(stream, producer, window)
    for warned in report.warnings:
        print(f"warning: {warned}", file=sys.stderr)
    for bad in report.rejected:
        print(f"{args.file}: {bad}", file=sys.stderr)
    kinds = ", ".join(f"{n} {t}" for t, n in sorted(report.by_type.items()))
    verb = "would send" if args.dry_run else "sent"
    print(f"{verb} {report.sent} event(s){': ' + kinds if kinds else ''}; rejected {len(report.rejected)}"
          + (f"; {len(report.warnings)} taken otherwise than written" if report.warnings else ""))
    return 0 if report.ok else EXIT_REJECTED


def _open(path: str) -> Any:
    """A JSON-lines file, in binary: each line is decoded on its own, so one that is not UTF-8 stops nothing."""
    try:
        return open(path, "rb")  # noqa: SIM115 - closed at exit of this short-lived command
    except OSError as exc:
        raise DetainerTrackerError(f"cannot read {path}: {exc.strerror}") from exc


# --- simulate -------------------------------------------------------------------------------------------------


def _simulate_parser(sub: Any) -> None:
    p = sub.add_parser("simulate", help="produce realistic California jail traffic",
                       description="Simulated bookings, matches, detainers, court events and releases at the "
                                   "2019 BSCC booking rates per county. Deterministic for a seed.")
    p.add_argument("--seed", type=int, default=1, help="random seed: one seed, one simulation (default 1)")
    p.add_argument("--start", default="now", help="simulated start: ISO instant with offset, or 'now' (default)")
    p.add_argument("--days", type=float, help="simulated days to run (default: endless)")
    p.add_argument("--backfill-days", type=float, default=0.0,
                   help="start this many days before --start and send that history at once (default 0)")
    p.add_argument("--speed", type=float,
                   help="simulated seconds per wall-clock second (1 = real time, the default into Kafka; 0 = no "
                        "pacing, the default with --output); sent to Kafka, no event goes out before its time, so "
                        "a simulation that reaches the present goes on in real time")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every booking rate (default 1)")
    p.add_argument("--county", action="append", default=[], help="only this county (repeatable)")
    p.add_argument("--detainers-per-day", type=float, help="statewide detainers per day (default 46.1)")
    p.add_argument("--output", help="write JSON lines to this file (- for stdout) instead of Kafka")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--state", type=Path,
                   help="resume from this file and keep it: a run of the same seed, scale and counties goes on "
                        "from where the last one stopped, with the events that come next (none sent twice)")
    p.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from streams.tools import simulate

    live_from = _instant(args.start)
    config = simulate.SimConfig(start=live_from - timedelta(days=args.backfill_days), days=args.days,
                                seed=args.seed, scale=args.scale, counties=tuple(args.county),
                                detainers_per_day=args.detainers_per_day)
    state = None
    if args.state:
        state = simulate.SimState.load(args.state, config)
        if state is None:
            state = simulate.SimState(config.seed, config.scale, config.counties, config.start)
        else:  # the same simulation, from its first start; what it sent is skipped, the rest paced from now on
            config = dataclasses.replace(config, start=state.start)
            if state.sent_through is not None and state.sent_through > live_from:
                live_from = state.sent_through
            if not args.quiet:
                print(f"resuming the simulation of {state.start.isoformat()} after "
                      f"{state.sent_through.isoformat() if state.sent_through else 'its start'} ({args.state})",
                      file=sys.stderr)
    sim = simulate.Simulator(config)

    def progress(stats: simulate.SimStats, elapsed: float) -> None:
        print(stats.line(elapsed), file=sys.stderr, flush=True)

    report = None if args.quiet else progress
    speed = (args.speed if args.speed is not None else 0.0 if args.output else 1.0) or None
    if args.output:
        from streams.wire.schemas import to_json

        codec = _codec(settings)
        out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115

        def write(type_name: str, record: dict[str, Any]) -> None:
            obj = {"type": type_name, **to_json(codec.registry.latest(type_name), record)}
            out.write(json.dumps(obj, separators=(",", ":")) + "\n")

        simulate.run(sim, write, speed, live_from, report, state=state,
                     checkpoint=(lambda: (out.flush(), state.save(args.state))) if state else None)
        out.flush()
        return 0
    from streams.tools.produce import EventProducer

    with EventProducer(settings.kafka_client_config(), _codec(settings),
                       client_id="detainer-tracker-simulator") as p:
        simulate.run(sim, p.send, speed, live_from, report, wall_clock=lambda: datetime.now(UTC), state=state,
                     checkpoint=(lambda: (p.flush(30), state.save(args.state))) if state else None)
    return 0


_RELATIVE = re.compile(r"^now(?:([+-])(\d+(?:\.\d+)?)([dhm]))?$")


def _instant(text: str) -> datetime:
    match = _RELATIVE.match(text)
    if match:
        now = datetime.now(UTC)
        if not match.group(1):
            return now
        amount = float(match.group(2)) * {"d": 86400, "h": 3600, "m": 60}[match.group(3)]
        return now + timedelta(seconds=amount if match.group(1) == "+" else -amount)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise DetainerTrackerError(f"{text!r} is not an ISO-8601 instant or 'now[-Nd]'") from None
    if instant.tzinfo is None:
        raise DetainerTrackerError(f"{text!r} has no UTC offset; write e.g. 2019-06-03T07:00:00-07:00")
    return instant


# --- worker ---------------------------------------------------------------------------------------------------


def _worker_parser(sub: Any) -> None:
    p = sub.add_parser("worker", help="run the case processor and the CLETS gate (Faust worker)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=("Consume the case topics and the clock (each partition's records in event-time "
                                    "order), apply the law, write decisions, directives, violations, notices and "
                                    "status facts; decide CLETS queries. A message that cannot be read or decided "
                                    "becomes a dead letter and the partition goes on. A watchdog resumes, then gives "
                                    "up on, an input partition left unread for 45 s; when Kafka or the disk fails a "
                                    "write, or input waits unhandled for 60 s, the worker exits with status 75 "
                                    "without committing, to be started again; it does not start with under 64 MiB "
                                    "free for its tables. A local store that will not open after a clean "
                                    "stop is rebuilt from the changelog. Settings come from the environment (see "
                                    "detainer-tracker --help) and the flags below."))
    p.add_argument("--data-dir", type=Path, help="table state folder [env DT_DATA_DIR]")
    p.add_argument("--store", choices=["rocksdb", "memory"], help="table store [env DT_STORE]")
    p.add_argument("--web-port", type=int, help="HTTP port [env DT_WEB_PORT]")
    p.add_argument("--no-ticker", action="store_true", help="do not write clock ticks [env DT_TICKER=0]")
    p.add_argument("--loglevel", default="warning", help="worker log level (default warning)")
    p.set_defaults(handler=_worker)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses

    from streams.worker.app import run

    changes = {k: v for k, v in (("data_dir", args.data_dir), ("store", args.store),
                                 ("web_port", args.web_port)) if v is not None}
    if args.no_ticker:
        changes["ticker"] = False
    settings = dataclasses.replace(settings, **changes)
    full = disk_too_full(settings.data_dir)
    if full is not None:
        logging.getLogger(__name__).critical("%s; the worker does not start (status %d): free space there and it "
                                             "resumes from its last commit", full, EXIT_INFRASTRUCTURE)
        return EXIT_INFRASTRUCTURE
    try:
        check(settings.kafka_client_config())  # a refused login or certificate is said as such, at once
    except Refused:
        raise
    except KafkaUnavailable as exc:  # the broker away: infrastructure, so the supervisor tries again
        logging.getLogger(__name__).critical("%s; the worker does not start (status %d)", exc, EXIT_INFRASTRUCTURE)
        return EXIT_INFRASTRUCTURE
    prepare(settings.data_dir)
    run(settings, args.loglevel)
    mark_clean_stop(settings.data_dir)
    return 0


def _watch(args: argparse.Namespace, settings: Settings) -> int:
    from streams.tools.watch import watch

    watch(settings.kafka_client_config(), _codec(settings), args.every, lambda line: print(line, flush=True))
    return 0


# --- decide ---------------------------------------------------------------------------------------------------


def _decide_parser(sub: Any) -> None:
    p = sub.add_parser(
        "decide", help="run the decision core over JSON-lines events, no broker needed",
        description="Read the JSON-lines events that `produce` takes, order them as the engine does (by instant, "
                    "then by legal meaning, then by id), apply the law in force at each instant, fire deadlines as "
                    "time advances (and at the end up to --until), and write "
                    "every output as one JSON line to stdout. Bad lines are reported on stderr with their numbers "
                    "and do not stop the run (exit 1 when there were any).")
    p.add_argument("file", help="JSON-lines events, or - for standard input")
    p.add_argument("--rules", type=Path, help="rule book folder (default: the shipped streams/core/law/data)")
    p.add_argument("--jurisdiction", default="CA",
                   help="STATE or STATE/County for bookings whose booking record is not in the input (default CA)")
    p.add_argument("--until", help="at the end of input, fire deadlines up to this ISO instant")
    p.add_argument("--as-if", dest="as_if", metavar="REGIME",
                   help="decide as if this regime (e.g. CA_VALUES) had governed at every instant")
    p.set_defaults(handler=_decide)


def _decide(args: argparse.Namespace, settings: Settings) -> int:
    from streams.tools.decide import decide_file

    state, _, county = args.jurisdiction.partition("/")
    until = _instant(args.until) if args.until else None
    stream = sys.stdin.buffer if args.file == "-" else _open(args.file)
    bad = decide_file(stream, sys.stdout, _codec(settings), args.rules, state, county or None, until, args.as_if)
    for line in bad:
        print(f"{args.file}: {line}", file=sys.stderr)
    return EXIT_REJECTED if bad else 0


def _state_parser(sub: Any) -> None:
    p = sub.add_parser(
        "state", help="print one booking's state as the case processor holds it (from the cases changelog)",
        description="Read the case processor's changelog (<app id>-cases-changelog) and print the newest state of "
                    "one booking as JSON: its case (facts, detainers, custody and the instants that matter), the "
                    "deadlines pending, its events, the ids of the outputs that stand and how far it is decided. "
                    "Exit 1 when the changelog holds no state for the booking.")
    p.add_argument("booking_id", help="the booking's id (the changelog's key)")
    p.set_defaults(handler=_state)


def _state(args: argparse.Namespace, settings: Settings) -> int:
    from streams.replay.state import read_state
    from streams.wire.schemas import SchemaRegistry
    from streams.wire.state import StateCodec, readable
    from streams.wire.topics import changelog_of

    states = StateCodec(SchemaRegistry(settings.schemas_dir))
    changelog = changelog_of(settings.app_id)
    record = read_state(settings.kafka_client_config(), changelog, args.booking_id, states)
    if record is None:
        print(f"no state of booking {args.booking_id!r} on {changelog}", file=sys.stderr)
        return EXIT_REJECTED
    print(json.dumps(readable(states, record), indent=2, ensure_ascii=False))
    return 0


def _replay_parser(sub: Any) -> None:
    from streams.replay import command

    command.add_parser(sub, _replay)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from streams.replay import command

    return command.run(args, settings, _codec(settings))


def _import_parser(sub: Any) -> None:
    p = sub.add_parser("import", help="a jail's export (delimited, gzip or not, one line per charge) into events",
                       description="Read a jail system's export with a column map (YAML; examples in "
                                   "deploy/imports/): the lines of each booking grouped, naive times given the map's "
                                   "zone, and the booking's events made (booked, holds lodged and lifted, release "
                                   "due, released or transferred). Sent to Kafka, or written as JSON lines with "
                                   "--output (for decide). Event ids are stable: importing the same file again "
                                   "sends the same events. Every line refused is reported with its number and "
                                   "reason, and its booking left out; exit 1 when any was.")
    p.add_argument("file", type=Path, help="the export: comma, pipe or tab delimited (gzip-compressed or not), or "
                                           "an Excel workbook (.xlsx, its first sheet)")
    p.add_argument("--map", type=Path, required=True, dest="column_map", help="the column map (YAML)")
    p.add_argument("--dry-run", action="store_true", help="check and count, send nothing, no broker needed")
    p.add_argument("--output", "-o", help="write JSON lines to this file (- for stdout) instead of Kafka")
    p.add_argument("--progress", action="store_true", default=None,
                   help="show a progress bar while sending (default: on a terminal)")
    p.add_argument("--quiet", action="store_false", dest="progress", help="no progress bar")
    p.set_defaults(handler=_import)


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from streams.tools.importer import ColumnMap, convert, read_rows
    from streams.wire.schemas import to_json

    column_map = ColumnMap.load(args.column_map)
    if not args.file.is_file():
        raise DetainerTrackerError(f"cannot read {args.file}: no such file")
    try:
        result = convert(read_rows(args.file, column_map.delimiter, column_map.time_format), column_map)
    except ValueError as exc:
        raise DetainerTrackerError(f"{args.file}: {exc}") from None
    codec = _codec(settings)
    for type_name, record in result.events:  # what the map made must be what the schemas allow
        codec.validate(type_name, record)
    for refused in result.refused:
        print(f"{args.file}: {refused}", file=sys.stderr)
    if args.output:
        out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
        for type_name, record in result.events:
            out.write(json.dumps({"type": type_name, **to_json(codec.registry.latest(type_name), record)},
                                 separators=(",", ":")) + "\n")
        if out is not sys.stdout:
            out.close()
    elif not args.dry_run:
        from streams.tools.produce import EventProducer
        from streams.tools.terminal import ProgressBar

        show = sys.stderr.isatty() if args.progress is None else args.progress
        bar = ProgressBar(sys.stderr, label="import", unit="events") if show else None
        with EventProducer(settings.kafka_client_config(), codec, client_id="detainer-tracker-import") as producer:
            for n, (type_name, record) in enumerate(result.events, 1):
                producer.send(type_name, record, validate=False)
                if bar:
                    bar.update(n, len(result.events))
        if bar:
            bar.finish()
    verb = "would send" if args.dry_run else "wrote" if args.output else "sent"
    kinds = ", ".join(f"{n} {t}" for t, n in sorted(Counter(t for t, _ in result.events).items()))
    print(f"{result.rows} line(s) read, {result.bookings} booking(s); {verb} {len(result.events)} event(s): {kinds}; "
          f"{len(result.refused)} line(s) refused", file=sys.stderr)
    return EXIT_REJECTED if result.refused else 0


def _schema_parser(sub: Any) -> None:
    p = sub.add_parser("schema", help="list the event and output types, or show one type's fields",
                       description="Without a type: every event and output type, its newest schema version and "
                                   "its topic. With one: each field of its JSON form (nested records expanded as "
                                   "charges[].statute), its type in words, whether it may be left out and its "
                                   "default, and what it means.")
    p.add_argument("type_name", nargs="?", metavar="TYPE", help="e.g. BookingRecorded")
    p.add_argument("--version", type=int, dest="schema_version", help="an older version (default: the newest)")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(handler=_schema)


def _schema(args: argparse.Namespace, settings: Settings) -> int:
    from streams.tools.describe_schema import write

    write(_codec(settings), args.type_name, args.json, sys.stdout, args.schema_version)
    return 0


def _tail_parser(sub: Any) -> None:
    from streams.tools import tail

    tail.add_parser(sub, _tail)


def _tail(args: argparse.Namespace, settings: Settings) -> int:
    from streams.tools import tail

    return tail.run(args, settings, _codec(settings))


def _report_parser(sub: Any) -> None:
    from streams.replay import transfers

    transfers.add_parser(sub, _report)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from streams.replay import transfers

    return transfers.run(args, settings, _codec(settings))


def _check_rules(args: argparse.Namespace, settings: Settings) -> int:
    from streams.core import clets
    from streams.core.law import rulebook

    book = rulebook.load(args.rules)
    rows = clets.load_rows(args.rules)
    print(f"rule book {book.source}: {len(book.rules)} rules, {len(book.forms)} forms, "
          f"{len(book.offenses.entries)} offenses from {len(book.offenses.sources)} sources, "
          f"{len(book.categories)} offense categories, {len(book.policies)} local policies, {len(rows)} CLETS rows; "
          f"digest {book.digest}")
    return 0


# --- schemas --------------------------------------------------------------------------------------------------


def _codec(settings: Settings) -> Any:
    from streams.wire.codec import Codec
    from streams.wire.schemas import SchemaRegistry
    from streams.wire.topics import Topics

    return Codec(SchemaRegistry(settings.schemas_dir), Topics(settings))


def _check_schemas(args: argparse.Namespace, settings: Settings) -> int:
    codec = _codec(settings)
    schemas = list(codec.registry)
    print(f"{len(schemas)} schema version(s) of {len(codec.registry.types)} event types parse; "
          f"every topic's event types have a schema")
    return 0


if __name__ == "__main__":
    sys.exit(main())
