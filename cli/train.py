"""``specc train SPEC --data DATA``: train with onnxruntime-training as Keras's fit would."""

from __future__ import annotations

import importlib.util
import signal
import traceback
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from specc.cli.common import (
    EXIT_SPEC_ERROR,
    DebugOption,
    DumpStagesOption,
    FormatOption,
    LimitOption,
    MaxFileSizeOption,
    MaxParamsOption,
    OutputFormat,
    check_dump_folder,
    exits_on_signals,
    folder_write_errors,
    internal_errors,
    print_diagnostics,
    reported_passes,
    resolve_limits,
    run_spec_pass,
    say,
    usage_error,
)
from specc.cli.signals import (
    EXIT_INTERRUPTED,
    Interrupted,
    deferred,
    handling,
    outside_pydantic,
)
from specc.escape import excerpt
from specc.plotting import INSTALL_HINT, matplotlib_installed

if TYPE_CHECKING:
    from specc.train.fit import StopRequest
    from specc.train.progress import Progress


class Device(str, Enum):
    """Where the engine runs."""

    cpu = "cpu"
    cuda = "cuda"


class Backend(str, Enum):
    """What runs the training step (specc.train.backend)."""

    standard = "standard"
    ort_training = "ort-training"


def train(
    spec: Annotated[
        Path,
        typer.Argument(help="The spec file (with a compile section).", exists=True, dir_okay=False),
    ],
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            "-d",
            help="Training data: a .npz or .csv file, or a folder of .npy files "
            "(memory-mapped) or of .npz shards.",
            exists=True,
        ),
    ],
    validation_data: Annotated[
        Path | None,
        typer.Option(
            help="Validation data, in any form --data takes; overrides validation_split.",
            exists=True,
        ),
    ] = None,
    data_keys: Annotated[
        str | None,
        typer.Option(
            "--data-keys",
            help="Which array feeds each input or output, over train.data_keys: "
            "NAME=ARRAY pairs separated by commas (image=x,digit=y).",
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Epochs (default: the spec's train.epochs, else 1).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Batch size (default: train.batch_size, else 32).")
    ] = None,
    validation_split: Annotated[
        float | None,
        typer.Option(min=0.0, max=0.99, help="Fraction held out from the end of the data."),
    ] = None,
    shuffle: Annotated[
        bool | None, typer.Option("--shuffle/--no-shuffle", help="Shuffle each epoch.")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed for initial weights and shuffling.", min=0, max=2**32 - 1),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights", "-w", help="Initial weights (.npz).", exists=True, dir_okay=False
        ),
    ] = None,
    device: Annotated[Device, typer.Option(help="Train on the CPU or a CUDA GPU.")] = Device.cpu,
    backend: Annotated[
        Backend,
        typer.Option(
            help="standard: specc's own training step in standard ONNX on stock onnxruntime; "
            'ort-training: onnxruntime-training (pip install "specc[ort-training]").'
        ),
    ] = Backend.standard,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder for model.onnx, weights.npz, history.json and run.json; replaced "
            "whole when the run ends; checkpoint/ in it is written after every epoch "
            "(default: trained, or the --resume folder).",
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            help="Go on from the checkpoint an earlier run (stopped, interrupted or killed) "
            "left in this folder (its --out), exactly where it stopped; the spec, data, "
            "batch size and seed must be the ones it started with.",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    checkpoint_every: Annotated[
        int | None,
        typer.Option(
            "--checkpoint-every",
            min=1,
            help="Also checkpoint every N optimizer steps (besides every epoch).",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Data-parallel training on this many Ray workers, each on its shard of every "
            'batch; the same result as one process (pip install "specc[ray]").',
        ),
    ] = 1,
    address: Annotated[
        str | None,
        typer.Option(
            help="A running Ray cluster for the workers (ray start --head), e.g. "
            "10.0.0.5:6379 (default: Ray started on this machine)."
        ),
    ] = None,
    terminate_on_nan: Annotated[
        bool,
        typer.Option(
            "--terminate-on-nan/--no-terminate-on-nan",
            help="Stop at the first NaN or infinite loss and write nothing (Keras's "
            "TerminateOnNaN), or train on.",
        ),
    ] = True,
    output_format: FormatOption = OutputFormat.text,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    debug: DebugOption = False,
    dump_stages: DumpStagesOption = None,
    limit: LimitOption = None,
    max_params: MaxParamsOption = None,
    max_file_size: MaxFileSizeOption = None,
) -> None:
    """Train SPEC on DATA; write the trained model, its weights and its history to --out.

    Ctrl-C stops after the current batch, writes the model and history so far and a
    checkpoint to resume from (exit 130); SIGTERM stops at once and leaves --out as it was
    but for its last checkpoint (exit 143). --resume DIR goes on from DIR's checkpoint.
    """
    limits = resolve_limits(limit, max_params, max_file_size)
    if out is None:
        out = resume if resume is not None else Path("trained")
    left = f"{out} was left as it was"
    with exits_on_signals(f"interrupted; {left}", f"terminated; {left}"):
        # Imported here, not at the top: the training engine takes seconds to import, and
        # the other commands (validate and build in CI) should not pay for it. Signals wait
        # for the imports to end (specc.cli.signals).
        with deferred():
            from specc.atomic import OutputFolderError
            from specc.train.backend import EngineError
            from specc.train.fit import StopRequest
            from specc.train.outputs import HISTORY_FILE, check_trained_folder
            from specc.train.progress import Progress
            from specc.train.run import TrainOptions, train_spec, write_outputs

        try:
            # Before any work: an unusable --out found after 200 epochs loses them.
            check_trained_folder(out)
        except OutputFolderError as exc:
            raise usage_error(f"cannot write the run to {out}: {exc}") from None
        check_dump_folder(dump_stages, out)
        _check_workers(workers, address, backend.value)

        options = TrainOptions(
            epochs,
            batch_size,
            shuffle,
            validation_split,
            seed,
            device.value,
            backend.value,
            limits=limits,
            terminate_on_nan=terminate_on_nan,
            data_keys=_parse_data_keys(data_keys),
            previous_run=out,
            out=out,
            resume=resume,
            checkpoint_every=checkpoint_every,
            workers=workers,
            address=address,
        )
        progress = None if quiet else Progress()
        stop = StopRequest()
        with handling(signal.SIGINT, _stop_after_batch(stop)), internal_errors(debug):
            try:
                with reported_passes(
                    debug, dump_stages, spec, quiet, before=lambda: _end_line(progress)
                ):
                    result, diagnostics = run_spec_pass(
                        lambda: train_spec(
                            spec, data, options, weights, validation_data, progress, stop
                        )
                    )
            except EngineError as exc:
                if debug:  # the engine's own text, C++ location included
                    traceback.print_exc()
                raise usage_error(str(exc)) from None
            if result is None:
                _end_line(progress)
                print_diagnostics(diagnostics, output_format, err=True)
                raise typer.Exit(EXIT_SPEC_ERROR)
            with folder_write_errors(f"cannot write the run to {out}"):
                written = write_outputs(result, out)
    _end_line(progress)
    fitted = result.fitted
    if fitted is not None and fitted.stopped == "interrupted":
        kept = fitted.epochs_completed
        say(
            f"interrupted at {fitted.where}: wrote the model and weights so far, "
            f"and the history of the {kept} complete epoch{'s' if kept != 1 else ''}, to "
            f"{out} (run.json: interrupted); specc train ... --resume {out} goes on from there"
        )
        raise typer.Exit(EXIT_INTERRUPTED)
    if not quiet:
        if result.unused_data:
            # Names from the data file: escaped, and a long list cut short.
            unused = ", ".join(excerpt(name) for name in result.unused_data[:10])
            if len(result.unused_data) > 10:
                unused += f" and {len(result.unused_data) - 10:,} more"
            say(f"note: {data} also holds {unused}, which no input or output takes")
        for path in written:
            say(f"wrote {path}", err=False)
        if not matplotlib_installed():
            say(
                f"note: no history.png: drawing the learning curves needs matplotlib "
                f"({INSTALL_HINT}; then specc plot {out / HISTORY_FILE})"
            )
    if stop.requested:
        # Ctrl-C after the last batch: the run is complete and written.
        say(f"interrupted after training ended; wrote the complete run to {out}")
        raise typer.Exit(EXIT_INTERRUPTED)


def _parse_data_keys(text: str | None) -> dict[str, str] | None:
    """``image=x,digit=y`` as a mapping; a malformed pair is a usage error."""
    if text is None:
        return None
    pairs: dict[str, str] = {}
    for item in text.split(","):
        name, equals, array = (part.strip() for part in item.partition("="))
        if not equals or not name or not array:
            raise usage_error(
                f"--data-keys takes NAME=ARRAY pairs separated by commas; got '{excerpt(item)}'"
            )
        if name in pairs:
            raise usage_error(f"--data-keys names '{excerpt(name)}' twice")
        pairs[name] = array
    return pairs


def _stop_after_batch(stop: StopRequest) -> Callable[[int, FrameType | None], None]:
    """A SIGINT handler: while training runs, the first Ctrl-C asks it to stop after the
    current batch (the engine may be inside a step, in C code); before training, or a
    second time, Ctrl-C aborts (``Interrupted``) and --out is left as it was."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.active and not stop.requested:
            stop.requested = True
            return
        if outside_pydantic(signum, frame):
            raise Interrupted

    return handler


def _end_line(progress: Progress | None) -> None:
    """Finish a progress bar's line, so that what follows starts on its own."""
    if progress is not None:
        progress.end_line()


def _check_workers(workers: int, address: str | None, backend: str) -> None:
    """--workers and --address need Ray and specc's own training step."""
    if workers == 1 and address is None:
        return
    # Ray's gloo collective (the CPU's all-reduce) runs on torch.distributed.
    if any(importlib.util.find_spec(name) is None for name in ("ray", "torch")):
        raise usage_error('--workers and --address need Ray and torch: pip install "specc[ray]"')
    if backend != "standard":
        raise usage_error("--workers and --address train with --backend standard only")
