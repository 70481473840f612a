"""A real Ray cluster on 127.0.0.1 for tests: a head plus more node processes, stopped by id.

Each node is ``ray start --block`` in a process group of its own, so stopping the cluster kills
exactly the processes this test started (never ``ray stop``, which stops every Ray on the
machine). Ray advertises the machine's network address even for 127.0.0.1; the launcher keeps
every node on loopback (see ``prunelab.experiments.ray_executor._loopback``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# `ray start`, with Ray's "use the network address instead of 127.0.0.1" step turned off
_LAUNCH = (
    "import sys, ray._private.services as s; s.resolve_ip_for_localhost = lambda h: h; "
    "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict[str, str]:
    """This environment without PYTHONPATH: workers must get the worktree through the executor.

    Ray settings come from :data:`AUTH` only, never from ``~/.ray`` or the caller's RAY_*
    variables, so that a token file left by some local Ray instance cannot change the cluster.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("RAY_")}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.update(AUTH)
    return env


#: token authentication with a token of this test session (Ray's default for new clusters)
AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


class LocalCluster:
    """``nodes`` Ray nodes of ``cpus`` CPUs each on 127.0.0.1 (the first is the head)."""

    def __init__(self, nodes: int = 2, cpus: int = 1) -> None:
        self.nodes, self.cpus = nodes, cpus
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp = Path(
            tempfile.mkdtemp(prefix="prl-ray-", dir="/tmp")
        )  # short: Ray's socket paths
        self.procs: list[subprocess.Popen] = []

    def _start(self, *args: str) -> subprocess.Popen:
        # every node on one machine needs its own agent ports (Ray's defaults are fixed numbers)
        ports = [
            f"--{name}={free_port()}"
            for name in (
                "dashboard-agent-listen-port",
                "dashboard-agent-grpc-port",
                "runtime-env-agent-port",
                "metrics-export-port",
            )
        ]
        common = [
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={self.cpus}",
            "--object-store-memory=80000000",
            "--disable-usage-stats",
            *ports,
        ]
        log = open(self.temp / f"node{len(self.procs)}.log", "w")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, "start", *args, *common],
            env=clean_env(),
            start_new_session=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def start(self, timeout: float = 180.0) -> LocalCluster:
        """Start the head, wait for its GCS, then start the other nodes and wait until all are alive."""
        self._start(
            "--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={self.temp}"
        )
        deadline = time.time() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or self.procs[0].poll() is not None:
                    raise RuntimeError(f"Ray head did not start: {self.log(0)}") from None
                time.sleep(0.25)
        for _ in range(self.nodes - 1):
            self._start(f"--address={self.address}")
        self.wait_nodes(self.nodes, deadline)
        return self

    def add_node(self, timeout: float = 180.0) -> subprocess.Popen:
        """Start one more node joining the cluster; returns its process (a group of its own)."""
        proc = self._start(f"--address={self.address}")
        self.wait_nodes(len(self.procs), time.time() + timeout)
        return proc

    def kill_node(self, proc: subprocess.Popen) -> None:
        """SIGKILL a whole node (raylet, agents, workers): the node is lost."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def wait_nodes(self, n: int, deadline: float) -> None:
        """Block until ``n`` nodes are alive (one short-lived driver polls the GCS)."""
        probe = (
            "import time, ray; from prunelab.experiments.ray_executor import _loopback\n"
            f"with _loopback(True): ray.init(address='{self.address}', logging_level='error')\n"
            f"while sum(1 for x in ray.nodes() if x['Alive']) < {n} and time.time() < {deadline}:\n"
            "    time.sleep(0.5)\n"
            "print(sum(1 for x in ray.nodes() if x['Alive']))"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            timeout=max(10.0, deadline - time.time() + 30),
            env={**clean_env(), "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        alive = int(out.stdout.split()[-1]) if out.returncode == 0 and out.stdout.split() else 0
        if alive < n:
            raise RuntimeError(
                f"only {alive} of {n} Ray nodes came up: {out.stderr[-500:]} {self.log(-1)}"
            )

    def log(self, k: int) -> str:
        """The last lines of node ``k``'s output."""
        path = self.temp / f"node{k % max(len(self.procs), 1)}.log"
        return path.read_text()[-800:] if path.exists() else ""

    def sessions(self) -> set[int]:
        """Session ids of this cluster's process groups (every process it started is in one)."""
        return {p.pid for p in self.procs}

    def task_pids(
        self, title: str = "ray::run_task", node: subprocess.Popen | None = None
    ) -> list[int]:
        """Worker processes of this cluster (or of one node) that are running a prunelab item now."""
        sessions = {node.pid} if node is not None else self.sessions()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if cmd.startswith(title) and os.getsid(int(entry.name)) in sessions:
                    pids.append(int(entry.name))
            except (OSError, ProcessLookupError):
                continue
        return pids

    def stop(self) -> None:
        """Kill every process group this cluster started (TERM, a short grace, then KILL)."""
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + 5
        while time.time() < deadline and any(_group_alive(p.pid) for p in self.procs):
            time.sleep(0.2)
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever outlived TERM in the group
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()
        shutil.rmtree(self.temp, ignore_errors=True)  # Ray's session folder and the nodes' logs


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
