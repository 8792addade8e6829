"""The real pretrained all-MiniLM-L6-v2, loaded through our checkpoint code, does its job."""

import csv

import numpy as np
import pytest
import tensorflow as tf

from conftest import minilm_dir, shared_data
from bert_tf import checkpoints
from bert_tf.tasks.common import InputExample, convert_single_example
from bert_tf.tokenization import FullTokenizer


def _roc_auc(scores, labels):
    """Probability that a random positive outscores a random negative (ties count half)."""
    scores, labels = np.asarray(scores), np.asarray(labels, bool)
    pos, neg = scores[labels], scores[~labels]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return (greater + 0.5 * ties) / (len(pos) * len(neg))


def test_roc_auc_helper_on_hand_cases():
    assert _roc_auc([0.9, 0.8, 0.1], [1, 1, 0]) == 1.0
    assert _roc_auc([0.1, 0.9], [1, 0]) == 0.0
    assert _roc_auc([0.5, 0.5], [1, 0]) == 0.5


@pytest.mark.slow
def test_mean_pooled_embeddings_separate_mrpc_paraphrases(tmp_path):
    dev = shared_data("glue", "MRPC", "dev.tsv")
    folder = minilm_dir()
    model = checkpoints.bert_from_hf(str(folder))
    tokenizer = FullTokenizer(str(folder / "vocab.txt"), do_lower_case=True)
    with open(dev, encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    assert len(rows) == 408
    labels = [int(r[0]) for r in rows]
    sentences = [r[3] for r in rows] + [r[4] for r in rows]
    seq = 64
    feats = [convert_single_example(InputExample(i, s), tokenizer, seq) for i, s in enumerate(sentences)]
    encode = tf.function(lambda x: model(x)["sequence_output"])
    vectors = []
    for start in range(0, len(feats), 64):
        batch = feats[start : start + 64]
        inputs = {k: tf.constant([getattr(f, k) for f in batch]) for k in ("input_ids", "input_mask", "segment_ids")}
        hidden = encode(inputs).numpy()
        mask = inputs["input_mask"].numpy()[..., None]
        vectors.append((hidden * mask).sum(1) / mask.sum(1))  # sentence-transformers' mean pooling
    vectors = np.concatenate(vectors)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = (vectors[: len(rows)] * vectors[len(rows) :]).sum(1)
    auc = _roc_auc(cosine, labels)
    print(f"MRPC dev (408 pairs): ROC-AUC of mean-pooled MiniLM cosine = {auc:.4f}")
    # A similarity model must rank paraphrases above non-paraphrases well above chance (0.5);
    # MRPC negatives share most of their words, so cosine alone does not reach 0.8 here.
    assert auc > 0.7
