"""A classifier exported with --doc_stride windows long texts in the graph exactly as
run_classifier.py does in Python (`bert_tf.tasks.windows`), and serves per-text predictions."""

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver
from conftest import fine_tuning_flags, write_google_folder

import run_classifier
from bert_tf import export
from bert_tf.tasks import windows
from bert_tf.tokenization import FullTokenizer

FLAGS = flags.FLAGS
WORDS = [f"w{i}" for i in range(40)]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS]
CLS, SEP = 2, 3


def _ids(lengths, rng):
    return [list(rng.integers(4, len(VOCAB), size=n)) for n in lengths]


@pytest.mark.parametrize("seq, stride", [(12, 4), (16, 3), (9, 50)])
def test_graph_windows_equal_the_python_windows(tmp_path, seq, stride):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    tokenizer = FullTokenizer(str(vocab))
    rng = np.random.default_rng(seq)
    # Singles (B empty) and pairs: fitting, B longer, A longer, a tie, both long, A empty.
    lengths = [(0, 0), (5, 0), (40, 0), (3, 4), (2, 30), (30, 2), (20, 20), (25, 33), (0, 31)]
    ids_a = _ids([a for a, _ in lengths], rng)
    ids_b = _ids([b for _, b in lengths], rng)
    features, row, count = export.window_features(
        tf.ragged.constant(ids_a, tf.int32, row_splits_dtype=tf.int64),
        tf.ragged.constant(ids_b, tf.int32, row_splits_dtype=tf.int64),
        seq,
        stride,
        CLS,
        SEP,
    )
    expected, expected_rows = [], []
    for index, (a, b) in enumerate(zip(ids_a, ids_b)):
        tokens_a = tokenizer.convert_ids_to_tokens(a)
        tokens_b = tokenizer.convert_ids_to_tokens(b)
        found = windows.example_windows(tokens_a, tokens_b, tokenizer, seq, stride)
        expected.extend(found)
        expected_rows.extend([index] * len(found))
    assert row.numpy().tolist() == expected_rows
    assert count.numpy().tolist() == np.bincount(expected_rows).tolist()
    for name in ("input_ids", "input_mask", "segment_ids"):
        assert features[name].numpy().tolist() == [getattr(f, name) for f in expected], name


def _tsv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(map(str, row)) + "\n" for row in rows))


def _text(rng, n):
    return " ".join(rng.choice(WORDS, size=n))


def test_exported_classifier_serves_run_classifiers_window_predictions(tmp_path):
    folder = write_google_folder(tmp_path / "tiny", VOCAB, seed=4)
    rng = np.random.default_rng(3)
    data = tmp_path / "MRPC"
    head = ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String")
    train = [(i % 2, i, i, _text(rng, 6), _text(rng, 20)) for i in range(8)]
    _tsv(data / "train.tsv", [head, *train])
    pairs = [(3, 4), (2, 30), (30, 2), (20, 20), (25, 33), (0, 31), (40, 0), (5, 0)]
    test = [(i, i, i, _text(rng, a), _text(rng, b)) for i, (a, b) in enumerate(pairs)]
    _tsv(data / "test.tsv", [("index", *head[1:]), *test])
    values = fine_tuning_flags(
        folder,
        tmp_path / "out",
        data_dir=str(data),
        task_name="mrpc",
        xnli_language="zh",
        trim_padding=False,
        max_seq_length=12,
        doc_stride=4,
        window_pooling="max",
        do_train=True,
        do_predict=True,
        num_train_epochs=1.0,
        learning_rate=1e-3,
        export_dir=str(tmp_path / "export"),
    )
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(**values):
        run_classifier.main([])
    written = np.array(
        [
            [float(v) for v in line.split("\t")]
            for line in (tmp_path / "out" / "test_results.tsv").read_text().splitlines()
        ]
    )
    predictor = export.load(str(tmp_path / "export"))
    assert predictor.config["doc_stride"] == 4 and predictor.config["window_pooling"] == "max"
    served = predictor([row[3] for row in test], [row[4] for row in test])
    np.testing.assert_allclose(served["probabilities"], written, atol=1e-6)
    tokenizer = FullTokenizer(str(folder / "vocab.txt"))
    counts = [
        len(
            windows.example_windows(
                tokenizer.tokenize(row[3]), tokenizer.tokenize(row[4]), tokenizer, 12, 4
            )
        )
        for row in test
    ]
    assert served["num_windows"].tolist() == counts and max(counts) > 1
