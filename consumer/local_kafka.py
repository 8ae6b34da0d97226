"""A real single-node Apache Kafka broker (KRaft mode) run from Maven Central jars,
for the tests and the CLI's local broker on machines without Docker."""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from consumer.kafka_admin import KafkaAdminError, wait_for_broker

KAFKA_VERSION = "4.1.1"
# Kafka 4.1.1 depends on slf4j-api 1.7.x, whose Log4j 2 binding is log4j-slf4j-impl.
LOG4J_VERSION = "2.25.3"
# A cold fetch downloads ~54 MB of jars; generous so a slow mirror is not an error.
MAVEN_TIMEOUT_S = 900.0
# Formatting is one short JVM run (~2 s here); the margin covers a loaded CI box.
FORMAT_TIMEOUT_S = 120.0
# Each readiness probe is short so a broker that died is noticed within a second.
PROBE_TIMEOUT_S = 1.0
# A SIGKILLed JVM is reaped by the kernel at once; waiting longer means it is stuck.
KILL_WAIT_S = 30.0

_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion><packaging>pom</packaging>
  <groupId>local</groupId><artifactId>kafka-jars</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId><version>{LOG4J_VERSION}</version>
    </dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId><version>{LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
"""
_LOG4J2 = """appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger = INFO, FILE
"""
_SERVER = """# Single node in KRaft combined mode, reachable on loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{ctrl}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{ctrl}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={work}/data
# One node cannot hold the default three replicas of internal topics; without
# these, groups never find a coordinator and consumers hang.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests join groups one consumer at a time; the default 3 s wait is waste.
group.initial.rebalance.delay.ms=0
# After kill() the node must outlive its old session before it may register again;
# 3 s instead of 9 s (with 0.5 s heartbeats on loopback) keeps crash tests quick.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
# Topics come from ensure_topic(), so a misspelt name fails loudly.
auto.create.topics.enable=false
num.partitions=1
"""
_HINTS = {"java": "a Java 17+ runtime (openjdk-17-jre-headless)", "mvn": "Maven 3.8+"}


class LocalKafkaError(RuntimeError):
    """The local broker could not be fetched, formatted, started or stopped."""


def cache_dir() -> Path:
    """Where fetched jars live: outside the repository, shared by all checkouts."""
    if explicit := os.environ.get("CONVERGE_PINTEREST_CACHE"):
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "converge-pinterest"


def _tool(name: str) -> str:
    if path := shutil.which(name):
        return path
    raise LocalKafkaError(f"`{name}` is not on PATH; install {_HINTS[name]}")


def _run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            cmd, check=False, cwd=cwd, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise LocalKafkaError(f"{cmd[0]} took over {timeout:.0f}s: {cmd}") from exc


def fetch_kafka(cache: Path | None = None) -> Path:
    """Download the broker's jars with Maven once; return the ``libs`` directory."""
    home = (cache or cache_dir()) / f"kafka-{KAFKA_VERSION}"
    libs, marker = home / "libs", home / ".fetch-complete"
    if marker.exists():
        return libs
    _tool("java")
    mvn = _tool("mvn")
    home.mkdir(parents=True, exist_ok=True)
    # The lock serialises concurrent fetches (parallel test workers, two shells); the
    # marker is written last, so an interrupted fetch is simply redone.
    with (home / ".fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return libs
        shutil.rmtree(libs, ignore_errors=True)
        (home / "pom.xml").write_text(_POM)
        goal = ["dependency:copy-dependencies", f"-DoutputDirectory={libs}"]
        done = _run([mvn, "-q", "-B", *goal], home, MAVEN_TIMEOUT_S)
        if done.returncode != 0 or not any(libs.glob("kafka_2.13-*.jar")):
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-25:])
            raise LocalKafkaError(
                f"Maven could not fetch Kafka {KAFKA_VERSION} into {libs} "
                f"(exit {done.returncode}); is Maven Central reachable?\n{tail}"
            )
        marker.write_text(f"{KAFKA_VERSION}\n")
    return libs


class LocalKafka:
    """One broker+controller JVM on loopback, with its data in a private temp dir."""

    def __init__(
        self,
        port: int = 0,
        controller_port: int = 0,
        heap: str = "512m",
        log_dir: Path | None = None,
    ) -> None:
        # Both probe sockets are open at once, so the two free ports differ.
        with socket.socket() as one, socket.socket() as two:
            one.bind(("127.0.0.1", 0))
            two.bind(("127.0.0.1", 0))
            self.port = port or one.getsockname()[1]
            self.controller_port = controller_port or two.getsockname()[1]
        self.heap = heap
        self._log_dir = log_dir
        self._work: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_file(self) -> Path:
        """The broker's Log4j output; it outlives ``stop()`` only under ``log_dir``."""
        if base := self._log_dir or self._work:
            return base / "server.log"
        raise LocalKafkaError("the broker has not been started")

    def _java(self, main: str, *args: str, heap: str) -> list[str]:
        assert self._work is not None
        log4j = f"-Dlog4j2.configurationFile={self._work / 'log4j2.properties'}"
        jvm = [f"-Xmx{heap}", f"-Xms{heap}", "-Djava.awt.headless=true", log4j]
        return [_tool("java"), *jvm, "-cp", str(fetch_kafka() / "*"), main, *args]

    def _prepare(self) -> None:
        fetch_kafka()  # before the temp dir, so a failed fetch leaves nothing behind
        work = self._work = Path(tempfile.mkdtemp(prefix="converge-kafka-"))
        (self._log_dir or work).mkdir(parents=True, exist_ok=True)
        props = _SERVER.format(port=self.port, ctrl=self.controller_port, work=work)
        (work / "server.properties").write_text(props)
        (work / "log4j2.properties").write_text(_LOG4J2.format(log_file=self.log_file))
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # --standalone makes this node the only voter of a dynamic KRaft quorum.
        # The "=" form keeps an id that starts with "-" from reading as an option.
        args = ["format", "--standalone", f"--cluster-id={cluster_id}"]
        args += ["--config", "server.properties"]
        fmt = self._java("kafka.tools.StorageTool", *args, heap="256m")
        done = _run(fmt, work, FORMAT_TIMEOUT_S)
        if done.returncode != 0:
            out = f"{done.stdout}{done.stderr}".strip()
            raise self._failure(f"formatting storage failed ({done.returncode}): {out}")

    def _failure(self, what: str) -> LocalKafkaError:
        """``what`` plus the broker log's location and its last lines."""
        log = self.log_file
        text = log.read_text(errors="replace") if log.exists() else "(empty)\n"
        tail = "\n".join(text.splitlines()[-40:])
        return LocalKafkaError(f"{what}; broker log: {log}, last lines:\n{tail}")

    def start(self, timeout: float = 90) -> LocalKafka:
        """Fetch, format and launch the broker; return once it answers metadata."""
        if self.running:
            return self
        # Before anything is written, and because the readiness probe could
        # otherwise find another broker on that port.
        for port in (self.port, self.controller_port):
            with socket.socket() as probe:
                # As the broker does, so a restart is not refused by TIME_WAIT.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    raise LocalKafkaError(
                        f"port {port} on 127.0.0.1 is already in use; pick other "
                        "ports (--port, --controller-port) or stop what listens there"
                    ) from None
        if self._work is None:
            self._prepare()
        cmd = self._java("kafka.Kafka", "server.properties", heap=self.heap)
        # JVM crashes bypass Log4j, so stdout/err append to the same file. In its own
        # session Ctrl-C reaches only us, and we shut the broker down in order.
        with self.log_file.open("ab") as out:
            self._proc = subprocess.Popen(
                cmd, cwd=self._work, stdout=out, stderr=out, start_new_session=True
            )
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while True:
            if (code := self._proc.poll()) is not None:
                raise self._failure(f"Kafka exited with code {code} while starting")
            try:
                wait_for_broker(self.bootstrap_servers, PROBE_TIMEOUT_S)
                return self
            except KafkaAdminError as exc:
                if time.monotonic() > deadline:
                    # The temp dir stays, so the log named below can be read.
                    self.kill()
                    why = f"no answer from {self.bootstrap_servers} in {timeout:g}s"
                    raise self._failure(f"{why} ({exc})") from exc

    def _signal(self, sig: signal.Signals, timeout: float) -> bool:
        """Send ``sig`` to the broker's process group; True once it has exited."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout)
        if self.running:
            return False
        self._proc = None
        return True

    def _shutdown(self, timeout: float) -> None:
        if not self._signal(signal.SIGTERM, timeout):
            self._signal(signal.SIGKILL, KILL_WAIT_S)

    def kill(self) -> None:
        """Crash the broker (SIGKILL); the data stays so ``restart()`` recovers it."""
        self._signal(signal.SIGKILL, KILL_WAIT_S)

    def restart(self, timeout: float = 90) -> LocalKafka:
        """Stop the broker if it runs, then start it on the same ports and data."""
        self._shutdown(timeout)
        return self.start(timeout)

    def stop(self, timeout: float = 30) -> None:
        """Controlled shutdown (SIGTERM, SIGKILL after ``timeout``); drop the data."""
        self._shutdown(timeout)
        atexit.unregister(self.stop)
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def run_local_kafka(port: int, controller_port: int = 0, heap: str = "512m") -> int:
    """Run a broker in the foreground until SIGINT/SIGTERM (the CLI's command)."""
    stop = threading.Event()
    sigs = (signal.SIGINT, signal.SIGTERM)
    previous = [signal.signal(sig, lambda *_: stop.set()) for sig in sigs]
    try:
        with LocalKafka(port, controller_port, heap) as broker:
            where = f"{broker.bootstrap_servers} (log: {broker.log_file})"
            sys.stdout.write(
                f"Kafka {KAFKA_VERSION} ready at {where}; Ctrl-C stops it.\n"
            )
            sys.stdout.flush()
            # Wake once a second to notice a broker that died on its own.
            while not stop.wait(1.0):
                if not broker.running:
                    raise broker._failure("Kafka exited on its own")
    finally:
        for sig, handler in zip(sigs, previous, strict=True):
            signal.signal(sig, handler)
    return 0
