"""Reading and writing BERT weights: Google's TF1 name-based checkpoints and Hugging Face folders.

Google's checkpoints (``bert_model.ckpt.index`` / ``.data-*``) store each variable under its TF1
scope name, e.g. ``bert/encoder/layer_3/attention/self/query/kernel``. The Keras layers in
`bert_tf.modeling` carry the same scope names, so a model's table of Google names is read off its
variable paths (`google_variable_map`). Loading walks that table explicitly: every model variable
must be found with the right shape, and every checkpoint variable is either loaded or skipped for
a stated reason (optimizer slots, ``global_step``, heads the model does not have); anything else
is an error listing each problem.

Saving writes the same TF1 bundle format with the raw ``SaveV2`` op, so Google's original code,
``tf.train.load_checkpoint`` and every tool that reads Google's checkpoints can read ours.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import struct
from collections.abc import Callable, Mapping

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import files
from bert_tf.configuration import BertConfig
from bert_tf.modeling import BertModel

# Checkpoint entries that never correspond to model weights, with the reason they are skipped.
_SKIP_RULES: list[tuple[re.Pattern, str]] = [
    (re.compile(r".*/(adam_m|adam_v|Adam|Adam_1|Momentum)$"), "optimizer slot"),
    (re.compile(r"^global_step$"), "training step counter"),
    (re.compile(r"^_CHECKPOINTABLE_OBJECT_GRAPH$"), "object-graph metadata"),
    (re.compile(r"^good_steps$|^current_loss_scale$|^loss_scale.*"), "loss-scale state"),
]

# Heads that may sit beside the encoder in a checkpoint; skipped when the model has no such head.
_HEAD_PREFIXES = ("cls/", "output_weights", "output_bias")


@dataclasses.dataclass
class LoadReport:
    """What a load did: names loaded, names skipped with their reason, names left initialised."""

    loaded: list[str]
    skipped: dict[str, str]
    not_in_checkpoint: list[str]

    def log(self, source: str) -> None:
        logging.info("Loaded %d variables from %s", len(self.loaded), source)
        reasons: dict[str, int] = {}
        for reason in self.skipped.values():
            reasons[reason] = reasons.get(reason, 0) + 1
        for reason, count in sorted(reasons.items()):
            logging.info("  skipped %d checkpoint variables: %s", count, reason)
        for name in self.not_in_checkpoint:
            logging.info("  kept fresh initialisation (not in checkpoint): %s", name)


def google_variable_map(model: keras.Layer) -> dict[str, keras.Variable]:
    """Returns {Google checkpoint name: variable} for every weight of `model`.

    A variable's Keras path mirrors Google's scopes below the root model. The root's own name is
    dropped (a classifier named ``bert_classifier`` holds ``bert/...`` and ``output_weights``),
    except that a bare `BertModel` is always saved under ``bert/``, whatever its Keras name.

    Args:
        model: a built Keras model or layer.

    Returns:
        An insertion-ordered dict from checkpoint name to variable.

    Raises:
        ValueError: the model has not been built, or two variables map to one name.
    """
    if not model.weights:
        raise ValueError(
            f"Model {model.name!r} has no variables yet: call it once (or build it) before "
            "loading or saving a checkpoint."
        )
    prefix = model.name + "/"
    table: dict[str, keras.Variable] = {}
    for variable in model.weights:
        path = variable.path
        name = path[len(prefix) :] if path.startswith(prefix) else path
        if isinstance(model, BertModel) and not name.startswith("bert/"):
            name = "bert/" + name
        if name in table:
            raise ValueError(f"Two variables of {model.name!r} map to checkpoint name {name!r}")
        table[name] = variable
    return table


def _skip_reason(name: str, model_names: Mapping[str, object]) -> str | None:
    for pattern, reason in _SKIP_RULES:
        if pattern.match(name):
            return reason
    for head in _HEAD_PREFIXES:
        if name.startswith(head) and not any(n.startswith(head) for n in model_names):
            return f"head not in this model ({head.rstrip('/')})"
    return None


def assign_by_name(
    model: keras.Layer,
    shapes: Mapping[str, tuple],
    read: Callable[[str], np.ndarray],
    source: str,
    allow_missing: tuple[str, ...] = (),
    allow_unexpected: bool = False,
) -> LoadReport:
    """Copies named arrays into `model`'s variables after checking the whole table.

    Args:
        model: a built Keras model whose variables follow Google's names.
        shapes: {checkpoint name: shape} of everything the source holds.
        read: returns the array stored under a name.
        source: a description of the source for messages (a path).
        allow_missing: name prefixes of model variables that may be absent from the source and
            keep their initial values (e.g. ``("cls/",)`` to start fresh pretraining heads).
        allow_unexpected: skip, rather than reject, source entries that match no model variable
            and no skip rule.

    Returns:
        A `LoadReport`.

    Raises:
        ValueError: listing every model variable missing from the source, every shape mismatch
            (both shapes), and every unexpected source entry.
    """
    table = google_variable_map(model)
    problems, loaded, not_in_source = [], [], []
    for name, variable in table.items():
        if name not in shapes:
            if any(name.startswith(p) for p in allow_missing):
                not_in_source.append(name)
            else:
                problems.append(
                    f"missing from checkpoint: {name} (model shape {tuple(variable.shape)})"
                )
            continue
        if tuple(shapes[name]) != tuple(variable.shape):
            problems.append(
                f"shape mismatch: {name}: checkpoint {tuple(shapes[name])} vs model "
                f"{tuple(variable.shape)}"
            )
            continue
        loaded.append(name)
    skipped = {}
    for name in shapes:
        if name in table:
            continue
        reason = _skip_reason(name, table)
        if reason is None:
            if not allow_unexpected:
                problems.append(f"unexpected checkpoint variable: {name} {tuple(shapes[name])}")
                continue
            reason = "not used by this model (allowed)"
        skipped[name] = reason
    if problems:
        raise ValueError(
            f"Checkpoint {source} does not match model {model.name!r} "
            f"({len(problems)} problems; is bert_config_file the checkpoint's config?):\n  "
            + "\n  ".join(problems)
        )
    for name in loaded:
        variable = table[name]
        variable.assign(np.asarray(read(name), dtype=variable.dtype))
    report = LoadReport(loaded=loaded, skipped=skipped, not_in_checkpoint=not_in_source)
    report.log(source)
    return report


class UnreadableCheckpointError(ValueError):
    """A checkpoint's files exist but cannot be read (empty, truncated or damaged)."""


def _open(prefix: str):
    """`tf.train.load_checkpoint` whose reads fail with one line naming the checkpoint.

    Returns:
        (reader, read): the reader, and ``read(name)`` returning a tensor as numpy.
    """

    def unreadable(e: Exception) -> UnreadableCheckpointError:
        reason = " ".join((getattr(e, "message", None) or str(e) or type(e).__name__).split())
        return UnreadableCheckpointError(
            f"checkpoint {prefix} cannot be read ({reason}): is it complete? (an interrupted "
            "copy or a full disk leaves empty or truncated .index/.data files)"
        )

    try:
        reader = tf.train.load_checkpoint(prefix)
    except tf.errors.OpError as e:
        raise unreadable(e) from None

    def read(name: str):
        try:
            return reader.get_tensor(name)
        except (tf.errors.OpError, IndexError) as e:  # IndexError: a truncated data file
            raise unreadable(e) from None

    return reader, read


def _resolve_checkpoint(path: str) -> str:
    """Accepts a checkpoint prefix, a folder with a ``checkpoint`` file, or a Google folder."""
    if tf.io.gfile.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest:
            return latest
        candidate = os.path.join(path, "bert_model.ckpt")
        if tf.io.gfile.exists(candidate + ".index"):
            return candidate
        raise FileNotFoundError(
            f"No checkpoint in folder {path}: expected a 'checkpoint' state file or "
            "bert_model.ckpt.index"
        )
    if not tf.io.gfile.exists(path + ".index"):
        raise FileNotFoundError(
            f"Checkpoint not found: {path} (expected {path}.index and {path}.data-*; pass the "
            "prefix, e.g. uncased_L-12_H-768_A-12/bert_model.ckpt)"
        )
    return path


def list_checkpoint(path: str) -> dict[str, tuple]:
    """{name: shape} for every variable stored in a TF checkpoint (prefix or folder)."""
    reader, _ = _open(_resolve_checkpoint(path))
    return {k: tuple(v) for k, v in reader.get_variable_to_shape_map().items()}


def load_google_checkpoint(
    model: keras.Layer,
    checkpoint: str,
    allow_missing: tuple[str, ...] = (),
    allow_unexpected: bool = False,
) -> LoadReport:
    """Loads a TF1 name-based checkpoint (Google's ``bert_model.ckpt`` or one we saved).

    Args:
        model: a `BertModel` or a model holding one under the name ``bert`` (plus heads named
            as Google names them). It is built first if needed.
        checkpoint: the checkpoint prefix (``.../bert_model.ckpt``) or its folder.
        allow_missing: see `assign_by_name`.
        allow_unexpected: see `assign_by_name`.

    Returns:
        A `LoadReport`.

    Raises:
        FileNotFoundError: no checkpoint at that path.
        ValueError: the checkpoint and the model disagree (every problem listed).
    """
    prefix = _resolve_checkpoint(checkpoint)
    _ensure_built(model)
    reader, read = _open(prefix)
    shapes = {k: tuple(v) for k, v in reader.get_variable_to_shape_map().items()}
    return assign_by_name(model, shapes, read, prefix, allow_missing, allow_unexpected)


def _ensure_built(model: keras.Layer) -> None:
    if model.weights:
        return
    if isinstance(model, BertModel):
        model(model.dummy_inputs())
    else:
        raise ValueError(f"Build model {model.name!r} (call it once) before loading weights.")


def save_google_checkpoint(
    model: keras.Layer,
    prefix: str,
    extra: Mapping[str, tf.Tensor | np.ndarray] | None = None,
    write_state: bool = False,
) -> str:
    """Writes `model`'s weights as a TF1 name-based checkpoint.

    Args:
        model: a built model whose variables follow Google's names.
        prefix: output prefix, e.g. ``out/bert_model.ckpt``; writes ``prefix.index`` and
            ``prefix.data-00000-of-00001``.
        extra: additional named tensors to store (``global_step``, optimizer slots).
        write_state: also write the folder's ``checkpoint`` state file naming this prefix, so
            `tf.train.latest_checkpoint` finds it.

    Returns:
        The prefix written.
    """
    _ensure_built(model)
    named = {name: v.value for name, v in google_variable_map(model).items()}
    for name, value in (extra or {}).items():
        if name in named:
            raise ValueError(f"extra tensor {name!r} clashes with a model variable")
        named[name] = tf.convert_to_tensor(value)
    folder = os.path.dirname(prefix)
    if folder:
        tf.io.gfile.makedirs(folder)
    names = sorted(named)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[named[n] for n in names],
    )
    if write_state:
        _write_checkpoint_state(folder or ".", prefix, [prefix])
    return prefix


# ---------------------------------------------------------------------------------------------
# Hugging Face


_SAFETENSORS_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """Reads a ``.safetensors`` file into numpy arrays (bfloat16 is widened to float32).

    The format is an 8-byte little-endian header length, a JSON header mapping each name to
    its dtype, shape and byte range, then the raw little-endian data.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is truncated or its header is malformed.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"safetensors file not found: {path}")
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short to be a safetensors file")
    (header_len,) = struct.unpack("<Q", data[:8])
    if 8 + header_len > len(data):
        raise ValueError(f"{path}: header length {header_len} runs past the end of the file")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: malformed safetensors header: {e}") from None
    base = 8 + header_len
    arrays = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[base + start : base + end]
        dtype = info["dtype"]
        if dtype == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        elif dtype in _SAFETENSORS_DTYPES:
            array = np.frombuffer(raw, dtype=np.dtype(_SAFETENSORS_DTYPES[dtype]).newbyteorder("<"))
        else:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {dtype}")
        arrays[name] = array.reshape(info["shape"])
    return arrays


_HF_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.(.*)$")
_HF_LEAF = {"weight": "kernel", "bias": "bias", "gamma": "gamma", "beta": "beta"}


def hf_to_google_name(name: str) -> tuple[str | None, bool]:
    """Maps a Hugging Face BERT weight name to (Google name, whether to transpose).

    Returns (None, False) for entries that hold no weight of their own (``position_ids``,
    the tied ``cls.predictions.decoder.weight``).
    """
    if name.startswith("bert."):
        name = name[len("bert.") :]
    if name.endswith("position_ids") or name == "cls.predictions.decoder.weight":
        return None, False
    if name == "cls.predictions.bias" or name == "cls.predictions.decoder.bias":
        return "cls/predictions/output_bias", False
    if name.startswith("cls.seq_relationship."):
        leaf = name.rsplit(".", 1)[1]
        return "cls/seq_relationship/output_" + ("weights" if leaf == "weight" else "bias"), False
    parts = name.split(".")
    if parts[-2] == "LayerNorm":
        parts[-1] = {"weight": "gamma", "bias": "beta"}.get(parts[-1], parts[-1])
        leaf = parts[-1]
        transpose = False
    elif parts[0] == "embeddings" and parts[-1] == "weight":
        # embeddings.word_embeddings.weight -> bert/embeddings/word_embeddings
        return "bert/embeddings/" + parts[1], False
    else:
        leaf = _HF_LEAF.get(parts[-1], parts[-1])
        transpose = leaf == "kernel"
        parts[-1] = leaf
    match = _HF_LAYER.match(".".join(parts))
    if match:
        path = f"encoder/layer_{match.group(1)}/" + match.group(2).replace(".", "/")
    else:
        path = "/".join(parts)
    if path.startswith("cls/"):
        return path, transpose
    return "bert/" + path, transpose


def google_arrays_from_hf(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Renames (and transposes dense kernels of) Hugging Face BERT weights to Google's layout."""
    out = {}
    for hf_name, array in arrays.items():
        name, transpose = hf_to_google_name(hf_name)
        if name is None:
            continue
        if name in out:
            raise ValueError(f"Two Hugging Face weights map to {name} (second: {hf_name})")
        out[name] = np.ascontiguousarray(array.T) if transpose else array
    return out


_HF_ACTIVATIONS = {
    "gelu": "gelu_exact",
    "gelu_new": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "gelu_fast": "gelu",
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}


def config_from_hf(values: Mapping, source: str = "config.json") -> BertConfig:
    """Builds a `BertConfig` from a Hugging Face BERT ``config.json`` dict.

    Hugging Face's ``"gelu"`` is the exact erf GELU, which is ``"gelu_exact"`` here (Google's
    ``"gelu"`` is the tanh approximation).

    Raises:
        ValueError: for settings this encoder does not implement (another LayerNorm epsilon,
            relative position embeddings, an unknown activation).
    """
    model_type = values.get("model_type", "bert")
    if model_type != "bert":
        raise ValueError(f"{source}: model_type {model_type!r} is not a BERT model")
    eps = values.get("layer_norm_eps", 1e-12)
    if abs(eps - 1e-12) > 1e-15:
        raise ValueError(f"{source}: layer_norm_eps {eps} differs from BERT's 1e-12")
    position = values.get("position_embedding_type", "absolute")
    if position != "absolute":
        raise ValueError(f"{source}: position_embedding_type {position!r} is not supported")
    act = values.get("hidden_act", "gelu")
    if act not in _HF_ACTIVATIONS:
        raise ValueError(f"{source}: hidden_act {act!r} has no Google equivalent")
    fields = {f.name for f in dataclasses.fields(BertConfig)} - {"extra"}
    known = {k: values[k] for k in fields if k in values}
    known["hidden_act"] = _HF_ACTIVATIONS[act]
    return BertConfig.from_dict(known, source=source)


def _hf_weights_file(folder: str) -> str:
    path = os.path.join(folder, "model.safetensors")
    if os.path.exists(path):
        return path
    if os.path.exists(os.path.join(folder, "pytorch_model.bin")):
        raise ValueError(
            f"{folder} holds only pytorch_model.bin; save it as model.safetensors first "
            "(reading PyTorch pickles would need PyTorch)."
        )
    raise FileNotFoundError(f"No model.safetensors in {folder}")


def load_hf_weights(
    model: keras.Layer, path: str, allow_missing: tuple[str, ...] = ()
) -> LoadReport:
    """Loads Hugging Face BERT weights (``model.safetensors``, with or without ``bert.``).

    Args:
        model: a `BertModel` (or a model with heads named as Google names them).
        path: a folder holding ``model.safetensors``, or the file itself.
        allow_missing: see `assign_by_name`. The pooler is allowed to be absent only if listed.

    Returns:
        A `LoadReport`.
    """
    file = _hf_weights_file(path) if os.path.isdir(path) else path
    arrays = google_arrays_from_hf(read_safetensors(file))
    _ensure_built(model)
    shapes = {k: tuple(v.shape) for k, v in arrays.items()}
    return assign_by_name(model, shapes, arrays.__getitem__, file, allow_missing)


def bert_from_hf(folder: str) -> BertModel:
    """A `BertModel` built from a Hugging Face folder's ``config.json`` with its weights loaded."""
    config_path = os.path.join(folder, "config.json")
    if not os.path.exists(config_path):
        raise FileNotFoundError(f"No config.json in {folder}")
    with open(config_path) as f:
        model = BertModel(config_from_hf(json.load(f), source=config_path))
    load_hf_weights(model, folder)
    return model


def convert_hf_to_google(input_dir: str, output_dir: str) -> str:
    """Turns a Hugging Face BERT folder into a Google checkpoint folder.

    Writes ``bert_config.json``, ``bert_model.ckpt.index``/``.data-00000-of-00001`` and
    ``vocab.txt`` into `output_dir`. The weights pass through a `BertModel` so that the whole
    table is shape-checked on the way.

    Returns:
        The checkpoint prefix written.
    """
    config_path = os.path.join(input_dir, "config.json")
    if not os.path.exists(config_path):
        raise FileNotFoundError(f"No config.json in {input_dir}")
    with open(config_path) as f:
        config = config_from_hf(json.load(f), source=config_path)
    vocab = os.path.join(input_dir, "vocab.txt")
    if not os.path.exists(vocab):
        raise FileNotFoundError(f"No vocab.txt in {input_dir}")
    model = BertModel(config)
    model(model.dummy_inputs())
    arrays = google_arrays_from_hf(read_safetensors(_hf_weights_file(input_dir)))
    shapes = {k: tuple(v.shape) for k, v in arrays.items()}
    assign_by_name(model, shapes, arrays.__getitem__, input_dir)
    heads = {k: v for k, v in arrays.items() if k.startswith("cls/")}
    os.makedirs(output_dir, exist_ok=True)
    config.to_json_file(os.path.join(output_dir, "bert_config.json"))
    prefix = save_google_checkpoint(model, os.path.join(output_dir, "bert_model.ckpt"), extra=heads)
    with files.atomic_path(os.path.join(output_dir, "vocab.txt")) as tmp:
        tf.io.gfile.copy(vocab, tmp)
    return prefix


# ---------------------------------------------------------------------------------------------
# Training checkpoints: model + optimizer slots + global_step, in Google's names.

TRAINING_PREFIX = "model.ckpt"


def _optimizer_slots(model, optimizer) -> dict[str, keras.Variable]:
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer wraps
    if not hasattr(inner, "slots") or not inner.built:
        return {}
    table = {}
    for name, variable in google_variable_map(model).items():
        if not variable.trainable:
            continue
        for slot, value in inner.slots(variable).items():
            table[f"{name}/{slot}"] = value
    return table


def save_training_checkpoint(model, optimizer, output_dir: str, step: int, keep: int = 5) -> str:
    """Writes ``output_dir/model.ckpt-STEP`` (weights, ``/adam_m``, ``/adam_v``, ``global_step``).

    The layout is the one Google's Estimator wrote, so the original code and
    `--init_checkpoint` read it; the ``checkpoint`` state file lists the `keep` newest, and
    older ones are deleted.

    Returns:
        The prefix written.
    """
    prefix = os.path.join(output_dir, f"{TRAINING_PREFIX}-{step}")
    extra = {name: v.value for name, v in _optimizer_slots(model, optimizer).items()}
    extra["global_step"] = tf.constant(step, tf.int64)
    save_google_checkpoint(model, prefix, extra=extra)
    state = tf.train.get_checkpoint_state(output_dir)
    previous = list(state.all_model_checkpoint_paths) if state else []
    previous = [
        p for p in previous if p != prefix and os.path.basename(p) != os.path.basename(prefix)
    ]
    kept = previous[-(keep - 1) :] if keep > 1 else []
    for old in previous[: len(previous) - len(kept)]:
        old = old if os.path.isabs(old) else os.path.join(output_dir, old)
        for path in tf.io.gfile.glob(old + ".*"):
            tf.io.gfile.remove(path)
    _write_checkpoint_state(output_dir, prefix, kept + [prefix])
    return prefix


def _write_checkpoint_state(output_dir: str, newest: str, paths: list[str]) -> None:
    """The ``checkpoint`` state file (a CheckpointState text proto), as the Estimator kept it.

    Written here rather than with ``tf.compat.v1.train.update_checkpoint_state``, which logs a
    deprecation warning at every save, and through `files.atomic_open`, so that a kill while it
    is written never leaves a state file that names no checkpoint.
    """

    def quoted(path: str) -> str:
        return json.dumps(path, ensure_ascii=False)  # the escapes text protos share with JSON

    lines = [f"model_checkpoint_path: {quoted(newest)}"]
    lines += [f"all_model_checkpoint_paths: {quoted(p)}" for p in paths]
    with files.atomic_open(os.path.join(output_dir, "checkpoint")) as f:
        f.write("\n".join(lines) + "\n")


def restore_training_checkpoint(model, optimizer, prefix: str) -> int:
    """Restores weights, optimizer slots and the step from a training checkpoint.

    Returns:
        The checkpoint's ``global_step``.

    Raises:
        ValueError: when the checkpoint lacks the model's variables, slots or global_step.
    """
    reader, read = _open(prefix)
    shapes = {k: tuple(v) for k, v in reader.get_variable_to_shape_map().items()}
    if "global_step" not in shapes:
        raise ValueError(f"{prefix} has no global_step: not a training checkpoint")
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if not inner.built:
        inner.build(model.trainable_variables)
    slots = _optimizer_slots(model, optimizer)
    missing = [name for name in slots if name not in shapes]
    if missing:
        raise ValueError(f"{prefix} lacks optimizer slots, e.g. {missing[:3]}")
    assign_by_name(model, shapes, read, prefix, allow_unexpected=False)
    for name, variable in slots.items():
        variable.assign(read(name))
    step = int(read("global_step"))
    inner.iterations.assign(step)
    return step
