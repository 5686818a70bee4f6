"""One frozen, validated settings object, built once at the edge (CLI) from flags and the environment.

Nothing below `cli.py` reads `os.environ`: settings are passed down explicitly.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time
from functools import cached_property
from pathlib import Path
from typing import Any

from streams.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]

SECURITY_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
SASL_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Setting:
    """How one setting is named in the environment and described in --help and README."""

    env: str
    help: str


#: Every environment variable the project reads, in one place (also rendered into --help).
ENVIRONMENT: dict[str, Setting] = {
    "bootstrap_servers": Setting("DT_BOOTSTRAP_SERVERS", "Kafka bootstrap servers (default 127.0.0.1:9092)"),
    "topic_prefix": Setting("DT_TOPIC_PREFIX", "prefix of every topic name (default 'dt.')"),
    "partitions": Setting("DT_PARTITIONS", "partitions of the co-partitioned case topics (default 6)"),
    "replication_factor": Setting("DT_REPLICATION_FACTOR", "replication factor of created topics (default 1)"),
    "schemas_dir": Setting("DT_SCHEMAS_DIR", "folder of the Avro schemas (default: the repository's schemas/)"),
    "connect_timeout": Setting("DT_CONNECT_TIMEOUT", "seconds to wait for Kafka to answer at start (default 30)"),
    "data_dir": Setting("DT_DATA_DIR", "worker table state; keep it on persistent disk (default .local/worker)"),
    "store": Setting("DT_STORE", "table store: rocksdb (rocksdict, default) or memory"),
    "processing_guarantee": Setting("DT_PROCESSING_GUARANTEE", "at_least_once (default; outputs carry ids that "
                                                               "make repeats recognisable) or exactly_once"),
    "ticker": Setting("DT_TICKER", "1 (default): write clock ticks (every partition each tick interval, and one when a "
                                   "deadline comes due); 0: time moves "
                                   "only with events and ticks written by others (replays, tests)"),
    "tick_interval": Setting("DT_TICK_INTERVAL", "seconds between the clock ticks written to every partition "
                                                 "(default 1.0); a partition whose deadline comes due gets one at "
                                                 "once besides"),
    "commit_interval": Setting("DT_COMMIT_INTERVAL", "seconds between the worker's commits (default 1.0)"),
    "web_port": Setting("DT_WEB_PORT", "the worker's HTTP port (/metrics for Prometheus), default 6066"),
    "web_bind": Setting("DT_WEB_BIND", "the address the worker's HTTP port listens on (default 127.0.0.1; "
                                       "0.0.0.0 in containers)"),
    "security_protocol": Setting("DT_SECURITY_PROTOCOL", "PLAINTEXT (default), SASL_SSL (SCRAM users over TLS), "
                                                         "SSL (TLS with a client certificate as the principal) or "
                                                         "SASL_PLAINTEXT (no encryption); see README, Access "
                                                         "control"),
    "sasl_mechanism": Setting("DT_SASL_MECHANISM", "SCRAM-SHA-256 (default) or SCRAM-SHA-512"),
    "sasl_username": Setting("DT_SASL_USERNAME", "the Kafka principal this process authenticates as"),
    "sasl_password": Setting("DT_SASL_PASSWORD", "its password (never printed)"),
    "ssl_cafile": Setting("DT_SSL_CAFILE", "PEM file of the CA certificates that sign the brokers' (default: the "
                                           "system's trusted CAs)"),
    "ssl_certfile": Setting("DT_SSL_CERTFILE", "PEM file of this process's client certificate (needed for SSL)"),
    "ssl_keyfile": Setting("DT_SSL_KEYFILE", "PEM file of its private key (keep it 0600)"),
    "ssl_key_password": Setting("DT_SSL_KEY_PASSWORD", "the key file's password, when it is encrypted (never "
                                                       "printed)"),
    "ssl_check_hostname": Setting("DT_SSL_CHECK_HOSTNAME", "1 (default): the broker's certificate must name the "
                                                           "host connected to; 0 only for a broken test set-up"),
    "future_tolerance": Setting("DT_FUTURE_TOLERANCE", "seconds an event's occurred_at may lie past the wall clock "
                                                       "(default 300); later ones are refused by produce, the "
                                                       "broker and the worker"),
    "earliest_event": Setting("DT_EARLIEST_EVENT", "the earliest occurred_at produce accepts, a date "
                                                   "(default 2000-01-01)"),
    "settle": Setting("DT_SETTLE", "seconds: a booking nothing was sent for, whose events arrive this far behind "
                                   "its partition's time, is decided whole once that time has run this far past "
                                   "their arrival (default 300; 0: at once, with corrections)"),
    "source": Setting("DT_SOURCE", "name this process writes into the `source` of events it makes "
                                   "(default detainer-tracker@HOST)"),
}


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to reach Kafka and name its topics."""

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "dt."
    partitions: int = 6
    replication_factor: int = 1
    schemas_dir: Path = REPO_ROOT / "schemas"
    connect_timeout: int = 30
    data_dir: Path = REPO_ROOT / ".local" / "worker"
    store: str = "rocksdb"
    processing_guarantee: str = "at_least_once"
    ticker: bool = True
    web_port: int = 6066
    web_bind: str = "127.0.0.1"
    commit_interval: float = 1.0
    tick_interval: float = 1.0
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-256"
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    ssl_key_password: str = field(default="", repr=False)
    ssl_check_hostname: bool = True
    future_tolerance: float = 300.0
    earliest_event: str = "2000-01-01"
    settle: float = 300.0
    source: str = f"detainer-tracker@{socket.gethostname()}"

    def __post_init__(self) -> None:
        """Validate every field; a bad value stops start-up with a message naming the setting."""
        if not self.bootstrap_servers.strip():
            raise ConfigError("bootstrap_servers must not be empty (DT_BOOTSTRAP_SERVERS)")
        if not _PREFIX_RE.match(self.topic_prefix):
            raise ConfigError(f"topic_prefix {self.topic_prefix!r} may hold only letters, digits, '.', '_' "
                              "and '-' (DT_TOPIC_PREFIX)")
        if not 1 <= self.partitions <= 1000:
            raise ConfigError(f"partitions must be between 1 and 1000, got {self.partitions} (DT_PARTITIONS)")
        if self.replication_factor < 1:
            raise ConfigError(f"replication_factor must be at least 1, got {self.replication_factor}")
        if self.connect_timeout < 1:
            raise ConfigError(f"connect_timeout must be at least 1 s, got {self.connect_timeout} (DT_CONNECT_TIMEOUT)")
        if self.store not in ("rocksdb", "memory"):
            raise ConfigError(f"store must be rocksdb or memory, got {self.store!r} (DT_STORE)")
        if self.processing_guarantee not in ("exactly_once", "at_least_once"):
            raise ConfigError(f"processing_guarantee must be exactly_once or at_least_once, got "
                              f"{self.processing_guarantee!r} (DT_PROCESSING_GUARANTEE)")
        if not 0 < self.commit_interval <= 60:
            raise ConfigError(f"commit_interval must be in (0, 60] seconds, got {self.commit_interval}")
        if not 0.05 <= self.tick_interval <= 3600:
            raise ConfigError(f"tick_interval must be in [0.05, 3600] seconds, got {self.tick_interval} "
                              "(DT_TICK_INTERVAL)")
        if not 0 < self.web_port < 65536:
            raise ConfigError(f"web_port must be a TCP port, got {self.web_port} (DT_WEB_PORT)")
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(f"security_protocol must be one of {', '.join(SECURITY_PROTOCOLS)}, got "
                              f"{self.security_protocol!r} (DT_SECURITY_PROTOCOL)")
        if self.sasl_mechanism not in SASL_MECHANISMS:
            raise ConfigError(f"sasl_mechanism must be one of {', '.join(SASL_MECHANISMS)}, got "
                              f"{self.sasl_mechanism!r} (DT_SASL_MECHANISM)")
        if self.security_protocol.startswith("SASL") and not (self.sasl_username and self.sasl_password):
            raise ConfigError(f"{self.security_protocol} needs a user name and a password "
                              "(DT_SASL_USERNAME, DT_SASL_PASSWORD)")
        self._check_tls()
        if not 0 <= self.future_tolerance <= 86_400:
            raise ConfigError(f"future_tolerance must be in [0, 86400] seconds, got {self.future_tolerance} "
                              "(DT_FUTURE_TOLERANCE)")
        if not 0 <= self.settle <= 86_400:
            raise ConfigError(f"settle must be in [0, 86400] seconds, got {self.settle} (DT_SETTLE)")
        try:
            date.fromisoformat(self.earliest_event)
        except (TypeError, ValueError):
            raise ConfigError(f"earliest_event must be a date YYYY-MM-DD, got {self.earliest_event!r} "
                              "(DT_EARLIEST_EVENT)") from None
        if not Path(self.schemas_dir).is_dir():
            raise ConfigError(f"schemas_dir {self.schemas_dir} is not a folder (DT_SCHEMAS_DIR)")

    @property
    def app_id(self) -> str:
        """The case processor's Faust app id, also its consumer group and the prefix of its changelogs."""
        return f"{self.topic_prefix}case-processor"

    @property
    def earliest(self) -> datetime:
        """The earliest instant an event may carry (midnight UTC of `earliest_event`)."""
        return datetime.combine(date.fromisoformat(self.earliest_event), time(), UTC)

    def _check_tls(self) -> None:
        if self.security_protocol == "SSL" and not (self.ssl_certfile and self.ssl_keyfile):
            raise ConfigError("SSL authenticates by a client certificate: give its file and its key's "
                              "(DT_SSL_CERTFILE, DT_SSL_KEYFILE)")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ConfigError("a client certificate needs its key, and a key its certificate (DT_SSL_CERTFILE, "
                              "DT_SSL_KEYFILE)")
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(self, name)
            if value and not Path(value).is_file():
                raise ConfigError(f"{name} {value} is not a file ({ENVIRONMENT[name].env})")
        if self.tls:
            self.ssl_context  # noqa: B018 - a CA or key that does not load stops start-up here, saying which

    @property
    def secured(self) -> bool:
        """True when clients authenticate (SASL, or a client certificate)."""
        return self.security_protocol != "PLAINTEXT"

    @property
    def sasl(self) -> bool:
        """True when clients authenticate with a user name and a password."""
        return self.security_protocol.startswith("SASL")

    @property
    def tls(self) -> bool:
        """True when the connections to Kafka are encrypted."""
        return self.security_protocol.endswith("SSL")

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of every Kafka client of this process (TLS 1.2 at least, the host name checked)."""
        if not self.tls:
            return None
        try:
            context = client_context(self.ssl_cafile or None, self.ssl_certfile or None, self.ssl_keyfile or None,
                                     self.ssl_key_password or None, self.ssl_check_hostname)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"the TLS files do not load: {exc} (DT_SSL_CAFILE, DT_SSL_CERTFILE, "
                              "DT_SSL_KEYFILE, DT_SSL_KEY_PASSWORD)") from None
        return context

    def security_config(self) -> dict[str, Any]:
        """How a client encrypts and authenticates; the same keyword names serve kafka-python and aiokafka."""
        if not self.secured:
            return {}
        config: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.tls:
            config["ssl_context"] = self.ssl_context
        if self.sasl:
            config.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                          sasl_plain_password=self.sasl_password)
        return config

    def kafka_client_config(self) -> dict[str, Any]:
        """Settings every kafka-python client of ours gets."""
        return {"bootstrap_servers": self.bootstrap_servers, "bootstrap_timeout_ms": self.connect_timeout * 1000,
                **self.security_config()}

    def aiokafka_client_config(self) -> dict[str, Any]:
        """Settings every aiokafka client of ours gets."""
        return {"bootstrap_servers": self.bootstrap_servers, **self.security_config()}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from the environment, then apply explicit overrides (CLI flags) that are not None."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(ENVIRONMENT[f.name].env)
            if raw is not None:
                values[f.name] = _convert(f.name, raw, f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("schemas_dir", "data_dir"):
            if name in values:
                values[name] = Path(str(values[name]))
        return cls(**values)


def client_context(ca_file: str | Path | None, cert: str | Path | None = None, key: str | Path | None = None,
                   password: str | None = None, check_hostname: bool = True) -> ssl.SSLContext:
    """A Kafka client's TLS context: the CAs of `ca_file` (else the system's), TLS 1.2 at least, the host checked."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = check_hostname
    if cert:
        context.load_cert_chain(str(cert), str(key) if key else None, password)
    return context


def _convert(name: str, raw: str, annotation: object) -> object:
    if annotation in (bool, "bool"):
        if raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if raw.strip().lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{ENVIRONMENT[name].env}={raw!r} is not 1 or 0")
    if annotation in (float, "float"):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{ENVIRONMENT[name].env}={raw!r} is not a number") from None
    if annotation in (int, "int"):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{ENVIRONMENT[name].env}={raw!r} is not a whole number") from None
    return raw


def environment_help() -> str:
    """The environment variables, one line each, for --help epilogues and README."""
    return "\n".join(f"  {s.env:<24} {s.help}" for s in ENVIRONMENT.values())
