"""Every metric, in one place. Metrics are computed as sums over batches and finished at the end,
so that they aggregate exactly across batches and replicas.

Pretraining, as the original's eval ``metric_fn``: ``masked_lm_accuracy`` and ``masked_lm_loss``
weighted by ``masked_lm_weights`` (padding predictions weigh 0), ``next_sentence_accuracy`` and
``next_sentence_loss`` averaged over examples, and ``loss`` the mean of the batches' total loss.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

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
    with tf.io.gfile.GFile(path, "w") as f:
        for key in sorted(results):
            value = results[key]
            if isinstance(value, float):
                value = np.float32(value)
            f.write(f"{key} = {value}\n")
