"""Every metric, in one place. Metrics are computed as sums over batches and finished at the end,
so that they aggregate exactly across batches and replicas.

Pretraining, as the original's eval ``metric_fn``: ``masked_lm_accuracy`` and ``masked_lm_loss``
weighted by ``masked_lm_weights`` (padding predictions weigh 0), ``next_sentence_accuracy`` and
``next_sentence_loss`` averaged over examples, and ``loss`` the mean of the batches' total loss.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import string

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import files
from bert_tf.heads import masked_lm_example_loss, pretraining_loss


def pretraining_metric_sums(outputs, features) -> dict[str, tf.Tensor]:
    """Per-batch sums from which `finish_pretraining_metrics` computes the original's metrics."""
    weights = tf.reshape(tf.cast(features["masked_lm_weights"], tf.float32), [-1])
    ids = tf.reshape(tf.cast(features["masked_lm_ids"], tf.int32), [-1])
    log_probs = outputs["masked_lm_log_probs"]
    predicted = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
    per_position = masked_lm_example_loss(log_probs, ids)
    labels = tf.reshape(tf.cast(features["next_sentence_labels"], tf.int32), [-1])
    ns_log_probs = outputs["next_sentence_log_probs"]
    ns_predicted = tf.argmax(ns_log_probs, axis=-1, output_type=tf.int32)
    ns_loss = -tf.gather(ns_log_probs, labels, batch_dims=1)
    total_loss, _, _ = pretraining_loss(outputs, features)
    return {
        "masked_lm_correct": tf.reduce_sum(weights * tf.cast(predicted == ids, tf.float32)),
        "masked_lm_loss_sum": tf.reduce_sum(weights * per_position),
        "masked_lm_weight": tf.reduce_sum(weights),
        "next_sentence_correct": tf.reduce_sum(tf.cast(ns_predicted == labels, tf.float32)),
        "next_sentence_loss_sum": tf.reduce_sum(ns_loss),
        "next_sentence_count": tf.cast(tf.size(labels), tf.float32),
        "loss_sum": total_loss,
    }


def finish_pretraining_metrics(sums: dict[str, float]) -> dict[str, float]:
    """The original's eval results from summed counts (see `pretraining_metric_sums`)."""

    def ratio(a, b):
        return sums[a] / sums[b] if sums[b] else 0.0

    return {
        "loss": sums["loss_sum"] / sums["num_batches"] if sums["num_batches"] else 0.0,
        "masked_lm_accuracy": ratio("masked_lm_correct", "masked_lm_weight"),
        "masked_lm_loss": ratio("masked_lm_loss_sum", "masked_lm_weight"),
        "next_sentence_accuracy": ratio("next_sentence_correct", "next_sentence_count"),
        "next_sentence_loss": ratio("next_sentence_loss_sum", "next_sentence_count"),
    }


def write_eval_results(path: str, results: dict) -> None:
    """``key = value`` lines in sorted key order, as the original's eval_results.txt.

    Floats are written as float32, the precision (and the text) the original's metrics had.
    """
    with files.atomic_open(path) as f:
        for key in sorted(results):
            value = results[key]
            if isinstance(value, float):
                value = np.float32(value)
            f.write(f"{key} = {str(value)}\n")


# ---------------------------------------------------------------------------------------------
# GLUE: each task's official metric, from predictions and labels (numpy, exact).


def accuracy(predictions, labels) -> float:
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    return float((predictions == labels).mean()) if len(labels) else 0.0


def binary_f1(predictions, labels, positive=1) -> float:
    """F1 of the positive class (MRPC and QQP's "paraphrase" = 1)."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    tp = float(((predictions == positive) & (labels == positive)).sum())
    fp = float(((predictions == positive) & (labels != positive)).sum())
    fn = float(((predictions != positive) & (labels == positive)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def matthews_corrcoef(predictions, labels) -> float:
    """Matthews correlation for binary labels (CoLA); 0 when a marginal is empty."""
    p, y = np.asarray(predictions) == 1, np.asarray(labels) == 1
    tp, tn = float((p & y).sum()), float((~p & ~y).sum())
    fp, fn = float((p & ~y).sum()), float((~p & y).sum())
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / denominator) if denominator else 0.0


def pearson(x, y) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    xc, yc = x - x.mean(), y - y.mean()
    denominator = np.sqrt((xc * xc).sum() * (yc * yc).sum())
    return float((xc * yc).sum() / denominator) if denominator else 0.0


def _average_ranks(values) -> np.ndarray:
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0  # ties share their mean rank
        start = end + 1
    return ranks


def spearman(x, y) -> float:
    """Spearman rank correlation: Pearson on ranks, ties given their average rank."""
    return pearson(_average_ranks(x), _average_ranks(y))


# ---------------------------------------------------------------------------------------------
# SQuAD: the official v1.1 and v2.0 evaluation definitions.

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop ASCII punctuation and the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _answer_tokens(text: str) -> list[str]:
    return normalize_answer(text).split() if text else []


def squad_exact(gold: str, prediction: str) -> int:
    return int(normalize_answer(gold) == normalize_answer(prediction))


def squad_f1(gold: str, prediction: str, empty_matches_empty: bool = True) -> float:
    """Token-overlap F1 after normalisation.

    With `empty_matches_empty` (v2.0's rule), two empty answers score 1 and an empty against a
    non-empty one scores 0. v1.1 never has empty gold answers.
    """
    gold_tokens, pred_tokens = _answer_tokens(gold), _answer_tokens(prediction)
    if empty_matches_empty and (not gold_tokens or not pred_tokens):
        return float(gold_tokens == pred_tokens)
    overlap = sum((collections.Counter(gold_tokens) & collections.Counter(pred_tokens)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred_tokens), overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _questions(dataset):
    for article in dataset:
        for paragraph in article["paragraphs"]:
            yield from paragraph["qas"]


def squad_v1_scores(dataset, predictions: dict[str, str]) -> dict[str, float]:
    """The official v1.1 metric: {"exact_match", "f1"} in percent over every question.

    A question without a prediction scores 0 (and is logged), as in the official script.
    """
    exact = f1 = 0.0
    total = 0
    for qa in _questions(dataset):
        total += 1
        if qa["id"] not in predictions:
            logging.warning("Unanswered question %s will receive score 0.", qa["id"])
            continue
        golds = [answer["text"] for answer in qa["answers"]]
        prediction = predictions[qa["id"]]
        exact += max(squad_exact(g, prediction) for g in golds)
        f1 += max(squad_f1(g, prediction, empty_matches_empty=False) for g in golds)
    return {"exact_match": 100.0 * exact / total, "f1": 100.0 * f1 / total}


def _score_table(scores, qids):
    total = len(qids)
    return total, 100.0 * sum(scores[q] for q in qids) / total


def squad_v2_scores(
    dataset,
    predictions: dict[str, str],
    na_probs: dict[str, float] | None = None,
    na_prob_thresh: float = 1.0,
) -> dict[str, float]:
    """The official v2.0 metric, keys in its order: exact, f1, total, HasAns_*, NoAns_*, best_*.

    Args:
        dataset: the ``data`` list of a SQuAD JSON file.
        predictions: question id -> answer text ("" for no answer).
        na_probs: question id -> no-answer score; without it every score is 0 and the
            best-threshold entries are omitted.
        na_prob_thresh: a question whose no-answer score exceeds this is predicted empty.
    """
    has_answer = {qa["id"]: bool(qa["answers"]) for qa in _questions(dataset)}
    exact_raw, f1_raw = {}, {}
    for qa in _questions(dataset):
        qid = qa["id"]
        golds = [a["text"] for a in qa["answers"] if normalize_answer(a["text"])] or [""]
        if qid not in predictions:
            logging.warning("Missing prediction for %s", qid)
            continue
        exact_raw[qid] = max(squad_exact(g, predictions[qid]) for g in golds)
        f1_raw[qid] = max(squad_f1(g, predictions[qid]) for g in golds)
    probs = na_probs if na_probs is not None else {k: 0.0 for k in predictions}

    def thresholded(raw):
        return {
            qid: float(not has_answer[qid]) if probs[qid] > na_prob_thresh else score
            for qid, score in raw.items()
        }

    exact, f1 = thresholded(exact_raw), thresholded(f1_raw)
    out = collections.OrderedDict()
    out["exact"] = 100.0 * sum(exact.values()) / len(exact)
    out["f1"] = 100.0 * sum(f1.values()) / len(f1)
    out["total"] = len(exact)
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        qids = [q for q, has in has_answer.items() if has == wanted]
        if qids:
            out[f"{prefix}_exact"] = 100.0 * sum(exact[q] for q in qids) / len(qids)
            out[f"{prefix}_f1"] = 100.0 * sum(f1[q] for q in qids) / len(qids)
            out[f"{prefix}_total"] = len(qids)
    if na_probs is not None:
        for name, raw in (("exact", exact_raw), ("f1", f1_raw)):
            best, threshold = _best_threshold(predictions, raw, na_probs, has_answer)
            out[f"best_{name}"] = best
            out[f"best_{name}_thresh"] = threshold
    return out


def _best_threshold(predictions, raw, na_probs, has_answer):
    """Sweeps the no-answer threshold over the scores, as the official script does."""
    score = best = sum(1 for has in has_answer.values() if not has)
    threshold = 0.0
    for qid in sorted(na_probs, key=lambda q: na_probs[q]):
        if qid not in raw:
            continue
        if has_answer[qid]:
            score += raw[qid]
        elif predictions[qid]:
            score -= 1
        if score > best:
            best, threshold = score, na_probs[qid]
    return 100.0 * best / len(raw), threshold


# ---------------------------------------------------------------------------------------------
# CoNLL named entities: the counting rules of the `conlleval` perl script (version 2004-01-26).
#
# conlleval reads one token per line, the gold tag and the guessed tag in the last two fields.
# A tag is split at its first hyphen into a prefix (B, I, E, S, O, or the bracket tags [ ] .)
# and a type ("" for O). A phrase starts and ends where the prefixes and types say so (the pairs
# below); an I- tag after O or after another type starts a phrase, so IOB1 input is read right.
# A blank line (or a line whose first field is -X-) is a boundary that counts as "O O" but not as
# a token, so a phrase open at a sentence end is closed there. A phrase is correct when both
# sides start it at the same token with the same type and both end it at the same token.

# (previous prefix, current prefix) pairs after which a phrase has ended.
_CHUNK_END = frozenset(
    [("B", t) for t in "BOS"]
    + [("I", t) for t in "BOS"]
    + [("E", t) for t in "EIOSB"]
    + [("S", t) for t in "EIOSB"]
)
# (previous prefix, current prefix) pairs at which a phrase starts.
_CHUNK_START = frozenset(
    [(p, "B") for p in "BIOSE"]
    + [(p, "S") for p in "BIOSE"]
    + [(p, "I") for p in "OSE"]
    + [(p, "E") for p in "SEO"]
)
_CONLL_BOUNDARY = "-X-"


def split_chunk_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``; the type may hold hyphens."""
    prefix, hyphen, kind = tag.partition("-")
    return (prefix, kind) if hyphen else (tag, "")


def _chunk_ended(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    if (prev, tag) in _CHUNK_END or prev in ("[", "]"):
        return True
    return prev not in ("O", ".") and prev_type != kind


def _chunk_started(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    if (prev, tag) in _CHUNK_START or tag in ("[", "]"):
        return True
    return tag not in ("O", ".") and prev_type != kind


@dataclasses.dataclass
class ChunkCounts:
    """conlleval's tallies: tokens, correct tags, and phrases found/guessed/correct per type."""

    tokens: int = 0
    correct_tags: int = 0
    found_correct: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    found_guessed: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    correct_chunks: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def scores(self) -> dict:
        """conlleval's numbers, in percent as it prints them.

        Returns:
            {"accuracy", "precision", "recall", "f1", "types": {type: {"precision", "recall",
            "f1", "found"}}}; a ratio with a zero denominator is 0, as in conlleval. Types are
            every type seen on either side, sorted.
        """
        out = _prf(
            sum(self.correct_chunks.values()),
            sum(self.found_guessed.values()),
            sum(self.found_correct.values()),
        )
        out["accuracy"] = 100.0 * self.correct_tags / self.tokens if self.tokens else 0.0
        out["types"] = {}
        for kind in sorted(set(self.found_correct) | set(self.found_guessed)):
            scores = _prf(
                self.correct_chunks[kind], self.found_guessed[kind], self.found_correct[kind]
            )
            scores["found"] = self.found_guessed[kind]
            out["types"][kind] = scores
        return out

    def report(self) -> str:
        """The text conlleval prints for these counts (overall line, then one line per type)."""
        scores = self.scores()
        lines = [
            (
                f"processed {self.tokens} tokens with {sum(self.found_correct.values())} "
                f"phrases; found: {sum(self.found_guessed.values())} phrases; "
                f"correct: {sum(self.correct_chunks.values())}."
            )
        ]
        if self.tokens:
            lines.append(
                f"accuracy: {scores['accuracy']:6.2f}%; precision: {scores['precision']:6.2f}%; "
                f"recall: {scores['recall']:6.2f}%; FB1: {scores['f1']:6.2f}"
            )
        for kind, s in scores["types"].items():
            lines.append(
                f"{kind:>17}: precision: {s['precision']:6.2f}%; recall: {s['recall']:6.2f}%; "
                f"FB1: {s['f1']:6.2f}  {s['found']}"
            )
        return "\n".join(lines) + "\n"


def _prf(correct: int, guessed: int, gold: int) -> dict:
    precision = 100.0 * correct / guessed if guessed else 0.0
    recall = 100.0 * correct / gold if gold else 0.0
    total = precision + recall
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / total if total else 0.0,
    }


def count_chunks(items) -> ChunkCounts:
    """Runs conlleval's counting over a stream of tokens and sentence boundaries.

    Args:
        items: iterable of ``(gold_tag, guessed_tag)`` for a token, or None for a boundary
            (a blank line in conlleval's input).

    Returns:
        The `ChunkCounts`.
    """
    counts = ChunkCounts()
    last_gold, last_gold_type, last_guess, last_guess_type = "O", "", "O", ""
    matching = False  # Both sides are inside the same phrase, so far identical.
    for item in items:
        boundary = item is None
        gold, gold_type = split_chunk_tag("O" if boundary else item[0])
        guess, guess_type = split_chunk_tag("O" if boundary else item[1])
        if matching:
            gold_ended = _chunk_ended(last_gold, last_gold_type, gold, gold_type)
            guess_ended = _chunk_ended(last_guess, last_guess_type, guess, guess_type)
            if gold_ended and guess_ended and last_gold_type == last_guess_type:
                matching = False
                counts.correct_chunks[last_gold_type] += 1
            elif gold_ended != guess_ended or gold_type != guess_type:
                matching = False
        gold_started = _chunk_started(last_gold, last_gold_type, gold, gold_type)
        guess_started = _chunk_started(last_guess, last_guess_type, guess, guess_type)
        if gold_started and guess_started and gold_type == guess_type:
            matching = True
        if gold_started:
            counts.found_correct[gold_type] += 1
        if guess_started:
            counts.found_guessed[guess_type] += 1
        if not boundary:
            counts.tokens += 1
            counts.correct_tags += int(gold == guess and gold_type == guess_type)
        last_gold, last_gold_type, last_guess, last_guess_type = gold, gold_type, guess, guess_type
    if matching:
        counts.correct_chunks[last_gold_type] += 1
    return counts


def conlleval_sentences(sentences) -> ChunkCounts:
    """conlleval over sentences, each a sequence of ``(gold_tag, guessed_tag)`` pairs.

    The same as conlleval on a file with a blank line after each sentence.
    """

    def items():
        for sentence in sentences:
            yield from sentence
            yield None

    return count_chunks(items())


def conlleval_lines(lines, source: str = "input") -> ChunkCounts:
    """conlleval over the lines of its input format: fields split on whitespace, the gold and
    the guessed tag last; blank lines and lines starting with -X- are boundaries.

    Raises:
        ValueError: a line has fewer than two fields, or a different number of fields than the
            first line (conlleval stops there too), naming the line.
    """
    width = None

    def items():
        nonlocal width
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields or fields[0] == _CONLL_BOUNDARY:
                yield None
                continue
            if width is None:
                width = len(fields)
            if len(fields) != width or width < 2:
                raise ValueError(
                    f"{source}, line {number}: {len(fields)} fields, expected {width} "
                    "(token ... gold_tag guessed_tag)"
                )
            yield fields[-2], fields[-1]

    return count_chunks(items())


def ner_eval_results(counts: ChunkCounts, prefix: str = "eval_") -> dict[str, float]:
    """Flat ``eval_results.txt`` entries: conlleval's overall and per-type numbers (percent).

    Keys: ``eval_precision``, ``eval_recall``, ``eval_f1``, ``eval_accuracy`` and, per entity
    type, ``eval_<TYPE>_precision``, ``eval_<TYPE>_recall``, ``eval_<TYPE>_f1``.
    """
    scores = counts.scores()
    out = {f"{prefix}{k}": scores[k] for k in ("precision", "recall", "f1", "accuracy")}
    for kind, values in scores["types"].items():
        for name in ("precision", "recall", "f1"):
            out[f"{prefix}{kind}_{name}"] = values[name]
    return out
