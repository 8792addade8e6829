"""Texts longer than max_seq_length: overlapping windows in, one prediction per text out.

run_classifier.py ``--doc_stride=N`` turns a text whose WordPieces do not fit into
``max_seq_length`` into several features instead of truncating it, with the windows of
run_squad.py (`squad.doc_spans_for`): each holds as many WordPieces as fit, consecutive
windows start N WordPieces apart (N at most the window's length, so no token is skipped), and
the last one ends at the text's last WordPiece.

* A single text: ``[CLS] window [SEP]``, windows of ``max_seq_length - 2`` WordPieces.
* A pair that does not fit (``len(A) + len(B) > max_seq_length - 3``): the longer text is
  windowed (text B on a tie, as pair truncation cuts B on a tie) and the shorter one is kept
  whole in every window, in its own place (A stays segment 0), cut to its first
  ``(max_seq_length - 3) // 2`` WordPieces if it is itself that long, so that the windows keep
  at least half the room.
* A text (or pair) that fits is packed exactly as without windows: one feature, the same ids.

Training uses every window with its text's label. For evaluation and prediction the windows'
logits are combined per text (`pool_windows`: their mean or their maximum), and the
probabilities are the softmax of the combined logits, so every metric and output file is per
text, as without windows; a text of one window keeps its model outputs bit for bit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from absl import logging

from bert_tf.tasks.common import InputExample, InputFeatures, features_from_tokens, log_features
from bert_tf.tasks.squad import DocSpan, doc_spans_for

WINDOW_POOLINGS = ("mean", "max")


@dataclasses.dataclass
class Windows:
    """The features of a list of examples, several per long example.

    Attributes:
        features: All windows, the windows of one example consecutive, in example order.
        doc_index: int array [len(features)]: the example each window comes from.
        num_docs: The number of examples.
    """

    features: list[InputFeatures]
    doc_index: np.ndarray
    num_docs: int


def window_spans(num_tokens: int, room: int, doc_stride: int) -> list[DocSpan]:
    """run_squad.py's windows over `num_tokens` WordPieces; one empty window for no tokens."""
    return doc_spans_for(num_tokens, room, doc_stride) or [DocSpan(start=0, length=0)]


def example_windows(
    tokens_a: list[str],
    tokens_b: list[str] | None,
    tokenizer,
    max_seq_length: int,
    doc_stride: int,
    label_id: float = 0,
) -> list[InputFeatures]:
    """The features of one example's windows (see the module docstring for the rule).

    Args:
        tokens_a: Text A's WordPieces.
        tokens_b: Text B's WordPieces; None or empty for a single text.
        tokenizer: A `FullTokenizer` (for the ids).
        max_seq_length: Positions per feature, special tokens included.
        doc_stride: WordPieces between the starts of consecutive windows.
        label_id: The example's label id (every window gets it).
    """
    if not tokens_b:
        spans = window_spans(len(tokens_a), max_seq_length - 2, doc_stride)
        return [
            features_from_tokens(
                tokens_a[s.start : s.start + s.length], None, tokenizer, max_seq_length, label_id
            )
            for s in spans
        ]
    room = max_seq_length - 3
    if len(tokens_a) + len(tokens_b) <= room:
        return [features_from_tokens(tokens_a, tokens_b, tokenizer, max_seq_length, label_id)]
    window_b = len(tokens_b) >= len(tokens_a)
    longer, shorter = (tokens_b, tokens_a) if window_b else (tokens_a, tokens_b)
    shorter = shorter[: room // 2]
    features = []
    for span in window_spans(len(longer), room - len(shorter), doc_stride):
        piece = longer[span.start : span.start + span.length]
        a, b = (shorter, piece) if window_b else (piece, shorter)
        features.append(features_from_tokens(a, b, tokenizer, max_seq_length, label_id))
    return features


def convert_examples_to_windows(
    examples: Sequence[InputExample],
    processor,
    max_seq_length: int,
    tokenizer,
    doc_stride: int,
    log_first: int = 5,
) -> Windows:
    """Tokenizes real examples and cuts each into windows (one when it fits).

    Args:
        examples: Real examples (no padding).
        processor: The task's `glue.GlueProcessor` (for the label ids).
        max_seq_length: Positions per feature.
        tokenizer: A `FullTokenizer`.
        doc_stride: WordPieces between the starts of consecutive windows (at least 1).
        log_first: The windows of this many first examples are logged.

    Returns:
        `Windows`.
    """
    if doc_stride < 1:
        raise ValueError(f"--doc_stride must be at least 1 to cut windows, got {doc_stride}")
    features, doc_index = [], []
    for index, example in enumerate(examples):
        tokens_a = tokenizer.tokenize(example.text_a)
        tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
        windows = example_windows(
            tokens_a, tokens_b, tokenizer, max_seq_length, doc_stride, processor.label_id(example)
        )
        if index < log_first:
            for feature in windows:
                log_features(example, feature)
            logging.info("label: %s, %d window(s)", example.label, len(windows))
        features.extend(windows)
        doc_index.extend([index] * len(windows))
    long_docs = int(np.count_nonzero(np.bincount(doc_index, minlength=len(examples)) > 1))
    logging.info(
        "%d examples -> %d windows (%d examples longer than one window)",
        len(examples),
        len(features),
        long_docs,
    )
    return Windows(features, np.asarray(doc_index, np.int64), len(examples))


def pool_windows(
    values: np.ndarray, doc_index: np.ndarray, num_docs: int, pooling: str
) -> np.ndarray:
    """Combines per-window rows into per-document rows.

    Args:
        values: [num_windows, ...] (e.g. logits).
        doc_index: [num_windows] the document of each window.
        num_docs: Documents; every one must have at least one window.
        pooling: ``mean`` or ``max`` over a document's windows.

    Returns:
        [num_docs, ...] in the dtype of `values` (a mean is summed in float64).
    """
    if pooling not in WINDOW_POOLINGS:
        raise ValueError(f"window pooling {pooling!r} is not one of {', '.join(WINDOW_POOLINGS)}")
    values = np.asarray(values)
    doc_index = np.asarray(doc_index)
    counts = np.bincount(doc_index, minlength=num_docs)
    if len(counts) != num_docs or not counts.all():
        raise ValueError(f"every one of the {num_docs} documents needs a window: {counts.tolist()}")
    shape = (num_docs,) + values.shape[1:]
    if pooling == "max":
        pooled = np.full(shape, -np.inf, np.float64)
        np.maximum.at(pooled, doc_index, values)
    else:
        pooled = np.zeros(shape, np.float64)
        np.add.at(pooled, doc_index, values)
        pooled /= counts.reshape((-1,) + (1,) * (values.ndim - 1))
    return pooled.astype(values.dtype)


def document_outputs(
    outputs: dict, windows: Windows, pooling: str, regression: bool
) -> dict[str, np.ndarray]:
    """The classifier's outputs per document from its outputs per window.

    Args:
        outputs: ``logits`` and ``probabilities`` (or ``predictions`` for a regression), each
            [num_windows, ...] in the order of `windows.features`.
        windows: From `convert_examples_to_windows`.
        pooling: How logits combine (`pool_windows`).
        regression: STS-B: the prediction is the combined one-value logit.

    Returns:
        ``logits`` and ``probabilities`` (softmax of the combined logits) or ``predictions``,
        [num_docs, ...]; a document of one window keeps its window's outputs unchanged.
    """
    logits = pool_windows(outputs["logits"], windows.doc_index, windows.num_docs, pooling)
    if regression:
        return {"logits": logits, "predictions": logits[:, 0]}
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    probabilities = (np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)).astype(
        np.asarray(outputs["probabilities"]).dtype
    )
    counts = np.bincount(windows.doc_index, minlength=windows.num_docs)
    first = np.searchsorted(windows.doc_index, np.arange(windows.num_docs))
    single = counts == 1
    probabilities[single] = np.asarray(outputs["probabilities"])[first[single]]
    return {"logits": logits, "probabilities": probabilities}
