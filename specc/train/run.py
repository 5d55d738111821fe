"""train_spec: everything ``specc train`` does, from a spec and a data file to a trained model.

compile_spec          the spec, with initial weights (drawn, or from --weights)
build_training_graph  forward + Keras's total loss
load_dataset          arrays named after the inputs and outputs, checked
split                 Keras's validation_split: the last fraction, before shuffling
open_session          the training backend: the standard step graph, or onnxruntime-training
open_checkpoints      the run's checkpoints (--out/checkpoint, BackupAndRestore's), and the
                      state it goes on from (--resume, or a backup found in --out)
fit                   Keras's loop, callbacks and History (stopped early by Ctrl-C, a
                      callback or a non-finite loss), checkpointing as it goes
inference_graph       the inference lowering, given the trained weights
write_outputs         the trained folder, swapped in whole (``specc.train.outputs``)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from specc.callbacks import CallbackError, CallbackList
from specc.callbacks.terminate_on_nan import TerminateOnNaN
from specc.diagnostics import Diagnostic, SpecError, did_you_mean
from specc.escape import excerpt
from specc.graph import Graph
from specc.limits import DEFAULT_LIMITS, Limits
from specc.onnx_model import DEFAULT_OPSET, to_model_proto
from specc.passes.lower import lower_to_onnx
from specc.pipeline import CompiledModel, compile_spec
from specc.spec.compile import losses_by_output
from specc.spec.loader import LoadedSpec, load_spec
from specc.spec.train_data import UNKNOWN_DATA_KEY, class_weights_by_output
from specc.train.adapt import adapt_normalizations
from specc.train.backend import DEFAULT_BACKEND, check_backend, open_session
from specc.train.callback_control import (
    RunControl,
    callback_configs,
    check_monitored,
    located,
    remove_folder,
    run_control,
)
from specc.train.checkpoint import CheckpointError
from specc.train.checkpoint_plan import kept_folders, open_checkpoints, plan_checkpoints
from specc.train.checkpoint_run import fingerprint, resume_seed, single_threaded
from specc.train.data import DataKeys, Dataset, load_dataset
from specc.train.data_shards import ShardedDataset
from specc.train.data_targets import IdRange, Target, id_ranges, targets_for
from specc.train.fit import EpochLog, FitOptions, FitResult, StopRequest, constraints_of, fit
from specc.train.graph import TrainingGraph, build_training_graph
from specc.train.outputs import CHECKPOINT_FOLDER, RunRecord, write_trained_folder
from specc.train.run_seed import run_seed, spec_seed
from specc.types import TensorType

CHECKPOINT_CODE = "SPC542-checkpoint"


@dataclass
class TrainResult:
    """A trained model: its graph with trained weights, the weights and the history."""

    compiled: CompiledModel
    graph: Graph
    weights: dict[str, np.ndarray]
    history: dict[str, list[float]]
    # Arrays or columns of the data file that no input or output takes.
    unused_data: tuple[str, ...] = ()
    # How training ended (every epoch, or interrupted); None for a result built by hand.
    fitted: FitResult | None = None
    # The scratch folder holding the files callbacks wrote, copied into --out with the run
    # and removed by ``write_outputs``; and the top-level names in it.
    callback_folder: Path | None = None
    callback_files: tuple[str, ...] = ()
    # The checkpoint folders the trained folder keeps (name in --out -> folder).
    kept: dict[str, Path] = dataclasses.field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        """Whether training stopped before its last epoch (Ctrl-C)."""
        return self.fitted is not None and self.fitted.stopped == "interrupted"

    def record(self) -> RunRecord:
        """``run.json``: how the run ended."""
        fitted = self.fitted
        if fitted is None:
            epochs = len(next(iter(self.history.values()), []))
            return RunRecord("completed", epochs, epochs, 0)
        status = "interrupted" if self.interrupted else "completed"
        return RunRecord(
            status,
            fitted.epochs,
            fitted.epochs_completed,
            fitted.steps_trained,
            self.callback_files,
        )


@dataclass
class TrainOptions:
    """``specc train`` options; None means the spec's ``train`` section or Keras's default."""

    epochs: int | None = None
    batch_size: int | None = None
    shuffle: bool | None = None
    validation_split: float | None = None
    seed: int | None = None
    device: str = "cpu"
    # The training step's engine (specc.train.backend): specc's own standard-ONNX step on
    # stock onnxruntime, or onnxruntime-training.
    backend: str = DEFAULT_BACKEND
    opset: int = DEFAULT_OPSET
    limits: Limits = DEFAULT_LIMITS
    # Stop at the first non-finite batch loss (Keras's TerminateOnNaN) and write nothing.
    terminate_on_nan: bool = True
    # Input or output name -> the array feeding it (--data-keys), over train.data_keys.
    data_keys: dict[str, str] | None = None
    # The folder of an earlier run (--out), whose files a callback may continue
    # (CSVLogger's append).
    previous_run: Path | None = None
    # The run's folder (--out), where its checkpoints go while it trains; None: none.
    out: Path | None = None
    # A folder holding a checkpoint (``<folder>/checkpoint``) to go on from (--resume).
    resume: Path | None = None
    # A checkpoint every this many optimizer steps besides every epoch (--checkpoint-every).
    checkpoint_every: int | None = None
    # Data-parallel training (``specc.train.parallel``): this many Ray workers, on the
    # cluster at ``address`` or an embedded Ray; 1 without an address trains in-process.
    workers: int = 1
    address: str | None = None


def _fit_options(compiled: CompiledModel, options: TrainOptions) -> tuple[FitOptions, float]:
    section = compiled.train

    def pick(flag: object, key: str, default: object) -> object:
        if flag is not None:
            return flag
        return getattr(section, key) if section is not None else default

    fit_options = FitOptions(
        epochs=int(pick(options.epochs, "epochs", 1)),
        batch_size=int(pick(options.batch_size, "batch_size", 32)),
        shuffle=bool(pick(options.shuffle, "shuffle", True)),
        seed=pick(options.seed, "seed", None),  # type: ignore[arg-type]
        # A TerminateOnNaN callback asks for the check whatever the flag says.
        terminate_on_nan=options.terminate_on_nan
        or any(isinstance(c, TerminateOnNaN) for c in callback_configs(compiled)),
    )
    return fit_options, float(pick(options.validation_split, "validation_split", 0.0))


def prepare(
    spec: str | Path | LoadedSpec,
    weights: str | Path | None,
    seed: int | None,
    limits: Limits = DEFAULT_LIMITS,
    fused_recurrence: bool = False,
    weighted: bool = False,
    predictions: bool = False,
) -> tuple[CompiledModel, TrainingGraph]:
    """Compile a spec for training and build its training graph; its ``compile`` section
    is required. The compiled graph is the training lowering (``for_training``), not the
    inference model (see ``inference_graph``); ``fused_recurrence`` keeps ONNX's fused
    recurrent ops in it, for the standard backend's own gradients. ``weighted``: the
    outputs that the spec's ``train.sample_weight`` or ``class_weight`` weighs take a loss
    weight per sample. ``predictions``: the graph outputs the model's predictions instead
    of the metrics' statistics. Without ``seed``, the spec's ``train.seed`` seeds the initial
    weights and the random layers, as ``keras.utils.set_random_seed`` before building the
    model does. ``spec`` may be already loaded (``load_spec``): it is parsed once."""
    loaded = spec if isinstance(spec, LoadedSpec) else load_spec(spec, limits)
    if seed is None:
        seed = spec_seed(loaded)
    compiled = compile_spec(
        loaded, weights, seed, for_training=True, limits=limits, fused_recurrence=fused_recurrence
    )
    config = compiled.compile
    if config is None:
        problem = Diagnostic(
            "SPC504-no-compile", "specc train needs a 'compile' section with a loss"
        )
        raise SpecError([compiled.loaded.locate(problem)])
    outputs = weighted_outputs(compiled) if weighted else []
    return compiled, build_training_graph(compiled, config, outputs, predictions)


def weighted_outputs(compiled: CompiledModel) -> list[str]:
    """The outputs whose losses ``train.sample_weight`` (every output with a loss) or
    ``train.class_weight`` weighs."""
    section, config = compiled.train, compiled.compile
    if section is None or config is None:
        return []
    trained = [o for o, loss in losses_by_output(config, _output_names(compiled)).items() if loss]
    if section.sample_weight is not None:
        return trained
    return list(class_weights_by_output(section.class_weight, trained))


def _output_names(compiled: CompiledModel) -> list[str]:
    return [name for name, _ in compiled.graph.outputs]


@dataclass(frozen=True)
class DataLayout:
    """What a data file for a compiled spec must hold: its inputs, the targets of the
    outputs that have a loss, the id ranges of the inputs that feed an Embedding, and the
    arrays' names (``train.data_keys``)."""

    inputs: dict[str, TensorType]
    targets: dict[str, Target]
    ids: dict[str, IdRange]
    keys: DataKeys

    def load(self, data: str | Path, limits: Limits) -> Dataset | ShardedDataset:
        """``data``, read and checked against this layout (``load_dataset``)."""
        return load_dataset(data, self.inputs, self.targets, limits, self.ids, self.keys)


def data_layout(compiled: CompiledModel, given_keys: Mapping[str, str] | None = None) -> DataLayout:
    """The data layout of ``compiled`` (which has a ``compile`` section); ``given_keys``
    override ``train.data_keys`` name by name (``--data-keys``)."""
    config = compiled.compile
    assert config is not None  # training, evaluation and examples need the compile section
    predictions = dict(compiled.graph.outputs)
    targets = targets_for(losses_by_output(config, list(predictions)), predictions)
    inputs = dict(compiled.typed.resolved.inputs)
    return DataLayout(inputs, targets, id_ranges(compiled.typed), data_keys(compiled, given_keys))


def data_keys(compiled: CompiledModel, given: Mapping[str, str] | None) -> DataKeys:
    """The arrays feeding the model: ``train.data_keys``, overridden name by name by
    ``given`` (--data-keys, whose names are checked here as the spec's are)."""
    section = compiled.train
    names = [*compiled.typed.resolved.inputs, *_output_names(compiled)]
    problems = [
        Diagnostic(
            UNKNOWN_DATA_KEY,
            f"--data-keys names '{excerpt(name)}', which is not an input or output"
            f"{did_you_mean(name, names)}",
            (),
            "--data-keys",
        )
        for name in given or {}
        if name not in names
    ]
    if problems:
        raise SpecError(problems)
    arrays = {**((section.data_keys or {}) if section else {}), **(given or {})}
    return DataKeys(arrays, section.sample_weight if section else None)


def train_spec(
    spec: str | Path,
    data: str | Path,
    options: TrainOptions,
    weights: str | Path | None = None,
    validation_data: str | Path | None = None,
    on_progress: Callable[[EpochLog, bool], None] | None = None,
    stop: StopRequest | None = None,
) -> TrainResult:
    """Train a spec on a data file as Keras's ``fit`` would.

    ``stop`` (set from a SIGINT handler) ends training after the current batch; the
    result then holds the weights so far and the epochs completed. With ``options.out``
    the run keeps checkpoints there; ``options.resume`` goes on from one (SPC542 when it
    cannot be used). A non-finite loss
    raises ``SpecError`` (SPC540) unless ``options.terminate_on_nan`` is off.
    """
    check_backend(options.backend, options.device, str(spec))
    standard = options.backend == "standard"
    # Parsed once: the seed is read from it before the compiler is handed it.
    loaded = load_spec(spec, options.limits)
    seed = run_seed(loaded, options.seed, options.resume)
    compiled, training = prepare(loaded, weights, seed, options.limits, standard, weighted=True)
    configs = callback_configs(compiled)
    try:
        plan = plan_checkpoints(options.out, options.resume, options.checkpoint_every, configs)
    except CheckpointError as error:
        raise SpecError([_checkpoint_problem(error)]) from None
    except CallbackError as error:
        raise located(compiled, error) from None
    saved = resume_seed(plan.source) if plan.source is not None else None
    if saved is not None and saved != seed and options.seed is None:
        # A BackupAndRestore checkpoint of an unseeded run, found once the spec was read:
        # its seed drew the random layers' streams.
        seed = saved
        compiled, training = prepare(loaded, weights, seed, options.limits, standard, weighted=True)
    fit_options, validation_split = _fit_options(compiled, options)
    fit_options.seed = seed
    layout = data_layout(compiled, options.data_keys)
    dataset = layout.load(data, options.limits)
    if weights is None:
        # Keras's Normalization.adapt on the whole data file, before fit.
        adapt_normalizations(compiled, training, dataset)
    validation: Dataset | ShardedDataset | None = None
    if validation_data is not None:
        validation = layout.load(validation_data, options.limits)
    elif validation_split > 0:
        dataset, validation = dataset.split(validation_split)
    if compiled.train is not None and compiled.train.class_weight:
        # Training batches only: Keras leaves validation losses unweighted by class.
        weights = class_weights_by_output(compiled.train.class_weight, list(layout.targets))
        dataset = dataset.with_class_weight(weights)
    check_monitored(compiled, configs, validation is not None)
    expected = fingerprint(
        compiled.loaded.data,
        dataset,
        validation,
        {
            "batch_size": fit_options.batch_size,
            "shuffle": fit_options.shuffle,
            "seed": seed,
            "backend": options.backend,
        },
    )
    session: Any = None
    callbacks: CallbackList | None = None
    control: RunControl | None = None
    failed = True
    try:
        # Opened inside the try: a Ctrl-C as the session is returned still closes it
        # (the ort-training backend's artifacts folder would be left behind).
        session = _open_session(training, options)
        single_threaded(session)
        if configs:
            graph = inference_graph(compiled)
            control = run_control(
                compiled,
                session,
                lambda trained: _by_key(compiled, trained),
                lambda trained: to_model_proto(
                    _with_weights(graph, trained), DEFAULT_OPSET, compiled.metadata
                ),
                options.previous_run,
                (CHECKPOINT_FOLDER, *plan.backups),
            )
            callbacks = CallbackList([c.start() for c in configs], control)
        config = compiled.compile
        assert config is not None  # prepare() checked it
        session.use_optimizer(config.optimizer, fit_options.numpy_updates, constraints_of(compiled))
        # The update's route decides what the backend's state holds (ort-training's fused
        # kernel or NumPy update): a checkpoint of one cannot resume the other.
        expected["route"] = session.route
        checkpoints, resumed, restored = open_checkpoints(
            plan,
            session,
            training,
            callbacks,
            control.folder if control is not None else None,
            expected,
            dataset.steps(fit_options.batch_size),
            fit_options.epochs,
            options.limits,
        )
        if control is not None:
            control.written.update(restored)
        fitted = fit(
            compiled,
            training,
            session,
            dataset,
            validation,
            config,
            fit_options,
            on_progress,
            stop,
            callbacks,
            checkpoints,
            resumed,
        )
        trained = session.snapshot()
        if fitted.stopped == "non-finite loss":
            raise SpecError([_non_finite_loss(str(spec), fitted)])
        failed = False
    except CallbackError as error:
        raise located(compiled, error) from None
    except CheckpointError as error:
        raise SpecError([_checkpoint_problem(error)]) from None
    finally:
        if callbacks is not None:
            callbacks.close()
        if session is not None:
            session.close()
        if failed and control is not None:
            remove_folder(control.folder)
    completed = fitted.stopped != "interrupted"
    return TrainResult(
        compiled,
        _with_weights(inference_graph(compiled), trained),
        _by_key(compiled, trained),
        fitted.history,
        tuple(dataset.unused),
        fitted,
        control.folder if control is not None else None,
        tuple(sorted(control.written)) if control is not None else (),
        kept_folders(options.out, plan, completed) if options.out is not None else {},
    )


def _open_session(training: TrainingGraph, options: TrainOptions) -> object:
    if options.workers > 1 or options.address:
        from specc.train.parallel import ParallelSession

        return ParallelSession(
            training, options.workers, options.address, options.opset, options.device
        )
    return open_session(training, options.backend, options.opset, options.device)


def _checkpoint_problem(error: CheckpointError) -> Diagnostic:
    """The error at the checkpoint file its message starts with (``<file>: ...``)."""
    file, separator, message = str(error).partition(": ")
    if not separator:
        file, message = "checkpoint", str(error)
    return Diagnostic(CHECKPOINT_CODE, message, (), file)


def _non_finite_loss(file: str, fitted: FitResult) -> Diagnostic:
    message = (
        f"the loss became {fitted.loss} at {fitted.where}; training stopped there, as "
        "Keras's TerminateOnNaN does, and wrote nothing (lower the learning rate, or check "
        "the data and the initial weights; --no-terminate-on-nan trains on)"
    )
    return Diagnostic("SPC540-non-finite-loss", message, (), file)


def inference_graph(compiled: CompiledModel) -> Graph:
    """The inference lowering of a spec compiled for training, with the same weights.

    Both lowerings hold the same parameters (``<layer>.<weight>``, same shapes); only the
    ops differ (recurrent layers unroll for training, keep ONNX's fused ops otherwise).
    """
    graph = lower_to_onnx(compiled.typed, compiled.weights, for_training=False).graph
    ours = {name: graph.initializers[name].shape for name in graph.parameters}
    theirs = {name: compiled.graph.initializers[name].shape for name in compiled.graph.parameters}
    if ours != theirs:
        raise AssertionError(
            f"the inference and training lowerings hold different parameters: {ours} vs {theirs}"
        )
    return graph


def _with_weights(graph: Graph, trained: dict[str, np.ndarray]) -> Graph:
    """The inference graph with its weights replaced by the trained ones."""
    initializers = {name: trained.get(name, array) for name, array in graph.initializers.items()}
    return dataclasses.replace(graph, initializers=initializers)


def _by_key(compiled: CompiledModel, trained: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Trained weights under their weights-file keys (``layer/weight``)."""
    return {p.key: trained[p.onnx_name] for p in compiled.typed.parameters}


def write_outputs(result: TrainResult, out: Path, opset: int = DEFAULT_OPSET) -> list[Path]:
    """Write the trained folder (``specc.train.outputs``) as ``out``, swapped in whole,
    with the files callbacks wrote; return the paths of its files."""
    model = to_model_proto(result.graph, opset, result.compiled.metadata)
    try:
        return write_trained_folder(
            out,
            model,
            result.weights,
            result.history,
            result.record(),
            result.callback_folder,
            result.compiled.loaded.data,
            result.kept,
        )
    finally:
        remove_folder(result.callback_folder)
