"""Benchmark: ms per training step in headless Chromium (onnxruntime-web, WebAssembly) against
the Python default backend (StandardSession on stock onnxruntime), same model, same batch.

The bundle is ``specc export --target web --with-training`` of SPEC (default
models/digits_mlp.yaml); the page trains with specc-train.js's ``trainStep`` on one fixed
batch of the digits, the same batch StandardSession steps on. The page is served with the
cross-origin isolation headers, so onnxruntime-web may use 2 threads (the page reports
whether it was isolated and how many threads it used); Python's session gets the same
number of intra-op threads. Rounds alternate Python, Chromium, Python, ...; each round warms
up, then times STEPS steps; the medians over all timed steps are printed.
Needs node, chromium and ``npm ci --prefix tests/browser``.
Run: python bench/web_train_step.py [--spec SPEC] [--rounds 5] [--steps 30] [--batch 32]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

from specc.emit.source import load_source
from specc.emit.step_export import export_step
from specc.emit.web import export_web
from specc.train.fit import constraints_of
from specc.train.run import prepare
from specc.train.standard import StandardSession

ROOT = Path(__file__).resolve().parent.parent
BROWSER = ROOT / "tests" / "browser"
DIGITS = ROOT / "models" / "data" / "digits.npz"
WARMUP = 5


class _Isolated(http.server.SimpleHTTPRequestHandler):
    """Static files with the headers that make the page cross-origin isolated (threads)."""

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def batch_for(spec: Path, size: int) -> dict[str, np.ndarray]:
    """The first ``size`` digits, under the input name the spec takes."""
    digits = np.load(DIGITS)
    compiled, _ = prepare(spec, None, None, fused_recurrence=True)
    (name,) = compiled.typed.resolved.inputs
    return {name: digits[name][:size], "digit": digits["digit"][:size]}


def python_round(session: StandardSession, feeds: dict[str, np.ndarray], steps: int) -> list[float]:
    """ms of each of ``steps`` steps after the warm-up."""
    times = []
    for k in range(WARMUP + steps):
        started = time.perf_counter()
        session.commit(session.train_step(feeds))
        if k >= WARMUP:
            times.append((time.perf_counter() - started) * 1000)
    return times


def chromium_round(site: Path, batch: dict[str, np.ndarray], steps: int, threads: int) -> dict:
    """One page load: warm-up and ``steps`` timed trainStep calls on ``batch``."""
    job_batch = {k: {"data": v.ravel().tolist(), "dims": list(v.shape)} for k, v in batch.items()}
    handler = functools.partial(_Isolated, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    job = {
        "kind": "train",
        "url": url + "bundle/index.html",
        "scriptUrl": url + "train_in_page.mjs",
        "batches": [job_batch] * (WARMUP + steps),
        "options": {"numThreads": threads},
        "timingOnly": True,
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            jobs = Path(tmp) / "jobs.json"
            jobs.write_text(json.dumps([job]))
            env = {**os.environ, "SPECC_CHROMIUM": shutil.which("chromium") or "chromium"}
            done = subprocess.run(
                ["node", str(BROWSER / "run_pages.mjs"), str(jobs)],
                cwd=BROWSER,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
            )
    finally:
        server.shutdown()
        server.server_close()
    [record] = json.loads(done.stdout)
    if record["errors"]:
        raise RuntimeError(f"the page failed: {record['errors']}")
    result = record["result"]
    result["stepMs"] = result["stepMs"][WARMUP:]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=ROOT / "models" / "digits_mlp.yaml")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wasm and onnxruntime threads")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        source = load_source(args.spec)
        runtime = BROWSER / "node_modules"
        export_web(source, site / "bundle", True, runtime, export_step(source, args.spec))
        shutil.copy(BROWSER / "train_in_page.mjs", site / "train_in_page.mjs")
        batch = batch_for(args.spec, args.batch)

        compiled, training = prepare(args.spec, None, None, fused_recurrence=True)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = StandardSession(training, session_options=options)
        assert compiled.compile is not None
        session.use_optimizer(compiled.compile.optimizer, constraints=constraints_of(compiled))
        target = training.targets["digit"][0]
        feeds = {k: v for k, v in batch.items() if k != "digit"} | {target: batch["digit"]}

        python_ms: list[float] = []
        page_ms: list[float] = []
        page: dict = {}
        for _ in range(args.rounds):
            python_ms += python_round(session, feeds, args.steps)
            page = chromium_round(site, batch, args.steps, args.threads)
            page_ms += page["stepMs"]
    isolated = "cross-origin isolated" if page.get("crossOriginIsolated") else "not isolated"
    python, chromium = statistics.median(python_ms), statistics.median(page_ms)
    print(f"{args.spec.name}, batch {args.batch}, {args.rounds} interleaved rounds x {args.steps}")
    print(f"python default backend ({args.threads} threads): median {python:.2f} ms/step")
    print(
        f"chromium onnxruntime-web wasm ({isolated}, {page.get('threads')} threads): "
        f"median {chromium:.2f} ms/step ({chromium / python:.1f}x python)"
    )


if __name__ == "__main__":
    main()
