"""SWAG multiple choice: CSV files -> examples -> one packed sequence per candidate ending.

SWAG's files (``train.csv``, ``val.csv``, ``test.csv``) are comma-separated with a header:
an unnamed index column, ``video-id``, ``fold-ind``, ``startphrase``, ``sent1``, ``sent2``,
``gold-source``, ``ending0`` .. ``ending3`` and, except in the test file, ``label`` (the index of
the right ending). ``startphrase`` is ``sent1`` followed by ``sent2``, the start of the sentence
that an ending completes.

Each candidate is laid out as ``[CLS] sent1 [SEP] sent2 ending_i [SEP]``: the context is text A,
the second sentence's start with the ending is text B (the layout of the BERT paper's SWAG
model). A file without ``sent1``/``sent2`` columns uses ``startphrase`` as text A and the bare
ending as text B. Pairs that are too long lose tokens from the end of the longer text, as every
BERT pair task does.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence

import tensorflow as tf
from absl import logging

from bert_tf import files
from bert_tf.tasks.common import pack_tokens

SPLIT_FILES = {"train": ("train.csv",), "dev": ("val.csv", "dev.csv"), "test": ("test.csv",)}


@dataclasses.dataclass
class SwagExample:
    """One context with its candidate endings; `label` is None in an unlabelled file."""

    example_id: str
    context: str
    start_ending: str
    endings: list[str]
    label: int | None = None


@dataclasses.dataclass
class MultipleChoiceFeatures:
    """Every candidate's tokens, padded to ``max_seq_length`` (lists of lists, one per choice)."""

    input_ids: list[list[int]]
    input_mask: list[list[int]]
    segment_ids: list[list[int]]
    label_id: int
    tokens: list[list[str]]

    def values(self) -> dict[str, list[int]]:
        """The record values (see `bert_tf.records.MULTIPLE_CHOICE_FEATURES`), choices flattened."""
        return {
            "input_ids": [i for choice in self.input_ids for i in choice],
            "input_mask": [i for choice in self.input_mask for i in choice],
            "segment_ids": [i for choice in self.segment_ids for i in choice],
            "label_ids": [self.label_id],
            "is_real_example": [1],
        }


def find_file(data_dir: str, split: str) -> str | None:
    """The file of `split` ("train", "dev", "test") in `data_dir`, or None."""
    for name in SPLIT_FILES[split]:
        path = f"{data_dir.rstrip('/')}/{name}"
        if tf.io.gfile.exists(path):
            return path
    return None


def check_data_dir(data_dir: str, splits: Sequence[str]) -> None:
    """Fails early, naming the folder and the files looked for, when a needed split is missing."""
    if not tf.io.gfile.isdir(data_dir):
        raise FileNotFoundError(f"--data_dir: no such folder: {data_dir}")
    for split in splits:
        if find_file(data_dir, split) is None:
            raise FileNotFoundError(
                f"--data_dir={data_dir} lacks the {split} file (one of "
                f"{', '.join(SPLIT_FILES[split])})"
            )


def read_swag(path: str, require_label: bool) -> list[SwagExample]:
    """Reads a SWAG CSV file (see the module docstring).

    Args:
        path: the file.
        require_label: whether every row must have a ``label`` (training and evaluation).

    Returns:
        The examples in file order; `example_id` is the unnamed first column when the header
        starts with one, else the row's position.

    Raises:
        ValueError: naming the file (and line): no ``ending0`` column, no ``sent1`` or
            ``startphrase`` column, a missing ``label`` when `require_label`, a label that is
            not the index of an ending, or no row at all.
    """
    with tf.io.gfile.GFile(path, "rb") as f:
        text = f.read().decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    num_endings = 0
    while f"ending{num_endings}" in header:
        num_endings += 1
    if num_endings < 2:
        raise ValueError(f"{path}: the header has no ending0, ending1 columns (found {header})")
    has_sentences = "sent1" in header
    if not has_sentences and "startphrase" not in header:
        raise ValueError(f"{path}: the header has neither sent1 nor startphrase (found {header})")
    if require_label and "label" not in header:
        raise ValueError(f"{path}: no label column; training and evaluation need the labels")
    examples = []
    for row in reader:
        line = reader.line_num
        if None in row or any(row[name] is None for name in header):
            raise ValueError(f"{path}, line {line}: expected {len(header)} fields as the header")
        label = None
        if "label" in header and row["label"].strip():
            value = row["label"].strip()
            if not value.isdigit() or int(value) >= num_endings:
                raise ValueError(
                    f"{path}, line {line}: label {value!r} is not an ending index 0..{num_endings - 1}"
                )
            label = int(value)
        elif require_label:
            raise ValueError(f"{path}, line {line}: the label is empty")
        if has_sentences:
            context, start = row["sent1"], row.get("sent2") or ""
        else:
            context, start = row["startphrase"], ""
        example_id = row[header[0]] if header[0] == "" else str(len(examples))
        examples.append(
            SwagExample(
                example_id=example_id,
                context=context,
                start_ending=start,
                endings=[row[f"ending{i}"] for i in range(num_endings)],
                label=label,
            )
        )
    if not examples:
        raise ValueError(f"{path} holds no example (only a header?)")
    return examples


def convert_examples(
    examples: Sequence[SwagExample], tokenizer, max_seq_length: int, log_first: int = 3
) -> list[MultipleChoiceFeatures]:
    """Packs each candidate as ``[CLS] context [SEP] start ending [SEP]`` and zero-pads it."""
    features = []
    truncated = 0
    for index, example in enumerate(examples):
        context = tokenizer.tokenize(example.context)
        start = tokenizer.tokenize(example.start_ending)
        ids, masks, segments, all_tokens = [], [], [], []
        for ending in example.endings:
            ending_tokens = start + tokenizer.tokenize(ending)
            tokens, segment_ids = pack_tokens(context, ending_tokens, max_seq_length)
            truncated += len(context) + len(ending_tokens) + 3 > max_seq_length
            input_ids = tokenizer.convert_tokens_to_ids(tokens)
            padding = max_seq_length - len(input_ids)
            ids.append(input_ids + [0] * padding)
            masks.append([1] * len(input_ids) + [0] * padding)
            segments.append(segment_ids + [0] * padding)
            all_tokens.append(tokens)
        feature = MultipleChoiceFeatures(
            ids, masks, segments, example.label if example.label is not None else 0, all_tokens
        )
        if index < log_first:
            logging.info("*** Example ***")
            logging.info("id: %s", example.example_id)
            for i, tokens in enumerate(all_tokens):
                logging.info("choice %d: %s", i, " ".join(tokens))
            logging.info("label: %s", example.label)
        features.append(feature)
    if truncated:
        logging.info(
            "%d of %d candidates were truncated to %d tokens",
            truncated,
            sum(len(e.endings) for e in examples),
            max_seq_length,
        )
    return features


def write_predictions(path: str, examples: Sequence[SwagExample], probabilities) -> None:
    """Writes ``predictions.csv``: ``id``, the predicted ending ``label``, each ending's probability.

    Header: ``id,label,probability0,...``; one row per example, in file order.
    """
    with files.atomic_open(path) as f:
        writer = csv.writer(f, lineterminator="\n")
        num = len(examples[0].endings) if examples else 0
        writer.writerow(["id", "label"] + [f"probability{i}" for i in range(num)])
        for example, probs in zip(examples, probabilities):
            writer.writerow(
                [example.example_id, int(probs.argmax())] + [f"{float(p):.6f}" for p in probs]
            )
