"""GLUE (and XNLI) sentence and sentence-pair tasks: files -> examples -> features -> results.

Every task reads the tab-separated files that GLUE's ``download_glue_data.py`` writes, with quoting
off (fields hold unbalanced ``"``) and a UTF-8 byte-order mark dropped when present (MRPC's train
and dev files begin with one). A task knows:

* its files and the columns holding the texts, the label and (in test files) the example index;
* its labels, in the order of the original's ``get_labels`` (the ids are positions in that list),
  or that it is a regression (STS-B: one float output);
* its official metric(s), and the GLUE submission file (``index<TAB>prediction`` lines).

=========  ==========================================  ===========================  ===============
task       labels                                      dev metric(s)                submission
=========  ==========================================  ===========================  ===============
cola       0, 1                                        eval_mcc                     CoLA.tsv
sst-2      0, 1                                        eval_accuracy                SST-2.tsv
mrpc       0, 1                                        eval_f1, eval_accuracy       MRPC.tsv
sts-b      (regression, 0 to 5)                        eval_pearson, eval_spearman  STS-B.tsv
qqp        0, 1                                        eval_f1, eval_accuracy       QQP.tsv
mnli       contradiction, entailment, neutral          eval_accuracy (m and mm)     MNLI-m/-mm.tsv
qnli       entailment, not_entailment                  eval_accuracy                QNLI.tsv
rte        entailment, not_entailment                  eval_accuracy                RTE.tsv
wnli       0, 1                                        eval_accuracy                WNLI.tsv
xnli       contradiction, entailment, neutral          eval_accuracy                (none)
=========  ==========================================  ===========================  ===============

MNLI is evaluated on ``dev_matched.tsv`` (results without suffix, as the original) and on
``dev_mismatched.tsv`` (every output name gets ``_mm``: ``eval_results_mm.txt``,
``test_results_mm.tsv``); when GLUE's diagnostic set is found (``diagnostic.tsv`` in the data
folder or in ``../diagnostic/``) it is predicted too (suffix ``_ax``, submission ``AX.tsv``).

Example:
    >>> processor = get_processor("MRPC")
    >>> train = processor.get_train_examples("glue_data/MRPC")
    >>> features = convert_examples_to_features(train, processor.get_labels(), 128, tokenizer)
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from collections.abc import Iterator, Sequence

import numpy as np
from absl import logging

from bert_tf import files, metrics
from bert_tf.tasks.common import InputExample, InputFeatures, convert_single_example, log_features

NLI_LABELS = ("contradiction", "entailment", "neutral")
ENTAILMENT_LABELS = ("entailment", "not_entailment")
BINARY_LABELS = ("0", "1")


class PaddingInputExample:
    """A dummy example that fills the last batch to a fixed size; it counts for nothing.

    Its features are all zeros with ``is_real_example=0``: the loss and every metric weigh it 0,
    and its predictions are not written. Like the original's class of the same name, it is a
    type of its own (rather than None) so that padding cannot be mistaken for a missing example.
    """

    def __repr__(self) -> str:
        return "PaddingInputExample()"


@dataclasses.dataclass(frozen=True)
class TsvLayout:
    """Where one file of a task keeps its fields.

    Attributes:
        files: candidate paths relative to the data folder; the first that exists is read.
        text_a: column of the first (or only) text.
        text_b: column of the second text of a pair; None for single sentences.
        label: column of the label (negative counts from the end); None for unlabelled files.
        index: column of the example id written to the submission file; None: the row number.
        header: whether the first line names the columns (and fixes their number).
        num_columns: columns per row of a file without a header.
        language: (column, value): keep only rows whose column equals value (XNLI).
        label_aliases: (found, meant) label spellings to rename (XNLI's "contradictory").
    """

    files: tuple[str, ...]
    text_a: int
    text_b: int | None = None
    label: int | None = None
    index: int | None = None
    header: bool = True
    num_columns: int | None = None
    language: tuple[int, str] | None = None
    label_aliases: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class OutputSet:
    """One file evaluated or predicted, and the names of what it produces.

    Attributes:
        split: the layout's key in `GlueProcessor.layouts`.
        suffix: appended to every output name (``eval{suffix}.tf_record``,
            ``eval_results{suffix}.txt``, ``test_results{suffix}.tsv``).
        submission: the GLUE submission file name, or None.
        optional: skipped silently when its file is absent (GLUE's diagnostic set).
    """

    split: str
    suffix: str = ""
    submission: str | None = None
    optional: bool = False


class GlueProcessor:
    """Reads one task's files into `InputExample`s and turns predictions into its results.

    The method names of the original's ``DataProcessor`` are kept (``get_train_examples``,
    ``get_dev_examples``, ``get_test_examples``, ``get_labels``).

    Args:
        name: the canonical task name (e.g. "sst-2").
        labels: the label strings in id order; None for a regression task.
        layouts: split name ("train", "dev", "test", ...) -> `TsvLayout`.
        metric_names: the task's official metrics beyond accuracy/loss ("mcc", "f1",
            "pearson"/"spearman"/"corr").
        eval_sets: the sets `--do_eval` evaluates (the first is "dev").
        predict_sets: the sets `--do_predict` predicts (the first is "test").
    """

    def __init__(
        self,
        name: str,
        labels: Sequence[str] | None,
        layouts: dict[str, TsvLayout],
        metric_names: Sequence[str] = (),
        eval_sets: Sequence[OutputSet] = (OutputSet("dev"),),
        predict_sets: Sequence[OutputSet] = (OutputSet("test"),),
    ):
        self.name = name
        self.labels = list(labels) if labels is not None else None
        self.layouts = dict(layouts)
        self.metric_names = tuple(metric_names)
        self.eval_sets = tuple(eval_sets)
        self.predict_sets = tuple(predict_sets)

    def __repr__(self) -> str:
        return f"GlueProcessor({self.name!r})"

    # -- labels ------------------------------------------------------------------------------

    @property
    def is_regression(self) -> bool:
        return self.labels is None

    @property
    def num_labels(self) -> int:
        """Outputs of the classifier: the number of labels, or 1 for a regression."""
        return 1 if self.labels is None else len(self.labels)

    def get_labels(self) -> list[str]:
        """The label strings in id order (empty for a regression task)."""
        return list(self.labels or [])

    # -- files -------------------------------------------------------------------------------

    def find_file(self, data_dir: str, split: str) -> str | None:
        """The path of `split`'s file in `data_dir`, or None when no candidate exists."""
        for relative in self.layouts[split].files:
            path = os.path.join(data_dir, relative)
            path = path if "://" in path else os.path.normpath(path)
            if _exists(path):
                return path
        return None

    def check_data_dir(
        self, data_dir: str, do_train: bool = False, do_eval: bool = False, do_predict: bool = False
    ) -> None:
        """Checks that `data_dir` holds every file the requested phases read.

        Raises:
            FileNotFoundError: naming the folder, each missing file and the phase needing it.
        """
        if not data_dir:
            raise ValueError("--data_dir is required: the folder holding the task's .tsv files")
        if not _isdir(data_dir):
            raise FileNotFoundError(f"--data_dir: no such folder: {data_dir}")
        wanted = []
        if do_train:
            wanted.append(("train", "--do_train"))
        if do_eval:
            wanted += [(s.split, "--do_eval") for s in self.eval_sets if not s.optional]
        if do_predict:
            wanted += [(s.split, "--do_predict") for s in self.predict_sets if not s.optional]
        missing = [
            f"{self.layouts[split].files[0]} (for {phase})"
            for split, phase in wanted
            if self.find_file(data_dir, split) is None
        ]
        if missing:
            raise FileNotFoundError(
                f"--data_dir={data_dir} lacks the {self.name} files "
                f"{', '.join(missing)}; point --data_dir at the task's folder as GLUE's "
                "download script writes it (e.g. glue_data/MRPC)"
            )

    # -- examples ----------------------------------------------------------------------------

    def get_train_examples(self, data_dir: str) -> list[InputExample]:
        return self.get_examples(data_dir, "train")

    def get_dev_examples(self, data_dir: str) -> list[InputExample]:
        return self.get_examples(data_dir, self.eval_sets[0].split)

    def get_test_examples(self, data_dir: str) -> list[InputExample]:
        return self.get_examples(data_dir, self.predict_sets[0].split)

    def get_examples(self, data_dir: str, split: str) -> list[InputExample]:
        """Reads one split into examples with guids ``"{split}-{id}"``.

        The id is the file's index column where it has one (test files), else the row number
        counted from 0 after the header. Unlabelled rows get ``label=None``.

        Raises:
            FileNotFoundError: the split's file is not in `data_dir`.
            ValueError: a row has the wrong number of columns, or a label outside the task's
                set (the message names the file and line).
        """
        layout = self.layouts[split]
        path = self.find_file(data_dir, split)
        if path is None:
            raise FileNotFoundError(
                f"{self.name}: no {layout.files[0]} in {data_dir} (needed for the {split} set)"
            )
        examples = []
        for row_number, (line, row) in enumerate(_rows(path, layout)):
            if layout.language and row[layout.language[0]] != layout.language[1]:
                continue
            text_a = row[layout.text_a]
            text_b = row[layout.text_b] if layout.text_b is not None else None
            label = None
            if layout.label is not None:
                label = self._check_label(row[layout.label], layout, path, line)
            ident = row[layout.index] if layout.index is not None else str(row_number)
            examples.append(InputExample(f"{split}-{ident}", text_a, text_b, label))
        if not examples:
            raise ValueError(
                f"{path} holds no {self.name} example (only a header or blank lines"
                f"{', or no row of language ' + layout.language[1] if layout.language else ''})"
            )
        logging.info("Read %d %s examples from %s", len(examples), self.name, path)
        return examples

    def _check_label(self, value: str, layout: TsvLayout, path: str, line: int) -> str | float:
        value = dict(layout.label_aliases).get(value, value)
        if self.labels is None:
            try:
                return float(value)
            except ValueError:
                raise ValueError(
                    f"{path}, line {line}: the {self.name} score {value!r} is not a number"
                ) from None
        if value not in self.labels:
            raise ValueError(
                f"{path}, line {line}: label {value!r} is not one of {self.name}'s labels "
                f"{self.labels}; is this a {self.name} file?"
            )
        return value

    # -- results -----------------------------------------------------------------------------

    def label_id(self, example: InputExample) -> int | float:
        """The label's id (its position in `get_labels`), or the score; 0 when unlabelled."""
        if example.label is None:
            return 0.0 if self.is_regression else 0
        if self.is_regression:
            return float(example.label)
        return self.labels.index(example.label)

    def compute_metrics(
        self, logits: np.ndarray, label_ids: np.ndarray, is_real: np.ndarray, batch_size: int
    ) -> dict[str, float]:
        """The eval results the original's ``metric_fn`` gives, plus the task's official ones.

        Padding examples (``is_real`` 0) weigh nothing, as in the original.

        Args:
            logits: [num_examples, num_labels], in file order (padding last).
            label_ids: [num_examples] label ids (scores for a regression).
            is_real: [num_examples] 1 for real examples, 0 for padding.
            batch_size: the evaluation batch size (``loss`` is a mean over batches).

        Returns:
            ``eval_loss`` (mean cross entropy, or squared error for a regression, over real
            examples), ``loss`` (the mean of the batches' losses), and for classification
            ``eval_accuracy``; then ``eval_mcc`` / ``eval_f1`` / ``eval_pearson``,
            ``eval_spearman`` and ``eval_corr`` (their mean) as the task defines.
        """
        logits = np.asarray(logits, np.float64)
        weights = np.asarray(is_real, np.float64).reshape(-1)
        real = weights > 0
        if self.is_regression:
            values = logits[:, 0]
            labels = np.asarray(label_ids, np.float64).reshape(-1)
            per_example = np.square(values - labels)
        else:
            labels = np.asarray(label_ids, np.int64).reshape(-1)
            shifted = logits - logits.max(axis=-1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            per_example = -log_probs[np.arange(len(labels)), labels]
            predicted = logits.argmax(axis=-1)
        batch_losses = []
        for start in range(0, len(weights), batch_size):
            w = weights[start : start + batch_size]
            batch_losses.append(
                float((w * per_example[start : start + batch_size]).sum() / max(w.sum(), 1.0))
            )
        results = {
            "eval_loss": float((weights * per_example).sum() / max(weights.sum(), 1.0)),
            "loss": float(np.mean(batch_losses)) if batch_losses else 0.0,
        }
        if self.is_regression:
            results["eval_pearson"] = metrics.pearson(values[real], labels[real])
            results["eval_spearman"] = metrics.spearman(values[real], labels[real])
            results["eval_corr"] = (results["eval_pearson"] + results["eval_spearman"]) / 2.0
            return results
        results["eval_accuracy"] = metrics.accuracy(predicted[real], labels[real])
        if "mcc" in self.metric_names:
            results["eval_mcc"] = metrics.matthews_corrcoef(predicted[real], labels[real])
        if "f1" in self.metric_names:
            results["eval_f1"] = metrics.binary_f1(predicted[real], labels[real], positive=1)
        return results

    def prediction_strings(self, logits: np.ndarray) -> list[str]:
        """What the submission file holds per example: the label, or the score for STS-B."""
        logits = np.asarray(logits)
        if self.is_regression:
            return [str(np.float32(value)) for value in logits[:, 0]]
        return [self.labels[i] for i in logits.argmax(axis=-1)]

    def write_submission(
        self, path: str, examples: Sequence[InputExample], logits: np.ndarray
    ) -> None:
        """Writes GLUE's ``index<TAB>prediction`` file for the real `examples` (in order)."""
        with files.atomic_open(path) as f:
            f.write("index\tprediction\n")
            for example, prediction in zip(examples, self.prediction_strings(logits)):
                f.write(f"{example_id(example)}\t{prediction}\n")


def example_id(example: InputExample) -> str:
    """The id part of a guid ``"{split}-{id}"`` (the index written to submission files)."""
    return str(example.guid).split("-", 1)[-1]


def write_test_results(path: str, outputs: np.ndarray) -> None:
    """The original's ``test_results.tsv``: one line per real example, values tab-separated.

    Args:
        outputs: [num_examples, num_values]: class probabilities (or the one regression value).
    """
    with files.atomic_open(path) as f:
        for row in np.asarray(outputs, np.float32):
            f.write("\t".join(str(value) for value in row) + "\n")


# ---------------------------------------------------------------------------------------------
# Features


def convert_examples_to_features(
    examples: Sequence[InputExample | PaddingInputExample],
    processor: GlueProcessor,
    max_seq_length: int,
    tokenizer,
    log_first: int = 5,
) -> list[InputFeatures]:
    """Tokenizes and packs examples; padding examples become all-zero, not-real features.

    Pairs are truncated as the original does (one token at a time from the end of the longer
    text). The first `log_first` real examples are logged.
    """
    features = []
    logged = 0
    for index, example in enumerate(examples):
        if index % 10000 == 0:
            logging.info("Writing example %d of %d", index, len(examples))
        if isinstance(example, PaddingInputExample):
            zeros = [0] * max_seq_length
            features.append(
                InputFeatures(
                    input_ids=list(zeros),
                    input_mask=list(zeros),
                    segment_ids=list(zeros),
                    tokens=[],
                    label_id=0.0 if processor.is_regression else 0,
                    is_real_example=False,
                )
            )
            continue
        feature = convert_single_example(
            example, tokenizer, max_seq_length, processor.label_id(example)
        )
        if logged < log_first:
            log_features(example, feature)
            logging.info("label: %s (id = %s)", example.label, feature.label_id)
            logged += 1
        features.append(feature)
    return features


def pad_to_batch(examples: list, batch_size: int) -> list:
    """Appends `PaddingInputExample`s until the count is a multiple of `batch_size`."""
    padding = -len(examples) % batch_size
    return list(examples) + [PaddingInputExample() for _ in range(padding)]


def feature_values(feature: InputFeatures) -> dict[str, list]:
    """The record values of one feature (see `bert_tf.records.CLASSIFIER_FEATURES`)."""
    return {
        "input_ids": feature.input_ids,
        "input_mask": feature.input_mask,
        "segment_ids": feature.segment_ids,
        "label_ids": [feature.label_id],
        "is_real_example": [int(feature.is_real_example)],
    }


# ---------------------------------------------------------------------------------------------
# Reading


def _exists(path: str) -> bool:
    if "://" in path:
        import tensorflow as tf

        return tf.io.gfile.exists(path)
    return os.path.isfile(path)


def _isdir(path: str) -> bool:
    if "://" in path:
        import tensorflow as tf

        return tf.io.gfile.isdir(path)
    return os.path.isdir(path)


def _open_text(path: str):
    if "://" in path:
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "rb") as f:
            return io.StringIO(f.read().decode("utf-8-sig"), newline="")
    return open(path, encoding="utf-8-sig", newline="")


def read_tsv(path: str) -> Iterator[tuple[int, list[str]]]:
    """Yields (line number, fields) of a tab-separated file, quoting off, blank lines skipped.

    A leading UTF-8 byte-order mark is dropped.

    Raises:
        ValueError: the file is not UTF-8 text (the message names the file and line).
    """
    with _open_text(path) as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            for row in reader:
                if row:
                    yield reader.line_num, row
        except UnicodeDecodeError:
            raise _not_utf8(path) from None


def _not_utf8(path: str) -> ValueError:
    """The error for a file that is not UTF-8, naming its first bad line (read again as bytes)."""
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                return ValueError(
                    f"{path}, line {number}: not UTF-8 text ({e.reason}: "
                    f"{raw[e.start:e.end]!r}); save the file as UTF-8"
                )
    return ValueError(f"{path}: not UTF-8 text; save the file as UTF-8")


def _rows(path: str, layout: TsvLayout) -> Iterator[tuple[int, list[str]]]:
    """Data rows of a task file, each checked to have the file's number of columns."""
    rows = read_tsv(path)
    expected = layout.num_columns
    where = "for this file"
    if layout.header:
        first = next(rows, None)
        if first is None:
            return
        expected = len(first[1])
        where = "as its header"
    needed = max(
        c if c >= 0 else -c - 1
        for c in (layout.text_a, layout.text_b, layout.label, layout.index)
        if c is not None
    )
    if expected is not None and expected <= needed:
        raise ValueError(
            f"{path}: has {expected} columns, the layout reads column {needed + 1}; "
            "is it the right task's file?"
        )
    for line, row in rows:
        if expected is not None and len(row) != expected:
            raise ValueError(
                f"{path}, line {line}: expected {expected} tab-separated columns ({where}), "
                f"found {len(row)}; fix or remove the line (quotes are not special in GLUE files)"
            )
        yield line, row


# ---------------------------------------------------------------------------------------------
# The tasks


def _pair(file: str, a: int, b: int | None, label: int | None = None, index: int | None = None):
    return TsvLayout((file,), text_a=a, text_b=b, label=label, index=index)


def _index_pair_task(name: str, labels: Sequence[str], submission: str) -> GlueProcessor:
    """QNLI, RTE, WNLI: ``index  text_a  text_b  label``; test files lack the label."""
    return GlueProcessor(
        name,
        labels,
        {
            "train": _pair("train.tsv", 1, 2, label=3),
            "dev": _pair("dev.tsv", 1, 2, label=3),
            "test": _pair("test.tsv", 1, 2, index=0),
        },
        predict_sets=(OutputSet("test", submission=submission),),
    )


def _make_processor(name: str, xnli_language: str) -> GlueProcessor:
    if name == "cola":
        headerless = dict(text_a=3, label=1, header=False, num_columns=4)
        return GlueProcessor(
            "cola",
            BINARY_LABELS,
            {
                "train": TsvLayout(("train.tsv",), **headerless),
                "dev": TsvLayout(("dev.tsv",), **headerless),
                "test": _pair("test.tsv", 1, None, index=0),
            },
            metric_names=("mcc",),
            predict_sets=(OutputSet("test", submission="CoLA.tsv"),),
        )
    if name == "sst-2":
        return GlueProcessor(
            "sst-2",
            BINARY_LABELS,
            {
                "train": _pair("train.tsv", 0, None, label=1),
                "dev": _pair("dev.tsv", 0, None, label=1),
                "test": _pair("test.tsv", 1, None, index=0),
            },
            predict_sets=(OutputSet("test", submission="SST-2.tsv"),),
        )
    if name == "mrpc":
        return GlueProcessor(
            "mrpc",
            BINARY_LABELS,
            {
                "train": _pair("train.tsv", 3, 4, label=0),
                "dev": _pair("dev.tsv", 3, 4, label=0),
                "test": _pair("test.tsv", 3, 4, index=0),
            },
            metric_names=("f1",),
            predict_sets=(OutputSet("test", submission="MRPC.tsv"),),
        )
    if name == "sts-b":
        return GlueProcessor(
            "sts-b",
            None,
            {
                "train": _pair("train.tsv", 7, 8, label=9),
                "dev": _pair("dev.tsv", 7, 8, label=9),
                "test": _pair("test.tsv", 7, 8, index=0),
            },
            metric_names=("pearson", "spearman", "corr"),
            predict_sets=(OutputSet("test", submission="STS-B.tsv"),),
        )
    if name == "qqp":
        return GlueProcessor(
            "qqp",
            BINARY_LABELS,
            {
                "train": _pair("train.tsv", 3, 4, label=5),
                "dev": _pair("dev.tsv", 3, 4, label=5),
                "test": _pair("test.tsv", 1, 2, index=0),
            },
            metric_names=("f1",),
            predict_sets=(OutputSet("test", submission="QQP.tsv"),),
        )
    if name == "mnli":
        return GlueProcessor(
            "mnli",
            NLI_LABELS,
            {
                "train": _pair("train.tsv", 8, 9, label=-1),
                "dev_matched": _pair("dev_matched.tsv", 8, 9, label=-1),
                "dev_mismatched": _pair("dev_mismatched.tsv", 8, 9, label=-1),
                "test_matched": _pair("test_matched.tsv", 8, 9, index=0),
                "test_mismatched": _pair("test_mismatched.tsv", 8, 9, index=0),
                "diagnostic": TsvLayout(
                    ("diagnostic.tsv", os.path.join("..", "diagnostic", "diagnostic.tsv")),
                    text_a=1,
                    text_b=2,
                    index=0,
                ),
            },
            eval_sets=(OutputSet("dev_matched"), OutputSet("dev_mismatched", "_mm")),
            predict_sets=(
                OutputSet("test_matched", submission="MNLI-m.tsv"),
                OutputSet("test_mismatched", "_mm", submission="MNLI-mm.tsv"),
                OutputSet("diagnostic", "_ax", submission="AX.tsv", optional=True),
            ),
        )
    if name == "qnli":
        return _index_pair_task("qnli", ENTAILMENT_LABELS, "QNLI.tsv")
    if name == "rte":
        return _index_pair_task("rte", ENTAILMENT_LABELS, "RTE.tsv")
    if name == "wnli":
        return _index_pair_task("wnli", BINARY_LABELS, "WNLI.tsv")
    if name == "xnli":
        language = (0, xnli_language)
        return GlueProcessor(
            "xnli",
            NLI_LABELS,
            {
                "train": TsvLayout(
                    (os.path.join("multinli", f"multinli.train.{xnli_language}.tsv"),),
                    text_a=0,
                    text_b=1,
                    label=2,
                    label_aliases=(("contradictory", "contradiction"),),
                ),
                "dev": TsvLayout(("xnli.dev.tsv",), 6, 7, label=1, language=language),
                "test": TsvLayout(("xnli.test.tsv",), 6, 7, label=1, language=language),
            },
        )
    if name == "chnsenticorp":
        # Chinese sentiment (ChnSentiCorp layout): "label<TAB>text_a" with a header, label 1
        # positive / 0 negative; the test file is "qid<TAB>text_a".
        return GlueProcessor(
            "chnsenticorp",
            BINARY_LABELS,
            {
                "train": _pair("train.tsv", 1, None, label=0),
                "dev": _pair("dev.tsv", 1, None, label=0),
                "test": _pair("test.tsv", 1, None, index=0),
            },
        )
    raise AssertionError(name)


# Canonical names; lookups ignore case, "-" and "_" (so "SST2", "sts_b" and "MNLI" work).
TASK_NAMES = (
    "cola",
    "mnli",
    "mrpc",
    "qnli",
    "qqp",
    "rte",
    "sst-2",
    "sts-b",
    "wnli",
    "xnli",
    "chnsenticorp",
)
_BY_KEY = {name.replace("-", ""): name for name in TASK_NAMES}


def get_processor(task_name: str, xnli_language: str = "zh") -> GlueProcessor:
    """The processor of a task, by name (case, "-" and "_" ignored).

    Args:
        task_name: e.g. "MRPC", "sst-2", "STS-B", "mnli".
        xnli_language: the XNLI language whose rows are read (XNLI only).

    Raises:
        ValueError: the name is not a known task (the message lists them).
    """
    key = (task_name or "").strip().lower().replace("-", "").replace("_", "")
    if key not in _BY_KEY:
        raise ValueError(
            f"--task_name={task_name!r} is not a known task; choose one of "
            f"{', '.join(TASK_NAMES)}"
        )
    return _make_processor(_BY_KEY[key], xnli_language)
