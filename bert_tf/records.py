"""TFRecord features of BERT's data files: names, types, writing, parsing and input pipelines.

Every feature name and value type that goes into or comes out of a TFRecord file is declared in
this module, so the writers (``create_pretraining_data.py``) and readers (pre-training and, later,
fine-tuning input functions) cannot drift apart. The pre-training layout is Google's:

==========================  =========  ===========================
feature                     type       length
==========================  =========  ===========================
``input_ids``               int64      ``max_seq_length``
``input_mask``              int64      ``max_seq_length``
``segment_ids``             int64      ``max_seq_length``
``masked_lm_positions``     int64      ``max_predictions_per_seq``
``masked_lm_ids``           int64      ``max_predictions_per_seq``
``masked_lm_weights``       float      ``max_predictions_per_seq``
``next_sentence_labels``    int64      1
==========================  =========  ===========================

To add a layout (e.g. the classifier's ``label_ids`` and ``is_real_example``), declare the value
type of each new name in :data:`FEATURE_TYPES` and build its parsing spec with :func:`feature_spec`.

Importing this module does not import TensorFlow: :func:`serialize_example` encodes a
``tf.train.Example`` in pure Python, so that worker processes which only build records start in
a fraction of a second. Everything that reads or writes files imports TensorFlow when called.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:  # pragma: no cover - for type annotations only
    import tensorflow as tf  # noqa: F401


def _tensorflow():
    """The `tensorflow` module, imported on first use (see the module docstring)."""
    import tensorflow

    return tensorflow


INT64 = "int64"
FLOAT = "float"

# Value type of every feature name that a file of this project may hold.
FEATURE_TYPES: dict[str, str] = {
    "input_ids": INT64,
    "input_mask": INT64,
    "segment_ids": INT64,
    "masked_lm_positions": INT64,
    "masked_lm_ids": INT64,
    "masked_lm_weights": FLOAT,
    "next_sentence_labels": INT64,
}

# Pre-training features, in the order Google's script builds (and logs) them.
PRETRAINING_FEATURES: tuple[str, ...] = (
    "input_ids",
    "input_mask",
    "segment_ids",
    "masked_lm_positions",
    "masked_lm_ids",
    "masked_lm_weights",
    "next_sentence_labels",
)
# Which pre-training features have one value per token, and which one per prediction slot.
SEQUENCE_FEATURES: tuple[str, ...] = ("input_ids", "input_mask", "segment_ids")
PREDICTION_FEATURES: tuple[str, ...] = ("masked_lm_positions", "masked_lm_ids", "masked_lm_weights")

FeatureValues = Sequence[Union[int, float]]
PathList = Union[str, Sequence[str]]


def feature_type(name: str, values: FeatureValues = ()) -> str:
    """Returns the declared value type of feature `name` (:data:`INT64` or :data:`FLOAT`).

    A name missing from :data:`FEATURE_TYPES` is typed by its values: float if any is a float.

    Args:
        name: Feature name.
        values: The values about to be stored, used only for undeclared names.
    """
    declared = FEATURE_TYPES.get(name)
    if declared is not None:
        return declared
    return FLOAT if any(isinstance(v, float) for v in values) else INT64


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------


def make_example(features: Mapping[str, FeatureValues]) -> "tf.train.Example":
    """Builds a `tf.train.Example` from lists of values keyed by feature name.

    Args:
        features: Feature name -> list of ints or floats; the value type comes from
            :data:`FEATURE_TYPES` (see :func:`feature_type`).

    Returns:
        The example, with one `Int64List` or `FloatList` feature per name.
    """
    tf = _tensorflow()

    feature_map = {}
    for name, values in features.items():
        if feature_type(name, values) == FLOAT:
            feature_map[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
        else:
            feature_map[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feature_map))


def _encode_varint(value: int) -> bytes:
    """Protocol-buffer varint of `value` (negative numbers as 64-bit two's complement)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Varints of 0 .. 2**16 - 1 (vocabulary ids of the usual vocabularies, lengths), made on first use.
_VARINT_TABLE: list[bytes] = []
_VARINT_TABLE_SIZE = 1 << 16
# (name, type) -> encoded map-entry key and tag of the Feature's value-list field.
_FEATURE_HEADS: dict[tuple[str, str], tuple[bytes, bytes]] = {}


def _varint_table() -> list[bytes]:
    if not _VARINT_TABLE:
        _VARINT_TABLE.extend(_encode_varint(v) for v in range(_VARINT_TABLE_SIZE))
    return _VARINT_TABLE


def _packed_varints(values: Sequence[int], table: list[bytes]) -> bytes:
    if not values:
        return b""
    low, high = min(values), max(values)
    if low >= 0 and high < 0x80:
        return bytes(values)  # One byte each: the common case of masks, segments and labels.
    if low >= 0 and high < _VARINT_TABLE_SIZE:
        return b"".join([table[v] for v in values])
    return b"".join([_encode_varint(int(v)) for v in values])


def varint(value: int) -> bytes:
    """The protocol-buffer varint of an integer: how one int64 value is packed in a record."""
    if 0 <= value < _VARINT_TABLE_SIZE:
        return _varint_table()[value]
    return _encode_varint(value)


def _pack(kind: str, values: FeatureValues) -> bytes:
    if kind == FLOAT:
        return struct.pack(f"<{len(values)}f", *values)
    return _packed_varints(values, _varint_table())


def pack_values(name: str, values: FeatureValues) -> bytes:
    """The packed encoding of a feature's values (varints for int64, little-endian float32).

    Packed encodings concatenate: `pack_values(n, a + b) == pack_values(n, a) + pack_values(n, b)`.
    """
    return _pack(feature_type(name, values), values)


def _feature_head(name: str, kind: str) -> tuple[bytes, bytes]:
    """(map-entry key field, tag of the Feature's value-list field) for a name and type."""
    head = _FEATURE_HEADS.get((name, kind))
    if head is None:
        encoded = name.encode("utf-8")
        key = b"\x0a" + _encode_varint(len(encoded)) + encoded
        # Feature.float_list is field 2, Feature.int64_list field 3 (both length-delimited).
        head = _FEATURE_HEADS[(name, kind)] = (key, b"\x12" if kind == FLOAT else b"\x1a")
    return head


def serialize_packed(packed: Mapping[str, bytes], kinds: Mapping[str, str] | None = None) -> bytes:
    """Serializes a `tf.train.Example` from already packed values (see :func:`pack_values`).

    This is the fast path for writers that cache encodings (e.g. of every vocabulary id).

    Args:
        packed: Feature name -> `pack_values(name, values)`.
        kinds: Value type of names not declared in :data:`FEATURE_TYPES` (default int64).

    Returns:
        The same bytes as :func:`serialize_example` of the unpacked values.
    """
    table = _varint_table()

    def size(n: int) -> bytes:
        return table[n] if n < _VARINT_TABLE_SIZE else _encode_varint(n)

    parts = []
    for name in sorted(packed):
        payload = packed[name]
        kind = kinds[name] if kinds and name in kinds else feature_type(name)
        key, list_field = _feature_head(name, kind)
        value_list = b"\x0a" + size(len(payload)) + payload if payload else b""
        feature = list_field + size(len(value_list)) + value_list
        entry = key + b"\x12" + size(len(feature)) + feature
        parts.append(b"\x0a" + size(len(entry)))
        parts.append(entry)
    content = b"".join(parts)
    return b"\x0a" + size(len(content)) + content


def serialize_example(features: Mapping[str, FeatureValues]) -> bytes:
    """Serializes the `tf.train.Example` of `features` without TensorFlow.

    The bytes equal ``make_example(features).SerializeToString(deterministic=True)``: the feature
    map is written in sorted key order, so the same features always give the same bytes (plain
    ``SerializeToString()`` orders map entries differently from one process to the next).

    Args:
        features: Feature name -> list of ints or floats (see :func:`make_example`).

    Returns:
        The serialized example.
    """
    kinds = {name: feature_type(name, values) for name, values in features.items()}
    packed = {name: _pack(kinds[name], values) for name, values in features.items()}
    return serialize_packed(packed, kinds)


class RoundRobinWriter:
    """Writes serialized records to several TFRecord files in turn: 1st file, 2nd, ..., 1st.

    Parent folders are created when missing. Use as a context manager, or call :meth:`close`.

    Attributes:
        output_files: The files written, in turn order.
        counts: Number of records written to each file.
    """

    def __init__(self, output_files: Sequence[str]) -> None:
        """Opens every output file under its temporary name (see `bert_tf.files`).

        Each file appears under its final name only when :meth:`close` ends a complete write;
        leaving the block on an exception removes the temporaries and keeps older files.

        Args:
            output_files: One or more paths.

        Raises:
            ValueError: If `output_files` is empty.
        """
        tf = _tensorflow()
        from bert_tf import files

        self.output_files = list(output_files)
        if not self.output_files:
            raise ValueError("no output file given")
        self._stack = contextlib.ExitStack()
        try:
            temporaries = [
                self._stack.enter_context(files.atomic_path(path)) for path in self.output_files
            ]
            self._writers = [tf.io.TFRecordWriter(path) for path in temporaries]
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        self.counts = [0] * len(self.output_files)
        self._next = 0

    @property
    def total(self) -> int:
        """Number of records written so far."""
        return sum(self.counts)

    def write(self, record: bytes) -> None:
        """Appends `record` to the file whose turn it is."""
        self._writers[self._next].write(record)
        self.counts[self._next] += 1
        self._next = (self._next + 1) % len(self._writers)

    def close(self, exc_info=(None, None, None)) -> None:
        """Flushes and closes every file; renames them into place unless `exc_info` is an error."""
        while self._writers:
            self._writers.pop(0).close()
        self._stack.__exit__(*exc_info)

    def __enter__(self) -> "RoundRobinWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close(exc_info)


def write_examples(
    output_files: Sequence[str], examples: Iterable[Mapping[str, FeatureValues]]
) -> list[int]:
    """Serializes feature dicts and writes them round-robin over `output_files`.

    Returns:
        How many records each file received.
    """
    with RoundRobinWriter(output_files) as writer:
        for features in examples:
            writer.write(serialize_example(features))
    return writer.counts


def write_record_file(output_file: str, examples: Iterable[Mapping[str, FeatureValues]]) -> int:
    """Writes feature dicts to one TFRecord file; returns how many were written.

    The fine-tuning scripts' writers (`write_squad_records`, `write_ner_records`,
    `write_multiple_choice_records`) are this function under their task's name.
    """
    return write_examples([output_file], examples)[0]


# ----------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------


def expand_file_patterns(patterns: PathList, flag: str = "input_file") -> list[str]:
    """Expands comma-separated file names or glob patterns into the files they match.

    Matches of one pattern come in the order `tf.io.gfile.glob` gives them, as in Google's
    scripts; patterns are expanded in the order given.

    Args:
        patterns: A comma-separated string, or a sequence of such strings.
        flag: The flag the patterns came from, for error messages.

    Returns:
        The matched paths.

    Raises:
        ValueError: If no pattern is given, or a pattern matches no file (the message names it).
    """
    tf = _tensorflow()

    if isinstance(patterns, str):
        patterns = [patterns]
    pieces = [p.strip() for text in patterns for p in text.split(",") if p.strip()]
    if not pieces:
        raise ValueError(f"--{flag} is empty: give one or more files or glob patterns")
    files: list[str] = []
    for pattern in pieces:
        matched = tf.io.gfile.glob(pattern)
        if not matched:
            raise ValueError(
                f"--{flag}: {pattern!r} matches no file (check the path; several files or "
                "patterns are separated by commas)"
            )
        files.extend(matched)
    return files


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------


def feature_spec(lengths: Mapping[str, int]) -> dict[str, "tf.io.FixedLenFeature"]:
    """Parsing spec of fixed-length features whose types are declared in :data:`FEATURE_TYPES`.

    Args:
        lengths: Feature name -> number of values per record.

    Returns:
        Feature name -> `tf.io.FixedLenFeature([length], tf.int64 or tf.float32)`.

    Raises:
        KeyError: If a name has no declared type.
    """
    tf = _tensorflow()

    dtypes = {INT64: tf.int64, FLOAT: tf.float32}
    spec = {}
    for name, length in lengths.items():
        if name not in FEATURE_TYPES:
            raise KeyError(
                f"feature {name!r} has no declared type in bert_tf.records.FEATURE_TYPES"
            )
        spec[name] = tf.io.FixedLenFeature([length], dtypes[FEATURE_TYPES[name]])
    return spec


def pretraining_lengths(max_seq_length: int, max_predictions_per_seq: int) -> dict[str, int]:
    """Number of values of every pre-training feature, in :data:`PRETRAINING_FEATURES` order."""
    lengths = {name: max_seq_length for name in SEQUENCE_FEATURES}
    lengths.update({name: max_predictions_per_seq for name in PREDICTION_FEATURES})
    lengths["next_sentence_labels"] = 1
    return {name: lengths[name] for name in PRETRAINING_FEATURES}


def pretraining_feature_spec(
    max_seq_length: int, max_predictions_per_seq: int
) -> dict[str, "tf.io.FixedLenFeature"]:
    """Parsing spec of a pre-training record (the `name_to_features` of `run_pretraining.py`)."""
    return feature_spec(pretraining_lengths(max_seq_length, max_predictions_per_seq))


def decode_record(
    record: "tf.Tensor", spec: Mapping[str, "tf.io.FixedLenFeature"]
) -> dict[str, "tf.Tensor"]:
    """Parses one serialized example, casting int64 features to int32.

    `tf.train.Example` stores integers as int64 only, while TPUs (and the models here) take
    int32, so every int64 feature is cast, as the original input functions do.

    Args:
        record: A scalar string tensor.
        spec: Feature name -> `tf.io.FixedLenFeature`.

    Returns:
        Feature name -> tensor (int32 or float32).
    """
    tf = _tensorflow()

    parsed = tf.io.parse_single_example(record, spec)
    return {
        name: tf.cast(value, tf.int32) if value.dtype == tf.int64 else value
        for name, value in parsed.items()
    }


def pretraining_dataset(
    input_files: PathList,
    batch_size: int,
    max_seq_length: int,
    max_predictions_per_seq: int,
    is_training: bool,
    num_cpu_threads: int = 4,
    seed: int | None = None,
    deterministic: bool | None = None,
    repeat_eval: bool = True,
    masker=None,
) -> "tf.data.Dataset":
    """Batches of pre-training features, as the `input_fn` of Google's `run_pretraining.py`.

    Training: the file names are repeated forever and shuffled (buffer = number of files);
    `min(num_cpu_threads, number of files)` files are read at once and their records interleaved
    (in no fixed order unless `deterministic`, like the original's "sloppy" interleave); records
    are shuffled with a buffer of 100. Evaluation: the files are read one after the other, with
    no shuffling, repeated forever unless `repeat_eval` is false. Batches always have exactly
    `batch_size` records (a last, smaller batch is dropped) so that shapes are static.

    Args:
        input_files: TFRecord files, or a comma-separated string of files or glob patterns.
        batch_size: Records per batch.
        max_seq_length: Length of the token features the files were written with.
        max_predictions_per_seq: Length of the masked-LM features the files were written with.
        is_training: Whether to shuffle and interleave (training) or read in order (evaluation).
        num_cpu_threads: Parallel file readers and parsing calls.
        seed: Seed of both shuffles; None draws a fresh one every run.
        deterministic: Whether interleaved records come in a reproducible order. None keeps the
            original behaviour: not reproducible for training (faster), in order for evaluation.
        repeat_eval: Whether the evaluation data repeats forever, as in the original (which
            evaluates a fixed number of steps). Training data always repeats.
        masker: A `bert_tf.dynamic_masking.DynamicMasker` to draw the masked-LM features anew
            in every epoch (dynamic masking), or None to use the records' own. Every record is
            then tagged with its epoch (passes over the file list), the index of its file in
            `input_files` and its index in that file, which seed its masks.

    Returns:
        A dataset of dicts: int32 `input_ids`, `input_mask`, `segment_ids` of shape
        `[batch_size, max_seq_length]`; int32 `masked_lm_positions`, `masked_lm_ids` and float32
        `masked_lm_weights` of shape `[batch_size, max_predictions_per_seq]`; int32
        `next_sentence_labels` of shape `[batch_size, 1]`.

    Raises:
        ValueError: If no input file is given or a pattern matches nothing.
    """
    tf = _tensorflow()

    files = expand_file_patterns(input_files) if isinstance(input_files, str) else list(input_files)
    if not files:
        raise ValueError("pretraining_dataset: no input file given")
    spec = pretraining_feature_spec(max_seq_length, max_predictions_per_seq)
    if deterministic is None:
        deterministic = not is_training

    repeat = is_training or repeat_eval
    if masker is None:
        paths = tf.data.Dataset.from_tensor_slices(tf.constant(files))
        paths = paths.repeat() if repeat else paths

        def read(path):
            return tf.data.TFRecordDataset(path)

        def parse(record):
            return decode_record(record, spec)

    else:
        # (epoch, file index, path): the n-th file of the repeated list is in epoch n // files.
        indexed = tf.data.Dataset.from_tensor_slices(
            (tf.range(len(files), dtype=tf.int64), tf.constant(files))
        )
        indexed = indexed.repeat() if repeat else indexed
        paths = indexed.enumerate().map(lambda n, file: (n // len(files), *file))

        def read(epoch, file_index, path):
            return (
                tf.data.TFRecordDataset(path)
                .enumerate()
                .map(lambda index, record: (epoch, file_index, index, record))
            )

        def parse(epoch, file_index, index, record):
            return masker.prepare(decode_record(record, spec), epoch, file_index, index)

    if not is_training:
        dataset = paths.flat_map(read)
    else:
        paths = paths.shuffle(buffer_size=len(files), seed=seed)
        readers = min(num_cpu_threads, len(files))
        dataset = paths.interleave(
            read,
            cycle_length=readers,
            num_parallel_calls=readers,
            deterministic=deterministic,
        )
        dataset = dataset.shuffle(buffer_size=100, seed=seed)

    dataset = dataset.map(parse, num_parallel_calls=num_cpu_threads, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    if masker is not None:
        dataset = dataset.map(masker.mask, num_parallel_calls=num_cpu_threads, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def read_first_example(input_file: str) -> "tf.train.Example":
    """Returns the first record of a TFRecord file, parsed as a `tf.train.Example`.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file holds no record or the record is not a `tf.train.Example`.
    """
    tf = _tensorflow()
    from google.protobuf.message import DecodeError

    if not tf.io.gfile.exists(input_file):
        raise FileNotFoundError(f"no such TFRecord file: {input_file}")
    for record in tf.data.TFRecordDataset([input_file]).take(1):
        try:
            return tf.train.Example.FromString(record.numpy())
        except DecodeError as e:
            raise ValueError(f"{input_file}: first record is not a tf.train.Example ({e})") from e
    raise ValueError(f"{input_file} holds no record (was it written completely?)")


def check_record_shapes(input_file: str, max_seq_length: int, max_predictions_per_seq: int) -> None:
    """Checks that pre-training records were written with the lengths a reader asks for.

    Only the first record is read. Catching the mismatch here gives a message saying what to
    change, instead of a parsing error deep inside `tf.data`.

    Args:
        input_file: A TFRecord file written by `create_pretraining_data.py`.
        max_seq_length: The reader's `--max_seq_length`.
        max_predictions_per_seq: The reader's `--max_predictions_per_seq`.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is empty, lacks pre-training features, or a length differs.
    """
    example = read_first_example(input_file)
    stored = example.features.feature
    missing = [name for name in PRETRAINING_FEATURES if name not in stored]
    if missing:
        raise ValueError(
            f"{input_file} is not a pre-training file: its records lack {', '.join(missing)} "
            f"(they hold {', '.join(sorted(stored)) or 'no feature'})"
        )

    def length(name: str) -> int:
        feature = stored[name]
        return len(feature.float_list.value) + len(feature.int64_list.value)

    checks = (
        ("max_seq_length", "input_ids", max_seq_length),
        ("max_predictions_per_seq", "masked_lm_positions", max_predictions_per_seq),
    )
    for flag, name, wanted in checks:
        found = length(name)
        if found != wanted:
            raise ValueError(
                f"{input_file}: records were written with {flag}={found}, training asks for "
                f"{wanted}; pass --{flag}={found} or make the data again with "
                f"--{flag}={wanted}"
            )


def check_record_framing(input_file: str) -> int:
    """Walks a local TFRecord file's record headers to its end; returns the record count.

    Each record is a little-endian uint64 length, 4 bytes of length CRC, the data and 4 bytes
    of data CRC. Only the headers are read (the data is skipped by seeking), so a truncated
    file, the usual result of a killed writer, is found before training in a fraction of the
    time a full read takes. CRCs are checked later by `tf.data`. Files that are not local are
    not walked (seeking there costs a request per record).

    Raises:
        ValueError: the file ends inside a record; the message names the file, the record and
            the byte offset.
    """
    if "://" in input_file:
        return -1
    size = os.path.getsize(input_file)
    count = offset = 0
    with open(input_file, "rb") as f:
        while offset < size:
            header = f.read(12)
            if len(header) < 12:
                break
            (length,) = struct.unpack("<Q", header[:8])
            end = offset + 12 + length + 4
            if end > size:
                break
            offset = f.seek(end)
            count += 1
    if offset != size:
        raise ValueError(
            f"{input_file} is truncated: record {count + 1} starts at byte {offset} but the file "
            f"ends at byte {size} (was it written completely? make it again)"
        )
    return count


# ----------------------------------------------------------------------------------------------
# Sentence (pair) classification: the records of run_classifier.py
# ----------------------------------------------------------------------------------------------
#
# Google's layout: ``input_ids``, ``input_mask``, ``segment_ids`` (int64, ``max_seq_length``),
# ``label_ids`` and ``is_real_example`` (int64, one value, parsed as scalars). ``is_real_example``
# is 0 for the dummies that fill a last evaluation or prediction batch. A regression task
# (STS-B), which the original did not have, stores its score in ``label_ids`` as a float: such
# files are written and read with ``regression=True``.

for _name in ("label_ids", "is_real_example"):
    FEATURE_TYPES.setdefault(_name, INT64)
del _name

# Classifier features, in the order Google's script builds them.
CLASSIFIER_FEATURES: tuple[str, ...] = SEQUENCE_FEATURES + ("label_ids", "is_real_example")
# The files run_classifier.py writes in --output_dir (as the original names them).
CLASSIFIER_RECORD_FILES = {
    "train": "train.tf_record",
    "eval": "eval.tf_record",
    "predict": "predict.tf_record",
}


def classifier_feature_spec(
    max_seq_length: int, regression: bool = False
) -> dict[str, "tf.io.FixedLenFeature"]:
    """Parsing spec of a classifier record (the original's `name_to_features`).

    Args:
        max_seq_length: Length of the token features the file was written with.
        regression: Whether ``label_ids`` holds a float score (STS-B) instead of a class id.
    """
    tf = _tensorflow()

    spec = feature_spec({name: max_seq_length for name in SEQUENCE_FEATURES})
    spec["label_ids"] = tf.io.FixedLenFeature([], tf.float32 if regression else tf.int64)
    spec["is_real_example"] = tf.io.FixedLenFeature([], tf.int64)
    return spec


def serialize_classifier_example(
    features: Mapping[str, FeatureValues], regression: bool = False
) -> bytes:
    """Serializes one classifier record; ``label_ids`` is a float list when `regression`."""
    kinds = {name: feature_type(name, values) for name, values in features.items()}
    if regression:
        kinds["label_ids"] = FLOAT
    packed = {name: _pack(kinds[name], values) for name, values in features.items()}
    return serialize_packed(packed, kinds)


def write_classifier_examples(
    output_file: str, examples: Iterable[Mapping[str, FeatureValues]], regression: bool = False
) -> int:
    """Writes classifier records (feature name -> values) to one TFRecord file.

    Returns:
        The number of records written.
    """
    with RoundRobinWriter([output_file]) as writer:
        for features in examples:
            writer.write(serialize_classifier_example(features, regression))
    return writer.total


def classifier_dataset(
    input_file: str,
    batch_size: int,
    max_seq_length: int,
    is_training: bool,
    regression: bool = False,
    seed: int | None = None,
    drop_remainder: bool | None = None,
    trim_padding: bool = False,
) -> "tf.data.Dataset":
    """Batches of classifier features, as the original's `file_based_input_fn_builder`.

    Training repeats the file forever, shuffles with a buffer of 100 and drops a last smaller
    batch; evaluation and prediction read the records once, in order, keeping every one.

    Args:
        input_file: A TFRecord file written by :func:`write_classifier_examples`.
        batch_size: Records per batch.
        max_seq_length: Length of the token features the file was written with.
        is_training: Shuffle and repeat (training) or read once in order.
        regression: Whether ``label_ids`` is a float score.
        seed: Seed of the training shuffle; None draws a fresh one every run.
        drop_remainder: Overrides the default (True for training, False otherwise).
        trim_padding: Cut each batch's token features to its longest row (see
            :func:`trim_batch_padding`).

    Returns:
        A dataset of dicts: int32 ``input_ids``, ``input_mask``, ``segment_ids``
        [batch_size, max_seq_length] (fewer columns with `trim_padding`); ``label_ids``
        [batch_size] (int32, or float32 for a regression); int32 ``is_real_example`` [batch_size].
    """
    spec = classifier_feature_spec(max_seq_length, regression)
    return fine_tuning_dataset(
        input_file, spec, batch_size, is_training, seed, drop_remainder, trim_padding
    )


# ----------------------------------------------------------------------------------------------
# SQuAD: the records of run_squad.py
# ----------------------------------------------------------------------------------------------
#
# Google's layout: ``unique_ids`` (int64, one value, parsed as a scalar), ``input_ids``,
# ``input_mask``, ``segment_ids`` (int64, ``max_seq_length``); training records add
# ``start_positions``, ``end_positions`` and ``is_impossible`` (int64, one value each). The
# original reads back ``unique_ids``, the token features and, for training, the two positions
# (``is_impossible`` is written but never parsed), and so does :func:`squad_dataset`.

for _name in ("unique_ids", "start_positions", "end_positions", "is_impossible"):
    FEATURE_TYPES.setdefault(_name, INT64)
del _name

# Scalar features of a SQuAD record: read back with shape [] (a [batch_size] vector per batch).
SQUAD_TRAIN_SCALARS: tuple[str, ...] = ("start_positions", "end_positions")
# The files run_squad.py writes in --output_dir (as the original names them).
SQUAD_RECORD_FILES = {"train": "train.tf_record", "predict": "eval.tf_record"}


def squad_feature_spec(
    max_seq_length: int, is_training: bool
) -> dict[str, "tf.io.FixedLenFeature"]:
    """Parsing spec of a SQuAD record (the original's `name_to_features`).

    Args:
        max_seq_length: Length of the token features the file was written with.
        is_training: Also parse ``start_positions`` and ``end_positions``.
    """
    tf = _tensorflow()

    spec = {"unique_ids": tf.io.FixedLenFeature([], tf.int64)}
    spec.update(feature_spec({name: max_seq_length for name in SEQUENCE_FEATURES}))
    if is_training:
        for name in SQUAD_TRAIN_SCALARS:
            spec[name] = tf.io.FixedLenFeature([], tf.int64)
    return spec


write_squad_records = write_record_file


def squad_dataset(
    input_file: str,
    batch_size: int,
    max_seq_length: int,
    is_training: bool,
    seed: int | None = None,
    drop_remainder: bool | None = None,
) -> "tf.data.Dataset":
    """Batches of SQuAD features, as the `input_fn_builder` of Google's `run_squad.py`.

    Training repeats the file forever, shuffles with a buffer of 100 and drops a last smaller
    batch; prediction reads the records once, in order, keeping every one.

    Args:
        input_file: A TFRecord file of SQuAD records (see :func:`write_squad_records`).
        batch_size: Records per batch.
        max_seq_length: Length of the token features the file was written with.
        is_training: Shuffle, repeat and parse the answer positions (training), or read once.
        seed: Seed of the training shuffle; None draws a fresh one every run.
        drop_remainder: Overrides the default (True for training, False otherwise).

    Returns:
        A dataset of dicts: int32 ``unique_ids`` [batch_size]; int32 ``input_ids``,
        ``input_mask``, ``segment_ids`` [batch_size, max_seq_length]; for training also int32
        ``start_positions`` and ``end_positions`` [batch_size].
    """
    spec = squad_feature_spec(max_seq_length, is_training)
    return fine_tuning_dataset(input_file, spec, batch_size, is_training, seed, drop_remainder)


def fine_tuning_dataset(
    input_file: str,
    spec: Mapping[str, "tf.io.FixedLenFeature"],
    batch_size: int,
    is_training: bool,
    seed: int | None = None,
    drop_remainder: bool | None = None,
    trim_padding: bool = False,
) -> "tf.data.Dataset":
    """The input pipeline the original's fine-tuning scripts share.

    Training repeats the file forever, shuffles with a buffer of 100 and drops a last smaller
    batch; evaluation and prediction read the records once, in order, keeping every one. With
    `trim_padding`, each batch goes through :func:`trim_batch_padding`.
    """
    tf = _tensorflow()

    dataset = tf.data.TFRecordDataset([input_file])
    if is_training:
        dataset = dataset.repeat().shuffle(buffer_size=100, seed=seed)
    dataset = dataset.map(
        lambda record: decode_record(record, spec),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if drop_remainder is None:
        drop_remainder = is_training
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if trim_padding:
        length = spec["input_mask"].shape[0]
        per_token = [name for name, feature in spec.items() if list(feature.shape) == [length]]
        dataset = dataset.map(
            lambda batch: trim_batch_padding(batch, per_token), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


# Trimmed batches keep a multiple of this many positions, so a run sees at most
# max_seq_length / 8 distinct shapes (each one an XLA compilation under --use_xla).
TRIM_MULTIPLE = 8


def trim_batch_padding(batch: dict, per_token: Sequence[str]) -> dict:
    """Drops the padding columns that no row of the batch uses.

    Every feature named in `per_token` ([batch, max_seq_length], padded at the end as all of
    this package's records are) keeps its first ``L`` columns, where ``L`` is the longest
    ``input_mask`` in the batch rounded up to a multiple of :data:`TRIM_MULTIPLE` (never more
    than the written length, never less than 1). Padded keys get an additive -10000 before the
    softmax, whose exponential is exactly 0 in float32, so the model's outputs for the real
    tokens are the untrimmed ones up to float rounding; the work saved is the dropped columns'.
    """
    tf = _tensorflow()

    mask = batch["input_mask"]
    longest = tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1))
    rounded = (tf.maximum(longest, 1) + TRIM_MULTIPLE - 1) // TRIM_MULTIPLE * TRIM_MULTIPLE
    length = tf.minimum(rounded, tf.shape(mask)[1])
    return {
        name: value[:, :length] if name in per_token else value for name, value in batch.items()
    }


# ----------------------------------------------------------------------------------------------
# Token tagging (CoNLL NER): the records of run_ner.py
# ----------------------------------------------------------------------------------------------
#
# ``input_ids``, ``input_mask``, ``segment_ids`` and ``label_ids`` (int64, ``max_seq_length``
# each): one label id per token, -1 (``bert_tf.tasks.conll.IGNORE_LABEL``) where nothing is
# trained or scored ([CLS], [SEP], a word's later pieces, context words, padding).

NER_FEATURES: tuple[str, ...] = SEQUENCE_FEATURES + ("label_ids",)
# The files run_ner.py writes in --output_dir.
NER_RECORD_FILES = {
    "train": "train.tf_record",
    "eval": "eval.tf_record",
    "predict": "predict.tf_record",
}


def ner_feature_spec(max_seq_length: int) -> dict[str, "tf.io.FixedLenFeature"]:
    """Parsing spec of a token-tagging record: every feature has `max_seq_length` values."""
    return feature_spec({name: max_seq_length for name in NER_FEATURES})


write_ner_records = write_record_file


def ner_dataset(
    input_file: str,
    batch_size: int,
    max_seq_length: int,
    is_training: bool,
    seed: int | None = None,
    drop_remainder: bool | None = None,
) -> "tf.data.Dataset":
    """Batches of token-tagging features (int32 [batch_size, max_seq_length] each).

    Training repeats the file forever, shuffles with a buffer of 100 and drops a last smaller
    batch; evaluation and prediction read the records once, in order, keeping every one.
    """
    spec = ner_feature_spec(max_seq_length)
    return fine_tuning_dataset(input_file, spec, batch_size, is_training, seed, drop_remainder)


# ----------------------------------------------------------------------------------------------
# Multiple choice (SWAG): the records of run_swag.py
# ----------------------------------------------------------------------------------------------
#
# ``input_ids``, ``input_mask``, ``segment_ids`` (int64, ``num_choices * max_seq_length``: the
# candidates one after the other), ``label_ids`` (the correct candidate) and
# ``is_real_example`` (int64, one value each, parsed as scalars). Readers get the token
# features back as [batch_size, num_choices, max_seq_length].

MULTIPLE_CHOICE_FEATURES: tuple[str, ...] = SEQUENCE_FEATURES + ("label_ids", "is_real_example")
# The files run_swag.py writes in --output_dir.
MULTIPLE_CHOICE_RECORD_FILES = {
    "train": "train.tf_record",
    "eval": "eval.tf_record",
    "predict": "predict.tf_record",
}


def multiple_choice_feature_spec(
    max_seq_length: int, num_choices: int
) -> dict[str, "tf.io.FixedLenFeature"]:
    """Parsing spec of a multiple-choice record (token features flattened over the choices)."""
    tf = _tensorflow()

    spec = feature_spec({name: num_choices * max_seq_length for name in SEQUENCE_FEATURES})
    spec["label_ids"] = tf.io.FixedLenFeature([], tf.int64)
    spec["is_real_example"] = tf.io.FixedLenFeature([], tf.int64)
    return spec


write_multiple_choice_records = write_record_file


def multiple_choice_dataset(
    input_file: str,
    batch_size: int,
    max_seq_length: int,
    num_choices: int,
    is_training: bool,
    seed: int | None = None,
    drop_remainder: bool | None = None,
) -> "tf.data.Dataset":
    """Batches of multiple-choice features.

    Returns:
        A dataset of dicts: int32 ``input_ids``, ``input_mask``, ``segment_ids``
        [batch_size, num_choices, max_seq_length]; int32 ``label_ids`` and
        ``is_real_example`` [batch_size].
    """
    tf = _tensorflow()

    spec = multiple_choice_feature_spec(max_seq_length, num_choices)
    dataset = fine_tuning_dataset(input_file, spec, batch_size, is_training, seed, drop_remainder)

    def unflatten(features):
        features = dict(features)
        for name in SEQUENCE_FEATURES:
            features[name] = tf.reshape(features[name], [-1, num_choices, max_seq_length])
        return features

    return dataset.map(unflatten)
