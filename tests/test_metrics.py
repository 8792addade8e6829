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


# ---------------------------------------------------------------------------------------------
# conlleval. Each expected count below was worked out by hand from conlleval's rules (a phrase
# starts at B-, at I- after O or another type, and at a sentence start; it ends before B-, O,
# another type, or a sentence end) and is noted beside the case.


def _conll(*sentences):
    """sentences of (gold, guess) tag strings, space separated -> ChunkCounts."""
    return metrics.conlleval_sentences(
        list(zip(gold.split(), guess.split())) for gold, guess in sentences
    )


def _totals(counts):
    return (
        counts.tokens,
        sum(counts.found_correct.values()),
        sum(counts.found_guessed.values()),
        sum(counts.correct_chunks.values()),
    )


def test_conlleval_i_without_b_starts_a_phrase():
    # Gold I-PER I-PER is one PER phrase (I- after the sentence start opens it), the same
    # phrase as the guess's B-PER I-PER; the tags differ on token 1, so accuracy is 2/3.
    counts = _conll(("I-PER I-PER O", "B-PER I-PER O"))
    assert _totals(counts) == (3, 1, 1, 1)
    scores = counts.scores()
    assert scores["f1"] == 100.0 and scores["accuracy"] == pytest.approx(200 / 3)
    # I- after O opens a phrase too: gold has LOC at 1-2, the guess LOC at 1 and LOC at 2.
    assert _totals(_conll(("O I-LOC I-LOC", "O B-LOC B-LOC"))) == (3, 1, 2, 0)


def test_conlleval_type_change_inside_a_run():
    # Gold: PER (0-1), ORG (2) since I-ORG after I-PER opens a new phrase. Guess: PER (0-2).
    # The guess's PER does not end where gold's does: no correct phrase.
    counts = _conll(("B-PER I-PER I-ORG O", "B-PER I-PER I-PER O"))
    assert _totals(counts) == (4, 2, 1, 0)
    assert dict(counts.found_correct) == {"PER": 1, "ORG": 1}
    # Both sides change type at the same token: two correct phrases.
    assert _totals(_conll(("B-PER I-ORG", "B-PER I-ORG"))) == (2, 2, 2, 2)


def test_conlleval_phrases_end_at_sentence_ends():
    # A phrase open at the end of a sentence closes there, and I-LOC at the next sentence's
    # start is a new phrase: 2 LOC phrases on each side, both correct.
    counts = _conll(("O B-LOC", "O B-LOC"), ("I-LOC O", "I-LOC O"))
    assert _totals(counts) == (4, 2, 2, 2)
    # The last token of the input is an entity on both sides: counted at the end.
    assert _totals(_conll(("O B-MISC I-MISC", "O B-MISC I-MISC"))) == (3, 1, 1, 1)
    # Gold's phrase runs to the end, the guess stops one token early: not correct.
    assert _totals(_conll(("B-ORG I-ORG", "B-ORG O"))) == (2, 1, 1, 0)
    # Without the sentence break the two I-LOC would be one phrase (the same as one sentence).
    assert _totals(_conll(("O B-LOC I-LOC O", "O B-LOC I-LOC O"))) == (4, 1, 1, 1)


def test_conlleval_reads_iob1_gold_against_bio_guesses():
    # IOB1: I-ORG I-ORG is one phrase, B-ORG right after it a second one of the same type.
    counts = _conll(("I-ORG I-ORG B-ORG O I-PER", "B-ORG I-ORG B-ORG O B-PER"))
    assert _totals(counts) == (5, 3, 3, 3)
    assert counts.scores()["f1"] == 100.0


def test_conlleval_scores_per_type_and_report():
    # Gold: PER(0-1) LOC(3) ORG(5). Guess: PER(0-1) LOC(3-4) MISC(5).
    # Correct: PER only. Overall P = 1/3, R = 1/3; per type: PER 1/1, LOC 0/1, ORG 0 found,
    # MISC 0 in gold. Tags right: 0 1 2 3 (4 of 6).
    counts = _conll(("B-PER I-PER O B-LOC O B-ORG", "B-PER I-PER O B-LOC I-LOC B-MISC"))
    scores = counts.scores()
    assert scores["precision"] == pytest.approx(100 / 3)
    assert scores["recall"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 / 3)
    assert list(scores["types"]) == ["LOC", "MISC", "ORG", "PER"]
    assert scores["types"]["PER"] == {"precision": 100.0, "recall": 100.0, "f1": 100.0, "found": 1}
    assert scores["types"]["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "found": 0}
    # conlleval's text, as the perl script prints it for this input.
    assert counts.report() == (
        "processed 6 tokens with 3 phrases; found: 3 phrases; correct: 1.\n"
        "accuracy:  66.67%; precision:  33.33%; recall:  33.33%; FB1:  33.33\n"
        "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
        "             MISC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
        "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  0\n"
        "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n"
    )
    flat = metrics.ner_eval_results(counts)
    assert flat["eval_f1"] == pytest.approx(100 / 3) and flat["eval_PER_f1"] == 100.0
    assert flat["eval_accuracy"] == pytest.approx(400 / 6)


def test_conlleval_lines_match_sentences_and_check_fields():
    lines = [
        "Peter NNP B-PER B-PER",
        "Blackburn NNP I-PER I-PER",
        "",
        "-X- -X- O O",
        "BRUSSELS NNP I-LOC B-LOC",
        "",
    ]
    assert _totals(metrics.conlleval_lines(lines)) == (3, 2, 2, 2)
    with pytest.raises(ValueError, match="line 2: 3 fields, expected 4"):
        metrics.conlleval_lines(["a B C D", "b C D"])
    assert metrics.split_chunk_tag("B-SOME-TYPE") == ("B", "SOME-TYPE")
