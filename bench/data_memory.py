"""Benchmark: training on data larger than memory, against the same data in memory.

Generates ``--gigabytes`` of float32 features (``--features`` per sample) and int64 labels
into a temporary folder, twice: as a folder of ``.npy`` files (memory-mapped by
``specc train``) and as one ``.npz`` (read into memory). Then, each in a fresh process so
that the peaks do not mix, trains the same model for one epoch on each, and reports the
process's peak private memory (``RssAnon`` from ``/proc/self/status``, sampled every 10 ms
during loading and training; the mapped file's pages are the page cache's, counted in
``RssFile``) and the training throughput (samples per second from the first batch to the
end of the epoch, loading not included).

Model: a 16-unit ReLU layer and a 10-way softmax on the features, sparse crossentropy, SGD,
batch 1024, no shuffling (both runs read the file in order; ``--shuffle`` reads batches at
random places, which on a mapped file costs page faults). Needs about twice ``--gigabytes``
of free disk, and ``--gigabytes`` plus the run's own needs of free memory for the in-memory
run (its checks also convert the array, so its peak is about twice the data).

Run: PYTHONPATH=. python bench/data_memory.py [--gigabytes 4] [--features 1024] [--shuffle]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SPEC = """
specc: 1
inputs: {{x: {{shape: [{features}]}}}}
layers:
  - {{name: h, type: Dense, units: 16, activation: relu}}
  - {{name: y, type: Dense, units: 10, activation: softmax}}
compile: {{optimizer: sgd, loss: sparse_categorical_crossentropy}}
"""
BATCH = 1024
ROWS_PER_CHUNK = 65536


def _rss_anon_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise RuntimeError("no RssAnon in /proc/self/status (Linux only)")


class PeakSampler:
    """The peak of RssAnon, sampled on a thread."""

    def __init__(self, seconds: float = 0.01) -> None:
        self.peak = _rss_anon_kib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(seconds,), daemon=True)

    def _run(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            self.peak = max(self.peak, _rss_anon_kib())

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_anon_kib())


def generate(folder: Path, gigabytes: float, features: int) -> tuple[Path, Path, int]:
    """The .npy folder and the .npz of the same samples, written a chunk at a time."""
    samples = int(gigabytes * 2**30) // (4 * features)
    npy = folder / "npy"
    npy.mkdir()
    x = np.lib.format.open_memmap(npy / "x.npy", "w+", np.float32, (samples, features))
    y = np.lib.format.open_memmap(npy / "y.npy", "w+", np.int64, (samples,))
    rng = np.random.default_rng(0)
    for start in range(0, samples, ROWS_PER_CHUNK):
        stop = min(start + ROWS_PER_CHUNK, samples)
        chunk = rng.standard_normal((stop - start, features), np.float32)
        x[start:stop] = chunk
        y[start:stop] = (chunk[:, :10].argmax(axis=1)).astype(np.int64)
    x.flush()
    y.flush()
    del x, y
    npz = folder / "data.npz"
    # Memory-mapped arguments: numpy.savez writes them through in buffered chunks.
    np.savez(npz, x=np.load(npy / "x.npy", mmap_mode="r"), y=np.load(npy / "y.npy", mmap_mode="r"))
    return npy, npz, samples


def run_one(spec: Path, data: Path, shuffle: bool) -> dict[str, float]:
    """Train one epoch on ``data`` in this process: peak RssAnon and throughput."""
    from specc.limits import DEFAULT_LIMITS
    from specc.train.run import TrainOptions, train_spec

    started: list[float] = []
    samples = [0]

    def progress(log: object, epoch_end: bool) -> None:
        if not started:
            started.append(time.perf_counter())
        samples[0] += 0 if epoch_end else 1

    limits = dataclasses.replace(DEFAULT_LIMITS, array_bytes=2**40, data_bytes=2**40)
    options = TrainOptions(epochs=1, batch_size=BATCH, shuffle=shuffle, seed=0, limits=limits)
    with PeakSampler() as peak:
        begin = time.perf_counter()
        train_spec(spec, data, options, on_progress=progress)
        end = time.perf_counter()
    steps = samples[0]
    seconds = end - started[0]
    return {
        "peak_rss_anon_mib": peak.peak / 1024,
        "seconds_total": end - begin,
        "samples_per_second": (steps - 1) * BATCH / seconds if seconds > 0 else float("nan"),
        "steps": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=4.0)
    parser.add_argument("--features", type=int, default=1024)
    parser.add_argument("--shuffle", action="store_true")
    parser.add_argument("--one", nargs=2, metavar=("SPEC", "DATA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(Path(args.one[0]), Path(args.one[1]), args.shuffle)))
        return
    with tempfile.TemporaryDirectory(prefix="specc-bench-data-") as tmp:
        folder = Path(tmp)
        spec = folder / "spec.yaml"
        spec.write_text(SPEC.format(features=args.features))
        made = time.perf_counter()
        npy, npz, samples = generate(folder, args.gigabytes, args.features)
        print(
            f"{samples:,} samples x {args.features} float32 features "
            f"({samples * args.features * 4 / 2**30:.2f} GiB), written in "
            f"{time.perf_counter() - made:.0f} s",
            flush=True,
        )
        results = {}
        for name, data in (("memory-mapped .npy folder", npy), ("in-memory .npz", npz)):
            command = [sys.executable, __file__, "--one", str(spec), str(data)]
            if args.shuffle:
                command.append("--shuffle")
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                print(f"{name}: failed\n{done.stderr[-2000:]}", flush=True)
                continue
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
            r = results[name]
            print(
                f"{name:27s} peak RssAnon {r['peak_rss_anon_mib']:8.0f} MiB   "
                f"{r['samples_per_second']:10,.0f} samples/s   "
                f"{r['seconds_total']:6.1f} s in all ({r['steps']} steps)",
                flush=True,
            )
        if len(results) == 2:
            mapped, memory = results.values()
            peak = mapped["peak_rss_anon_mib"] / memory["peak_rss_anon_mib"]
            speed = mapped["samples_per_second"] / memory["samples_per_second"]
            print(f"mapped/in-memory: peak memory {peak:.3f}x, throughput {speed:.2f}x")


if __name__ == "__main__":
    main()
