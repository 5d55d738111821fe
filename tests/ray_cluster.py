"""A two-node local Ray cluster for the tests: ``ray start --head`` and a second
``ray start --address``, each in a process (group) of its own, as on two machines."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def two_node_cluster() -> Iterator[tuple[str, dict[str, str]]]:
    """The head's address and the environment a client of the cluster needs; both nodes
    stopped and Ray's folder removed afterwards."""
    port = 20000 + os.getpid() % 20000
    # Ray's token authentication, with a token of this test's own (not ~/.ray's).
    token = secrets.token_hex(32)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    # On SIGTERM a node first drains (for Ray Serve's replicas), waiting on the head for up
    # to 30 s; the head is stopped at the same moment, so the wait would only run out.
    # Nothing here serves requests: the nodes stop at once.
    env["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] = "0"
    # Ray's folder for the cluster: short, for Unix sockets, and ours alone.
    temp = Path(f"/tmp/specc-ray-test-{os.getpid()}")
    nodes: list[subprocess.Popen] = []
    try:
        head = ["--head", "--port", str(port), "--temp-dir", str(temp)]
        # Ray refuses --include-dashboard on a node that is not the head.
        nodes.append(_ray_node([*head, "--include-dashboard", "false"], env))
        address = f"{_node_ip()}:{port}"
        nodes.append(_ray_node(["--address", address], env))
        _wait_for_nodes(address, env, 2)
        yield address, env
    finally:
        for node in reversed(nodes):
            _stop(node)
        subprocess.run(["rm", "-rf", str(temp)], check=False)


def _ray_node(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """``ray start --block`` in a process group of its own, once the node is up."""
    ray = Path(sys.executable).with_name("ray")
    process = subprocess.Popen(
        [str(ray), "start", "--block", "--num-cpus", "1", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    for line in process.stdout:
        if "Ray runtime started" in line or time.monotonic() > deadline:
            break
    return process


def _wait_for_nodes(address: str, env: dict[str, str], count: int) -> None:
    """Until the cluster at ``address`` has ``count`` live nodes (a node that failed to
    start fails the test here, not later as a hang)."""
    code = (
        "import ray, sys, time\n"
        f"ray.init(address={address!r}, logging_level='ERROR')\n"
        "deadline = time.monotonic() + 60\n"
        f"while sum(n['Alive'] for n in ray.nodes()) < {count}:\n"
        "    if time.monotonic() > deadline: sys.exit(1)\n"
        "    time.sleep(0.5)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert run.returncode == 0, f"the cluster never had {count} nodes: {run.stderr[-2000:]!r}"


def _stop(process: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


def _node_ip() -> str:
    from ray.util import get_node_ip_address

    return get_node_ip_address()
