"""A real single-node Apache Kafka broker (KRaft) run from Maven Central jars, for `make run` and the tests.

No Docker and no tarball: `deploy/local/pom.xml` names the broker's jars, Maven copies them once into a cache
folder, and the broker runs as `java -cp 'libs/*' kafka.Kafka server.properties` on the machine's JVM. This
module formats the storage, starts the broker in its own session, waits until a metadata request succeeds,
and stops it by the pid it recorded. Starting a running broker is a no-op; a stale pid file is cleared.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from streams.config import client_context
from streams.errors import BrokerError
from streams.tools.tls import CA_FILE, Issued, LocalCA

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy" / "local"
DEFAULT_KAFKA_VERSION = "4.4.0"
DEFAULT_HOME = REPO_ROOT / ".local" / "broker"
DEFAULT_JAR_CACHE = REPO_ROOT / ".local" / "jars"
LOG_TAIL_LINES = 30
#: The super user of a secured local broker; it creates topics and writes the ACLs.
ADMIN_USER = "admin"
SCRAM_MECHANISM = "SCRAM-SHA-256"
#: the internal principal the broker authenticates as on the controller listener (a super user)
CONTROLLER_USER = "controller"
_USER_RE = re.compile(r"^[A-Za-z0-9._-]+$")

log = logging.getLogger(__name__)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64 that does not start with '-'.

    Kafka's own ids follow the same rule: the storage tool's argument parser takes a leading '-' for an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def ensure_jars(version: str = DEFAULT_KAFKA_VERSION, cache: Path = DEFAULT_JAR_CACHE) -> Path:
    """Return the folder holding Kafka `version`'s runtime jars, downloading them with Maven the first time."""
    libs = cache / f"kafka-{version}"
    if (libs / ".complete").exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is not on PATH; it is needed once to fetch the Kafka jars")
    staging = cache / f".kafka-{version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    cmd = [
        mvn, "-B", "-q", "-f", str(DEPLOY_DIR / "pom.xml"), "dependency:copy-dependencies",
        f"-Dkafka.version={version}", "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
    ]
    log.info("fetching Kafka %s jars from Maven Central into %s", version, libs)
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        tail = (result.stdout + result.stderr).strip().splitlines()[-LOG_TAIL_LINES:]
        raise BrokerError(f"fetching Kafka {version} jars failed (mvn exit {result.returncode}):\n"
                          + "\n".join(tail))
    (staging / ".complete").write_text(version + "\n")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    return libs


@dataclass
class LocalBroker:
    """One KRaft broker+controller on 127.0.0.1, its files under `home`."""

    home: Path = DEFAULT_HOME
    port: int = 9092
    controller_port: int = 9093
    version: str = DEFAULT_KAFKA_VERSION
    jar_cache: Path = DEFAULT_JAR_CACHE
    heap: str = "768m"
    extra_properties: dict[str, str] = field(default_factory=dict)
    #: SCRAM users (name -> password). When given, the client listener is SASL_SSL (TLS from a local CA in
    #: HOME/tls), the controller listener too, and the KRaft StandardAuthorizer applies ACLs; ADMIN_USER must be
    #: among them (the super user that sets the ACLs).
    users: dict[str, str] = field(default_factory=dict, repr=False)
    #: secured only: a port for clients that authenticate by certificate alone (SSL, client auth required; the
    #: certificate's common name is the principal)
    mtls_port: int | None = None
    _proc: subprocess.Popen | None = field(default=None, init=False, repr=False)

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients use."""
        return f"127.0.0.1:{self.port}"

    @property
    def secured(self) -> bool:
        """True when clients must authenticate and ACLs apply."""
        return bool(self.users)

    @property
    def tls_dir(self) -> Path:
        """The local CA and the certificates it issued (secured only)."""
        return self.home / "tls"

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients of a secured broker trust."""
        return self.tls_dir / CA_FILE

    def client_config(self, user: str = ADMIN_USER) -> dict[str, Any]:
        """kafka-python (and aiokafka) keywords to reach this broker, as `user` (SCRAM over TLS) when secured."""
        config: dict[str, Any] = {"bootstrap_servers": self.bootstrap}
        if self.secured:
            config.update(security_protocol="SASL_SSL", ssl_context=client_context(self.ca_file),
                          sasl_mechanism=SCRAM_MECHANISM, sasl_plain_username=user,
                          sasl_plain_password=self.users[user])
        return config

    def certificate_config(self, user: str) -> dict[str, Any]:
        """The same, authenticated by a client certificate for `user` on the mutual-TLS port."""
        if not (self.secured and self.mtls_port):
            raise BrokerError("only a secured broker with an mTLS port takes client certificates")
        issued = self.client_certificate(user)
        return {"bootstrap_servers": f"127.0.0.1:{self.mtls_port}", "security_protocol": "SSL",
                "ssl_context": client_context(self.ca_file, issued.cert, issued.key)}

    def client_certificate(self, user: str) -> Issued:
        """The client certificate of `user` from the local CA (made on first use), CN=user."""
        issued = Issued.at(self.tls_dir, f"client-{user}")
        if issued.exists:
            return issued
        return LocalCA(self.tls_dir).issue(f"client-{user}", user)

    @property
    def pid_file(self) -> Path:
        """Where the running broker's pid is recorded."""
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        """The broker's main log."""
        return self.home / "logs" / "server.log"

    @property
    def out_file(self) -> Path:
        """The JVM's own stdout and stderr (start-up failures land here)."""
        return self.home / "logs" / "broker.out"

    def pid(self) -> int | None:
        """Return the pid of the running broker, or None; a stale pid file is removed."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if _pid_alive(pid) and (self._is_our_child(pid) or self._is_our_broker(pid)):
            return pid
        log.info("removing stale pid file %s (pid %s is not running)", self.pid_file, pid)
        self.pid_file.unlink(missing_ok=True)
        return None

    def _is_our_child(self, pid: int) -> bool:
        # While the JVM starts, /proc/PID/cmdline can briefly show the launcher's arguments; a process this
        # object started and that has not exited is ours whatever it shows.
        return self._proc is not None and self._proc.pid == pid and self._proc.poll() is None

    def _is_our_broker(self, pid: int) -> bool:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            return False
        return "kafka.Kafka" in args and str(self.home / "server.properties") in args

    def start(self, timeout: float = 90.0) -> bool:
        """Start the broker and wait until it answers a metadata request.

        Returns False when it was already running (nothing done), True when this call started it.
        """
        if self.pid() is not None:
            self.wait_ready(timeout)
            return False
        for port in (self.port, self.controller_port):
            if _port_in_use(port):
                raise BrokerError(f"port {port} on 127.0.0.1 is in use by another process; "
                                  f"choose other ports (--port/--controller-port)")
        libs = ensure_jars(self.version, self.jar_cache)
        config = self._write_config()
        self._format(libs, config)
        self._launch(libs, config)
        try:
            self.wait_ready(timeout)
        except BrokerError:
            self.stop()
            raise
        return True

    def _write_config(self) -> Path:
        for sub in ("data", "logs"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        template = Template((DEPLOY_DIR / "server.properties.in").read_text())
        listener = self._listener
        listeners = [f"{listener}://127.0.0.1:{self.port}"]
        protocols = [f"CONTROLLER:{listener}", f"{listener}:{listener}"]
        if self.secured and self.mtls_port:
            listeners.append(f"MTLS://127.0.0.1:{self.mtls_port}")
            protocols.append("MTLS:SSL")
        text = template.substitute(listeners=",".join([*listeners, f"CONTROLLER://127.0.0.1:{self.controller_port}"]),
                                   advertised=",".join(listeners), protocol_map=",".join(protocols),
                                   listener=listener, controller_port=self.controller_port,
                                   data_dir=self.home / "data", security=self._security_properties())
        extra = "".join(f"{k}={v}\n" for k, v in sorted(self.extra_properties.items()))
        config = self.home / "server.properties"
        self.home.chmod(0o700)  # the configuration holds secrets when secured: only the broker's user reads it
        config.touch(mode=0o600)
        config.chmod(0o600)
        config.write_text(text + ("\n# extra\n" + extra if extra else ""))
        return config

    @property
    def _listener(self) -> str:
        return "SASL_SSL" if self.secured else "PLAINTEXT"

    def _security_properties(self) -> str:
        if not self.secured:
            return ""
        if ADMIN_USER not in self.users:
            raise BrokerError(f"a secured broker needs the user {ADMIN_USER!r}, who sets the ACLs")
        if CONTROLLER_USER in self.users:
            raise BrokerError(f"{CONTROLLER_USER!r} is the broker's own principal on the controller listener; "
                              "name the user otherwise")
        for name in self.users:
            if not _USER_RE.match(name):
                raise BrokerError(f"user name {name!r}: use letters, digits, '.', '_' or '-'")
            if not _USER_RE.match(self.users[name]):
                raise BrokerError(f"the password of {name!r} may hold only letters, digits, '.', '_' and '-'")
        password = self.users[ADMIN_USER].replace("\\", "\\\\").replace('"', '\\"')
        # The controller listener authenticates too (PLAIN: KRaft controllers cannot check SCRAM before the metadata
        # that holds the SCRAM users is loaded), as a principal of its own with a password made at each start and
        # known only to this file; nothing anonymous is a super user, so no client gets round the ACLs through it.
        controller = secrets.token_urlsafe(24)
        ca = LocalCA(self.tls_dir)
        broker = ca.issue("broker", "127.0.0.1", hosts=("127.0.0.1", "localhost"), server=True)
        mtls = ("listener.name.mtls.ssl.client.auth=required\n"
                # only the local CA's certificates are trusted; each names its principal in its common name
                "listener.name.mtls.ssl.principal.mapping.rules=RULE:^CN=([^,]+)(,.*)?$/$1/,DEFAULT\n"
                if self.mtls_port else "")
        return ("\n# Secured: every listener encrypted (TLS 1.3, or 1.2 at least, certificates from the local CA in\n"
                "# tls/); SCRAM users (created at format time) and the KRaft authorizer on the client listener;\n"
                "# the controller listener authenticated with PLAIN as the internal controller principal.\n"
                "ssl.keystore.type=PEM\n"
                f"ssl.keystore.location={broker.pem}\n"
                "ssl.truststore.type=PEM\n"
                f"ssl.truststore.location={ca.cert_file}\n"
                "ssl.protocol=TLSv1.3\n"
                "ssl.enabled.protocols=TLSv1.3,TLSv1.2\n"
                "ssl.endpoint.identification.algorithm=https\n"
                f"{mtls}"
                f"sasl.enabled.mechanisms={SCRAM_MECHANISM}\n"
                f"sasl.mechanism.inter.broker.protocol={SCRAM_MECHANISM}\n"
                f"listener.name.{self._listener.lower()}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config="
                f"org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{ADMIN_USER}" password="{password}";\n'
                "sasl.mechanism.controller.protocol=PLAIN\n"
                "listener.name.controller.sasl.enabled.mechanisms=PLAIN\n"
                "listener.name.controller.plain.sasl.jaas.config="
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="{CONTROLLER_USER}" password="{controller}" user_{CONTROLLER_USER}="{controller}";\n'
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n"
                f"super.users=User:{ADMIN_USER};User:{CONTROLLER_USER}\n"
                "allow.everyone.if.no.acl.found=false\n")

    def _java(self, libs: Path, *args: str, heap: str | None = None) -> list[str]:
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else (shutil.which("java") or "java")
        return [java, f"-Xmx{heap or self.heap}", "-Xms32m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile=file:{DEPLOY_DIR / 'log4j2.properties'}",
                f"-Dkafka.logs.dir={self.home / 'logs'}", "-cp", f"{libs}/*", *args]

    def _format(self, libs: Path, config: Path) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return
        cluster_id = new_cluster_id()
        scram = [arg for name, password in sorted(self.users.items())
                 for arg in ("--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]")]
        cmd = self._java(libs, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config),
                         "--ignore-formatted", *scram, heap="256m")
        # the passwords go in a Java argument file only this user reads, never on a command line (which every
        # local user can see in /proc)
        arguments = self.home / "format.args"
        arguments.touch(mode=0o600)
        arguments.chmod(0o600)
        arguments.write_text("\n".join(cmd[1:]) + "\n")
        try:
            result = subprocess.run([cmd[0], f"@{arguments}"], capture_output=True, text=True, check=False)
        finally:
            arguments.unlink(missing_ok=True)
        if result.returncode != 0:
            raise BrokerError(f"formatting KRaft storage in {self.home / 'data'} failed:\n"
                              f"{result.stdout}{result.stderr}")

    def _launch(self, libs: Path, config: Path) -> None:
        cmd = self._java(libs, "kafka.Kafka", str(config))
        with open(self.out_file, "ab") as out:
            self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid_file.write_text(f"{self._proc.pid}\n")

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Block until a metadata request to the broker succeeds, or raise BrokerError naming the log."""
        from kafka import KafkaAdminClient  # imported here so `broker stop` stays fast

        deadline = time.monotonic() + timeout
        quiet = logging.getLogger("kafka")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            while time.monotonic() < deadline:
                pid = self.pid()
                if pid is None:
                    raise BrokerError(f"the broker exited during start-up\n{self.describe_logs()}")
                with contextlib.suppress(Exception):
                    admin = KafkaAdminClient(**self.client_config(), request_timeout_ms=5000,
                                             bootstrap_timeout_ms=2000, client_id="detainer-tracker-readiness")
                    try:
                        if admin.describe_cluster().get("brokers"):
                            return
                    finally:
                        admin.close()
                time.sleep(0.5)
        finally:
            quiet.setLevel(level)
        raise BrokerError(f"the broker did not answer a metadata request within {timeout:.0f} s\n"
                          f"{self.describe_logs()}")

    def describe_logs(self) -> str:
        """Name the log files and show the last lines of each, for error messages."""
        parts = []
        for path in (self.out_file, self.log_file):
            try:
                lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            except OSError:
                lines = ["(no such file yet)"]
            parts.append(f"--- last lines of {path} ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the broker (SIGTERM for a controlled shutdown, SIGKILL after `timeout`).

        Returns False when no broker was running. Any other broker process of this home that the pid file does
        not name (left over from an interrupted start) is stopped too.
        """
        pid = self.pid()
        pids = ([pid] if pid is not None else []) + [p for p in self.strays() if p != pid]
        for each in pids:
            os.kill(each, signal.SIGTERM)
        for each in pids:
            if not self._wait_exit(each, timeout):
                log.warning("broker %s ignored SIGTERM for %.0f s; killing it", each, timeout)
                os.kill(each, signal.SIGKILL)
                self._wait_exit(each, 10.0)
        self.pid_file.unlink(missing_ok=True)
        return pid is not None

    def strays(self) -> list[int]:
        """Broker processes of this home, whatever the pid file says."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                pid = int(entry.name)
                if _pid_alive(pid) and self._is_our_broker(pid):
                    found.append(pid)
        return found

    def kill(self) -> None:
        """Kill the broker with SIGKILL and leave its pid file behind, as a crash would."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            self._wait_exit(pid, 10.0)

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.pid == pid:
                if self._proc.poll() is not None:
                    return True
            elif not _pid_alive(pid):
                return True
            time.sleep(0.1)
        return False
