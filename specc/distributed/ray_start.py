"""Starting Ray: an embedded instance on this machine, or a connection to a cluster."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# Ray's own folder (sockets, session logs) for an embedded instance: a short path in the
# system's temporary folder, since Unix sockets allow about 100 characters.
_RAY_TEMP_PREFIX = "specc-ray-"


@contextmanager
def ray_started(address: str | None, cpus: int | None = None) -> Iterator[None]:
    """Ray for the length of the block: connected to the cluster at ``address``, or an
    embedded instance with every CPU of the machine (at least ``cpus``), no dashboard, quiet
    logs and its temporary folder removed afterwards. Without ``address``, a Ray this
    process started itself (``ray.init`` in a notebook or a script calling specc) is used
    as it is and left running, as Ray Train and Tune do."""
    import ray

    if not address and ray.is_initialized():
        yield
        return
    if address:
        check_reachable(address)
    temp = None if address else tempfile.mkdtemp(prefix=_RAY_TEMP_PREFIX)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ray.init(
                address=address,
                num_cpus=None if address else max(os.cpu_count() or 1, cpus or 1),
                include_dashboard=False,
                logging_level=logging.ERROR,
                log_to_driver=False,
                _temp_dir=temp,
            )
        yield
    finally:
        ray.shutdown()
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


def check_reachable(address: str, seconds: float = 10) -> None:
    """``ConnectionError`` when nothing listens at a ``HOST:PORT`` address. Ray itself
    retries a wrong address for many minutes; other forms (``auto``, ``ray://``) are
    left to Ray."""
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or "/" in host or not host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=seconds).close()
    except OSError as exc:
        raise ConnectionError(exc.strerror or str(exc)) from None
