"""Metrics against hand-checked cases and the official SQuAD scripts' published numbers."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import shared_data
from bert_tf import metrics


def test_accuracy_f1_mcc_hand_cases():
    preds = [1, 1, 0, 0, 1, 0]
    labels = [1, 0, 0, 1, 1, 0]
    # tp=2 fp=1 fn=1 tn=2
    assert metrics.accuracy(preds, labels) == pytest.approx(4 / 6)
    assert metrics.binary_f1(preds, labels) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert metrics.matthews_corrcoef(preds, labels) == pytest.approx((2 * 2 - 1 * 1) / np.sqrt(3 * 3 * 3 * 3))
    assert metrics.matthews_corrcoef([1, 1, 1], [1, 0, 1]) == 0.0  # a constant predictor
    assert metrics.binary_f1([0, 0], [0, 0]) == 0.0


def test_pearson_spearman_hand_cases():
    x = [1.0, 2.0, 3.0, 4.0]
    assert metrics.pearson(x, [2.0, 4.0, 6.0, 8.0]) == pytest.approx(1.0)
    assert metrics.pearson(x, [4.0, 3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    # Monotone but not linear: Spearman 1, Pearson below 1.
    assert metrics.spearman(x, [1.0, 10.0, 100.0, 1000.0]) == pytest.approx(1.0)
    assert metrics.pearson(x, [1.0, 10.0, 100.0, 1000.0]) < 0.9
    # Ties take the mean rank: ranks of [1, 2, 2, 3] are [1, 2.5, 2.5, 4].
    np.testing.assert_allclose(metrics._average_ranks([1, 2, 2, 3]), [1, 2.5, 2.5, 4])
    expected = np.corrcoef([1, 2.5, 2.5, 4], [1, 2, 3, 4])[0, 1]
    assert metrics.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(expected)


def test_squad_normalisation_and_f1():
    assert metrics.normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert metrics.normalize_answer("an apple a day") == "apple day"
    assert metrics.squad_exact("Denver Broncos", "the denver broncos.") == 1
    # pred "broncos of denver" vs gold "denver broncos": overlap 2, P=2/3, R=1.
    assert metrics.squad_f1("Denver Broncos", "broncos of denver") == pytest.approx(0.8)
    assert metrics.squad_f1("", "") == 1.0 and metrics.squad_f1("", "x") == 0.0


V2_DATA = [{"paragraphs": [{"qas": [
    {"id": "a", "answers": [{"text": "Paris"}]},
    {"id": "b", "answers": []},
    {"id": "c", "answers": [{"text": "blue sky"}]},
    {"id": "d", "answers": []},
]}]}]


def test_squad_v2_hand_case():
    preds = {"a": "Paris", "b": "", "c": "sky", "d": "something"}
    out = metrics.squad_v2_scores(V2_DATA, preds)
    assert list(out)[:3] == ["exact", "f1", "total"]
    assert out["exact"] == pytest.approx(50.0)  # a and b right
    assert out["f1"] == pytest.approx(100 * (1 + 1 + 2 / 3) / 4)
    assert out["HasAns_total"] == 2 and out["NoAns_exact"] == pytest.approx(50.0)
    # With no-answer probabilities: thresholding at 0.5 empties d and c.
    na = {"a": 0.1, "b": 0.9, "c": 0.6, "d": 0.7}
    out = metrics.squad_v2_scores(V2_DATA, preds, na, na_prob_thresh=0.5)
    assert out["exact"] == pytest.approx(75.0)  # a, b, d right; c wrongly empty
    # Sweep by hand: start at 2 (no-answer questions); sorted probs a(+1)=3 best@0.1, c(+2/3 f1),
    # d(-1 since it answered), b(0): best f1 = 3 + 2/3 at 0.6.
    assert out["best_f1"] == pytest.approx(100 * (3 + 2 / 3) / 4)
    assert out["best_f1_thresh"] == 0.6
    assert out["best_exact"] == pytest.approx(75.0) and out["best_exact_thresh"] == 0.1


def test_official_digits_on_googles_ensemble_predictions():
    data = shared_data("squad", "dev-v1.1.json")
    preds = shared_data("squad", "predictions_BERT_ensemble_GoogleAI.json")
    result = subprocess.run(
        [sys.executable, "-m", "bert_tf.squad_evaluate", str(data), str(preds)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"exact_match": 86.20624408703878, "f1": 92.19557978351145}
