"""run_squad.py end to end on a tiny model and real SQuAD articles, in subprocesses.

Each run is a fresh process, as a user runs the script (and so its absl flags never meet the
other scripts' flags in the pytest process).
"""

import json
import os
import random
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf

import numpy_bert
from bert_tf import metrics, squad_evaluate, tokenization
from bert_tf.tasks import squad
from conftest import REPO, shared_data, write_tf1_checkpoint

SEQ, STRIDE, QUERY = 96, 32, 24
CONFIG = {
    "vocab_size": 30522,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 128,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
}


def first_answers_only(data):
    """A training copy of dev articles: the original trains on exactly one answer a question."""
    data = json.loads(json.dumps(data))
    for article in data:
        for paragraph in article["paragraphs"]:
            for item in paragraph["qas"]:
                del item["answers"][1:]
    return data


def as_v2(data):
    """Makes every third question unanswerable, as SQuAD v2.0 marks them."""
    data = first_answers_only(data)
    count = 0
    for article in data:
        for paragraph in article["paragraphs"]:
            for item in paragraph["qas"]:
                count += 1
                item["is_impossible"] = count % 3 == 0
                if item["is_impossible"]:
                    item["plausible_answers"], item["answers"] = item["answers"], []
    return data


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("squad")
    vocab = shared_data("vocab", "bert-base-uncased-vocab.txt")
    dev = json.loads(shared_data("squad", "dev-v1.1.json").read_text(encoding="utf-8"))
    # Two articles, a few paragraphs each: long contexts that need several windows.
    articles = [dict(a, paragraphs=a["paragraphs"][:4]) for a in dev["data"][:2]]
    google = root / "google"
    google.mkdir()
    (google / "bert_config.json").write_text(json.dumps(CONFIG))
    shutil.copy(vocab, google / "vocab.txt")
    write_tf1_checkpoint(
        numpy_bert.random_weights(CONFIG, seed=7, scale=0.05), str(google / "bert_model.ckpt")
    )
    files = {
        "dev": {"version": "1.1", "data": articles},
        "train": {"version": "1.1", "data": first_answers_only(articles)},
        "dev_v2": {"version": "v2.0", "data": as_v2(articles)},
    }
    for name, content in files.items():
        (root / f"{name}.json").write_text(json.dumps(content))
    return root


def run_squad(setup, output_dir, *extra, expect_ok=True):
    google = setup / "google"
    command = [
        sys.executable,
        str(REPO / "run_squad.py"),
        f"--vocab_file={google / 'vocab.txt'}",
        f"--bert_config_file={google / 'bert_config.json'}",
        f"--output_dir={output_dir}",
        f"--max_seq_length={SEQ}",
        f"--doc_stride={STRIDE}",
        f"--max_query_length={QUERY}",
        "--train_batch_size=8",
        "--predict_batch_size=16",
        "--learning_rate=1e-3",
        "--num_train_epochs=1",
        "--save_checkpoints_steps=5",
        "--iterations_per_loop=5",
        "--log_every_steps=5",
        "--random_seed=3",
        *extra,
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, check=False
    )
    if expect_ok:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def assert_eval_results(path, results):
    """eval_results.txt holds `results` as the shared writer writes them."""
    expected = path.parent / "expected_eval_results.txt"
    metrics.write_eval_results(str(expected), results)
    assert path.read_text() == expected.read_text()
    for line in path.read_text().splitlines():
        key, value = line.split(" = ")
        assert float(value) == pytest.approx(results[key], rel=1e-6)


def read_records(path):
    return [
        tf.train.Example.FromString(r.numpy()).features.feature
        for r in tf.data.TFRecordDataset([str(path)])
    ]


def test_train_predict_score_and_resume(setup):
    out = setup / "out_v1"
    done = run_squad(
        setup,
        out,
        "--do_train",
        "--do_predict",
        f"--init_checkpoint={setup / 'google' / 'bert_model.ckpt'}",
        f"--train_file={setup / 'train.json'}",
        f"--predict_file={setup / 'dev.json'}",
    )
    tokenizer = tokenization.FullTokenizer(str(setup / "google" / "vocab.txt"))

    # Training records: the examples shuffled with random.Random(12345), then windowed.
    train_examples = squad.read_squad_examples(str(setup / "train.json"), is_training=True)
    num_steps = int(len(train_examples) / 8 * 1)
    random.Random(12345).shuffle(train_examples)
    expected = list(
        squad.generate_features(
            train_examples, tokenizer, SEQ, STRIDE, QUERY, True, num_logged_examples=0
        )
    )
    stored = read_records(out / "train.tf_record")
    assert len(stored) == len(expected) > len(train_examples)
    assert f"Num split examples = {len(expected)}" in done.stderr
    for feature, record in zip(expected, stored):
        assert record["unique_ids"].int64_list.value == [feature.unique_id]
        assert record["input_ids"].int64_list.value == feature.input_ids
        assert record["segment_ids"].int64_list.value == feature.segment_ids
        assert record["start_positions"].int64_list.value == [feature.start_position]
        assert record["end_positions"].int64_list.value == [feature.end_position]
        assert record["is_impossible"].int64_list.value == [0]

    # Checkpoints in Google's names, with the SQuAD head.
    assert tf.train.latest_checkpoint(str(out)).endswith(f"model.ckpt-{num_steps}")
    shapes = dict(tf.train.list_variables(str(out / f"model.ckpt-{num_steps}")))
    assert shapes["cls/squad/output_weights"] == [2, 32]
    assert shapes["cls/squad/output_bias"] == [2]

    # Prediction files, in the original's layout.
    dev = json.loads((setup / "dev.json").read_text())
    question_ids = [q["id"] for a in dev["data"] for p in a["paragraphs"] for q in p["qas"]]
    text = (out / "predictions.json").read_text()
    predictions = json.loads(text)
    assert list(predictions) == question_ids
    assert text == json.dumps(predictions, indent=4) + "\n"
    nbest = json.loads((out / "nbest_predictions.json").read_text())
    assert list(nbest) == question_ids
    for qid, entries in nbest.items():
        assert 1 <= len(entries) <= 20
        assert entries[0]["text"] == predictions[qid]
        assert [list(e) for e in entries] == [
            ["text", "probability", "start_logit", "end_logit"]
        ] * len(entries)
        assert sum(e["probability"] for e in entries) == pytest.approx(1.0)
    assert not (out / "null_odds.json").exists()
    predict_records = read_records(out / "eval.tf_record")
    assert sorted(predict_records[0]) == ["input_ids", "input_mask", "segment_ids", "unique_ids"]

    # eval_results.txt: the official v1.1 metric of the written predictions.
    scores = squad_evaluate.evaluate_files(str(setup / "dev.json"), str(out / "predictions.json"))
    assert list(scores) == ["exact_match", "f1"]
    assert_eval_results(out / "eval_results.txt", scores)
    assert scores == metrics.squad_v1_scores(dev["data"], predictions)

    # Predicting again from the same output_dir restores the fine-tuned checkpoint and gives
    # the same answers.
    first = {name: (out / name).read_text() for name in ("predictions.json", "eval_results.txt")}
    run_squad(setup, out, "--do_predict", f"--predict_file={setup / 'dev.json'}")
    assert {name: (out / name).read_text() for name in first} == first


def test_v2_train_and_predict_with_null_odds(setup):
    out = setup / "out_v2"
    run_squad(
        setup,
        out,
        "--do_train",
        "--do_predict",
        "--version_2_with_negative",
        "--num_train_epochs=0.5",
        f"--init_checkpoint={setup / 'google' / 'bert_model.ckpt'}",
        f"--train_file={setup / 'dev_v2.json'}",
        f"--predict_file={setup / 'dev_v2.json'}",
    )
    stored = read_records(out / "train.tf_record")
    impossible = [r for r in stored if r["is_impossible"].int64_list.value == [1]]
    assert impossible and all(
        r["start_positions"].int64_list.value == r["end_positions"].int64_list.value == [0]
        for r in impossible
    )
    predictions = json.loads((out / "predictions.json").read_text())
    null_odds = json.loads((out / "null_odds.json").read_text())
    assert list(null_odds) == list(predictions)
    for qid, answer in predictions.items():
        assert (answer == "") == (null_odds[qid] > 0.0)
    scores = squad_evaluate.evaluate_files(
        str(setup / "dev_v2.json"), str(out / "predictions.json"), str(out / "null_odds.json")
    )
    assert {"exact", "f1", "HasAns_exact", "NoAns_exact", "best_f1_thresh"} <= set(scores)
    assert_eval_results(out / "eval_results.txt", scores)


def test_flag_errors_are_one_line_messages(setup, tmp_path):
    done = run_squad(setup, tmp_path / "a", expect_ok=False)
    assert done.returncode == 1
    assert "error: At least one of --do_train or --do_predict must be True." in done.stderr
    done = run_squad(
        setup,
        tmp_path / "b",
        "--do_predict",
        f"--predict_file={setup / 'dev.json'}",
        "--max_query_length=93",
        expect_ok=False,
    )
    assert done.returncode == 1
    assert "--max_seq_length=96 must be greater than --max_query_length (93) + 3" in done.stderr
