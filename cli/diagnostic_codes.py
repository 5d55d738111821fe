"""Every diagnostic code and what it means: the rules of a SARIF log, and the table of
docs/diagnostics.md (generated from this one by ``python -m specc.cli.diagnostic_docs``).

Each meaning is Markdown (code spans, links to other docs), written for that table."""

from __future__ import annotations

DIAGNOSTIC_CODES: dict[str, str] = {
    "SPC100-syntax": (
        "the file is not valid YAML/JSON, is empty, has a duplicate key, a non-string key, or"
        " a YAML tag other than the core ones (nothing is ever constructed from a tag)"
    ),
    "SPC101-schema": (
        "a value has the wrong type or is out of range (`units must be greater than 0; got 0`)"
    ),
    "SPC102-unknown-name": (
        "an unknown layer type, activation, initializer, regularizer, constraint, optimizer, "
        "schedule, loss or metric, with the nearest valid name"
    ),
    "SPC103-unknown-key": "a key the entry does not take, with the nearest valid key",
    "SPC104-missing-key": (
        "a required key is missing (`units` for Dense, `type` in a mapping, `specc` at the top)"
    ),
    "SPC105-file": (
        "the spec path is not a readable spec file: missing, a directory, a device "
        "(`/dev/zero`) or socket, or not UTF-8 text (the line and column of the first bad "
        "byte)"
    ),
    "SPC106-number": (
        "an integer outside 64 bits (`-9223372036854775808` to `9223372036854775807`), or a "
        "number too large for a 64-bit float (`1e999`; YAML writes infinity `.inf`)"
    ),
    "SPC107-merge-key": (
        "a YAML merge key `<<:`; specs do not support merge keys: write the keys out, or "
        "alias the whole mapping"
    ),
    "SPC108-alias": (
        "YAML aliases that would expand the spec by more than its own size (or a million "
        "nodes), or an alias inside the node it names"
    ),
    "SPC110-limit": (
        "the spec is larger than a limit: file size (`--limit file_size=...`), number of "
        "layers (`--limit layers=...`), or nesting deeper than 100 levels"
    ),
    "SPC160-search-file": (
        "`specc tune`'s search file is not a mapping of `metric`, `mode`, `trials`, "
        "`space`, `scheduler` and `search` (a wrong type, or a range with no kind or "
        "two); unknown keys are SPC103 as in a spec ([tune.md](tune.md))"
    ),
    "SPC161-search-path": (
        "a search file's `space` key that names no place in the spec (`layers[7].units` "
        "in a spec of four layers, a misspelt key on the way, with the nearest one)"
    ),
    "SPC162-search-value": (
        "a value of a search range that the spec cannot hold as data (not a finite number)"
    ),
    "SPC163-search-range": (
        "a search range whose bounds are the wrong way round (`uniform: [2, 1]`), a "
        "`loguniform` bound at or below 0, a continuous range in `search: grid`, or an "
        "ASHA `grace_period` past `max_t`"
    ),
    "SPC164-search-metric": (
        "the search file's `metric` is not a key of the spec's history (with the nearest "
        "one), or a `val_` key with no validation data"
    ),
    "SPC201-unknown-reference": (
        "a layer's `inputs` or the `outputs` name something that is not defined"
    ),
    "SPC202-no-input": "a spec without `inputs` whose first layer has no `input_shape`",
    "SPC203-duplicate-name": "two entries with one name, or a layer named like an input",
    "SPC204-input-shape": "`input_shape` on a layer of a spec that declares `inputs`",
    "SPC205-bad-shares": "`shares` names no layer, or another sharing entry",
    "SPC206-unused-input": "an input no layer reads",
    "SPC207-no-inputs": ("the first layer gives no `inputs` while the spec has several inputs"),
    "SPC208-input-count": ("a layer gets more or fewer inputs than it takes (Subtract takes two)"),
    "SPC209-bad-output": "an output that names an input, or is listed twice",
    "SPC210-cycle": ("layers that feed each other; the message lists the cycle in data-flow order"),
    "SPC211-unknown-output": (
        "`compile.loss`, `loss_weights` or `metrics` names something that is not an output"
    ),
    "SPC212-missing-output": "a `loss` or `loss_weights` mapping leaves an output out",
    "SPC213-count-mismatch": (
        "a `loss_weights` (or per-output `metrics`) list of the wrong length"
    ),
    "SPC214-nested-metrics": "a nested list in a single-output `metrics` list",
    "SPC215-metric-labels": (
        "a metric that cannot read its output's labels: class indices (a "
        "`sparse_categorical_crossentropy` loss) given to a metric that compares one value "
        "per prediction (AUC, Precision, MSE, ...), or one value per prediction given to a "
        "sparse metric; the message names the metrics that fit"
    ),
    "SPC216-metric-argument": (
        "a metric argument that does not fit its output: `class_id` or `top_k` past the class"
        " count, an AUC `num_labels` or `label_weights` of another length, `multi_label` on a"
        " prediction that is not (batch, labels), `F1Score` on one that is not (batch, "
        "classes), an `axis` out of range, or AUC confusion counts past `--limit "
        "activation_elements`"
    ),
    "SPC217-loss-output": (
        "a loss that cannot apply to its output: an `axis` out of range, or "
        "`sparse_categorical_crossentropy` on an output without a class axis"
    ),
    "SPC218-unknown-data-key": (
        "`train.data_keys` (or `--data-keys`) names something that is not an input or output,"
        " or a per-output `train.class_weight` names something that is not an output"
    ),
    "SPC219-sample-weights": (
        "`train.class_weight` with `train.sample_weight` (Keras refuses both), a one-output "
        "`class_weight` on a model with several outputs, or weights on an output whose loss "
        "has more than one value per sample"
    ),
    "SPC220-callback-monitor": (
        "a `train.callbacks` entry whose `monitor` (or a ModelCheckpoint `filepath` field) "
        "names no key of an epoch's logs (with the nearest one), or whose monitor has no "
        "direction Keras can tell in `mode: auto` (an output's loss, `learning_rate`)"
    ),
    "SPC221-callback-optimizer": (
        "ReduceLROnPlateau with an optimizer whose `learning_rate` is a schedule, which "
        "cannot be set (Keras raises `TypeError`)"
    ),
    "SPC230-unknown-model": "a `model` entry names no key of the spec's `models`",
    "SPC231-model-cycle": (
        "a sub-model that applies itself, directly or through others; the message lists them"
    ),
    "SPC301-shape": (
        "a layer cannot take the shapes or dtypes it is given; the message says what it got "
        "and what it needs; also a layer onnxruntime-training's graph cannot hold (a masked "
        "`LSTM` with `return_state` at a variable length, `docs/masks.md`), pointed at the key "
        "that asks for it"
    ),
    "SPC302-no-such-output": "`name[i]` for an output the layer does not have",
    "SPC303-shared-shape": (
        "a shared layer applied to inputs that would need weights of other shapes"
    ),
    "SPC304-initializer": (
        "an initializer that cannot make a weight of its shape (Identity on a 3-D kernel)"
    ),
    "SPC305-params": (
        "a layer, or the whole model, with more parameters than `--limit params` allows "
        "(500,000,000 by default); reported at the layer, before any weight is drawn"
    ),
    "SPC306-value-size": (
        "an input, a layer output, or a value a layer builds from its arguments (a pooling "
        "window), with more elements per sample than `--limit activation_elements` allows "
        "(2**28 by default; a variable dimension counts as 1)"
    ),
    "SPC310-model-input": (
        "a sub-model applied to an input whose dtype or shape differs from the one it "
        "declares (a null dimension takes any size)"
    ),
    "SPC411-weights": (
        "a weights file that cannot be read as `.npz`: not a zip, damaged or truncated, a "
        "member that is not `.npy` or appears twice, a header claiming more or less data than"
        " the member holds, an array that is not bool, integer or float (pickled objects are "
        "never loaded)"
    ),
    "SPC412-missing-weight": "a weight of the spec that the weights file lacks",
    "SPC413-weight-shape": ("a weight whose shape or dtype differs from what the spec needs"),
    "SPC414-extra-weight": "a key in the weights file that is no weight of the spec",
    "SPC415-weights-limit": (
        "an array in a weights file larger than `--limit array_bytes`, or all of them "
        "together larger than `--limit data_bytes` (checked from the headers, before anything"
        " is inflated)"
    ),
    "SPC416-weight-not-finite": (
        "a weight holding NaN or infinity (or a float64 value beyond float32's range), with "
        "its key and index"
    ),
    "SPC417-weights-from-data": (
        "an inference build of a layer whose weights only data can give, without a "
        "weights file: a Normalization with neither `mean` and `variance` nor adapted "
        "statistics (train the spec first, or give them)"
    ),
    "SPC501-no-loss": ("`specc train` on a spec whose `compile.loss` gives no output a loss"),
    "SPC502-regularizer": (
        "a regularizer that cannot apply to its weight or activity (OrthogonalRegularizer on "
        "a non-2D tensor)"
    ),
    "SPC503-device": (
        "`--device cuda` where the installed onnxruntime has no CUDA provider (stock "
        "onnxruntime, or onnxruntime-training-cpu with `--backend ort-training`); refused "
        "before any work, naming the build to install"
    ),
    "SPC504-no-compile": "`specc train` on a spec without a `compile` section",
    "SPC505-backend": (
        "`specc train --backend` naming an unknown backend, or `ort-training` where "
        "onnxruntime-training is not installed or was overwritten by another onnxruntime "
        "build; refused before any work, naming the `ort-training` extra and its install "
        "recipe"
    ),
    "SPC511-export-source": (
        "`specc export` of something that is neither a spec nor a folder `specc train` wrote;"
        " or `--with-training` on a trained folder without `--spec`, or with weights that do "
        "not fit the spec; or `specc evaluate` of a trained folder without `--spec` (the "
        "folder holds no loss or metrics), with `--weights`, or `--spec` with a spec file"
    ),
    "SPC512-mobile-optimizer": (
        "`--with-training --training-engine ort-training` for an optimizer the mobile "
        "engine's fused kernels cannot express exactly"
    ),
    "SPC513-mobile-training": (
        "`--with-training --training-engine ort-training` for a spec needing per-step work a "
        "phone app cannot do: BatchNormalization moving statistics (training mode) or weight "
        "constraints"
    ),
    "SPC514-trained-model": (
        "`specc export DIR` where `DIR/model.onnx` is not a model specc can export: a folder,"
        " a device or pipe, over the size limits (`--limit params`), not protobuf or "
        "truncated, failing the ONNX checker, tensors that refer to external files or hold "
        "fewer values than their shape claims"
    ),
    "SPC515-model-description": (
        "`specc export DIR` where the model's `specc.model` metadata is not JSON, does not "
        "fit its schema (names, dtypes, shapes, labels; the model name follows the spec's "
        "`name` rule), or disagrees with the graph's inputs and outputs"
    ),
    "SPC516-labels": (
        "`metadata.labels` that do not fit the outputs: a count other than the output's "
        "classes (its last axis; 2 for a single unit), a name that is not an output, or a "
        "list for a model with several outputs"
    ),
    "SPC517-trained-weights": (
        "`specc export DIR` where `DIR/weights.npz` is damaged (truncated, not a zip of "
        "`.npy` arrays): what an interrupted `specc train` leaves; for `specc evaluate DIR`, "
        "also a folder without `weights.npz`"
    ),
    "SPC518-mobile-model": (
        "`--target mobile` for a model onnxruntime's mobile packages cannot run: an op or "
        "domain that is not standard ONNX, an opset past 21 or IR version past 10, or (from a"
        " trained folder) a model the engine refuses to convert"
    ),
    "SPC521-data-file": (
        "a data file that cannot be read: not .npz/.csv, not found, an `.npz` that is empty, "
        "damaged or not a zip of `.npy` arrays, a .csv without a header, with duplicate or "
        "unnamed columns, ragged lines, non-numbers, bytes that are not UTF-8, NUL bytes, or "
        "both `x` and `x[i]` columns"
    ),
    "SPC522-missing-data": (
        "no array (or column) for an input, or for an output that has a loss; with the "
        "nearest name in the file"
    ),
    "SPC523-data-length": ("arrays with different sample counts (both named), or no samples"),
    "SPC524-data-shape": (
        "an array whose per-sample shape differs from the input's or label's, or a .csv with "
        "gaps in `x[i]` or several variable dimensions"
    ),
    "SPC525-data-dtype": (
        "non-numeric data, fractions for integer inputs or class indices, values out of an "
        "int dtype's range, non-0/1 for bool"
    ),
    "SPC526-label-form": (
        "class indices given for categorical_crossentropy, or one-hot rows for "
        "sparse_categorical_crossentropy, with the loss to use"
    ),
    "SPC527-label-range": "a class index outside 0..classes-1 (and not ignore_class)",
    "SPC528-not-finite": ("NaN or infinity in inputs or labels, or a value that overflows float16"),
    "SPC529-validation-split": (
        "a validation_split that leaves no training or no validation sample"
    ),
    "SPC530-data-limit": (
        "a data file past a resource limit: an array larger than `--limit array_bytes` or "
        "arrays larger than `data_bytes` together, a .csv field longer than `csv_field`, a "
        "line longer than `csv_line`, more columns than `csv_columns`"
    ),
    "SPC531-embedding-id": (
        "an input feeding an Embedding holding an id outside 0..input_dim-1, with the value "
        "and where it is"
    ),
    "SPC540-non-finite-loss": (
        "`specc train` stopped at the first batch whose loss is NaN or infinite (as Keras's "
        "TerminateOnNaN), naming the epoch and batch; nothing is written "
        "(`--no-terminate-on-nan` trains on)"
    ),
    "SPC541-callback": (
        "a callback that cannot go on: a monitor on a `val_` value in a run without "
        "validation data, a ModelCheckpoint `filepath` that cannot be filled in from the logs"
        " or names a folder or one of the run's own files, the TensorBoard callback without "
        "the `tensorboard` package; pointed at the callback's entry"
    ),
    "SPC542-checkpoint": (
        "`specc train --resume` (or a BackupAndRestore backup) with a checkpoint that "
        "cannot be used: missing, damaged (a truncated or forged `.npz`, pickled arrays, "
        "JSON fields of the wrong type, arrays whose dtype or shape is not the model's or"
        " optimizer's) or written by a run with another spec, data, batch size, shuffle, "
        "seed or backend; the message names the file and the field"
    ),
    "SPC550-prediction-file": (
        "`specc predict --out` whose extension is not `.npz` or `.csv` (the extension decides"
        " the format), that names a folder, or an output named like the `<output>_class` or "
        "`<output>_label` array predict adds for a classifier output"
    ),
    "SPC551-prediction-run": (
        "`specc predict` where onnxruntime cannot load the model, or fails on data that "
        "passed every check (its message, once: onnxruntime's own log is off)"
    ),
}
