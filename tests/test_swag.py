"""SWAG reading and packing, and run_swag.py end to end on a few rows written in SWAG's layout."""

import csv

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver
from conftest import SPECIAL_TOKENS, TINY_CONFIG, fine_tuning_flags, write_google_folder

import run_swag
from bert_tf import checkpoints, records
from bert_tf.heads import BertMultipleChoice
from bert_tf.modeling import BertConfig
from bert_tf.tasks import swag
from bert_tf.tokenization import FullTokenizer

FLAGS = flags.FLAGS
SEQ = 16
VOCAB = [*SPECIAL_TOKENS, "someone", "opens", "the", "door", "."]
VOCAB += ["she", "walks", "in", "out", "he", "sits", "down", "flies", "away", "eats", "a", "cake"]
VOCAB += ["sky", "sings", ",", "then", "good", "bad"]
HEADER = ["", "video-id", "fold-ind", "startphrase", "sent1", "sent2", "gold-source"]
HEADER += ["ending0", "ending1", "ending2", "ending3", "label"]


def _rows(rng, n, start=0):
    """SWAG rows: the right ending says 'good', the others 'bad' (learnable from one word)."""
    rows = []
    for i in range(n):
        label = int(rng.integers(0, 4))
        sent1 = "someone opens the door, then sits down."
        sent2 = str(rng.choice(["she", "he"]))
        endings = [f"walks {'good' if j == label else 'bad'} in." for j in range(4)]
        rows.append(
            [str(start + i), f"lsmdc{i}", str(100 + i), f"{sent1} {sent2}", sent1, sent2, "gold"]
            + endings
            + [str(label)]
        )
    return rows


def _write(path, rows, header=HEADER):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def tokenizer(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return FullTokenizer(str(tmp_path / "vocab.txt"))


def test_reads_swag_csv_and_packs_each_ending(tmp_path, tokenizer):
    path = tmp_path / "val.csv"
    # Quoted fields holding commas, as SWAG's files have them.
    _write(
        path,
        [
            [
                "7",
                "anetv_x",
                "19",
                "Someone opens the door. She",
                "Someone opens the door.",
                "She",
                "gen",
                "walks in.",
                "flies away, then sits.",
                "eats a cake.",
                "sings.",
                "1",
            ]
        ],
    )
    (example,) = swag.read_swag(str(path), require_label=True)
    assert example.example_id == "7" and example.label == 1
    assert example.context == "Someone opens the door." and example.start_ending == "She"
    assert example.endings[1] == "flies away, then sits."
    (feature,) = swag.convert_examples([example], tokenizer, 12)
    assert feature.tokens[0] == [
        "[CLS]",
        "someone",
        "opens",
        "the",
        "door",
        ".",
        "[SEP]",
        "she",
        "walks",
        "in",
        ".",
        "[SEP]",
    ]
    assert feature.segment_ids[0] == [0] * 7 + [1] * 5
    # Ending 1 is three tokens too long: B (7 tokens) loses two, then, tied with A at 5, one
    # more (ties cut B), leaving "she flies away ,".
    assert feature.tokens[1][6:] == ["[SEP]", "she", "flies", "away", ",", "[SEP]"]
    ids = {t: i for i, t in enumerate(VOCAB)}
    assert feature.input_ids[2][:7] == [ids[t] for t in feature.tokens[2][:7]]
    assert feature.input_mask[3] == [1] * 11 + [0]  # [CLS] A(5) [SEP] "she sings ." [SEP]
    values = feature.values()
    assert len(values["input_ids"]) == 4 * 12 and values["label_ids"] == [1]

    # A file with only startphrase: it is text A, the bare ending text B.
    _write(tmp_path / "test.csv", [["a b", "x", "y"]], header=["startphrase", "ending0", "ending1"])
    (bare,) = swag.read_swag(str(tmp_path / "test.csv"), require_label=False)
    assert (bare.context, bare.start_ending, bare.endings, bare.label) == (
        "a b",
        "",
        ["x", "y"],
        None,
    )
    assert bare.example_id == "0"


@pytest.mark.parametrize(
    "header, row, message",
    [
        (
            HEADER,
            ["0", "v", "1", "s", "s", "t", "g", "a", "b", "c", "d", "4"],
            r"line 2: label '4'",
        ),
        (
            HEADER,
            ["0", "v", "1", "s", "s", "t", "g", "a", "b", "c", "d", ""],
            r"line 2: the label is empty",
        ),
        (HEADER[:-1], ["0", "v", "1", "s", "s", "t", "g", "a", "b", "c", "d"], "no label column"),
        (["sent1", "x"], ["a", "b"], "no ending0, ending1"),
        (HEADER, ["0", "v", "1"], r"line 2: expected 12 fields"),
    ],
)
def test_bad_files(tmp_path, header, row, message):
    _write(tmp_path / "train.csv", [row], header=header)
    with pytest.raises(ValueError, match=message):
        swag.read_swag(str(tmp_path / "train.csv"), require_label=True)


@pytest.fixture(scope="module")
def google_folder(tmp_path_factory):
    return write_google_folder(
        tmp_path_factory.mktemp("models") / "tiny_L-2_H-32",
        VOCAB,
        dict(TINY_CONFIG, vocab_size=len(VOCAB)),
        seed=5,
    )


def _flags(folder, data, output_dir, **overrides):
    mine = {
        "data_dir": str(data),
        "max_seq_length": SEQ,
        "learning_rate": 2e-3,
        "num_train_epochs": 3.0,
        "log_every_steps": 10,
    }
    return fine_tuning_flags(folder, output_dir, **{**mine, **overrides})


def _main(folder, data, output_dir, **overrides):
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(**_flags(folder, data, output_dir, **overrides)):
        run_swag.main([])


def _results(path):
    return {k: float(v) for k, v in (line.split(" = ") for line in path.read_text().splitlines())}


def test_run_swag_end_to_end(google_folder, tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "swag"
    data.mkdir()
    _write(data / "train.csv", _rows(rng, 32))
    val = _rows(rng, 6, start=100)
    _write(data / "val.csv", val)
    # SWAG's test file has no label column.
    test = [row[:-1] for row in _rows(rng, 5, start=200)]
    _write(data / "test.csv", test, header=HEADER[:-1])
    out = tmp_path / "out"
    _main(google_folder, data, out, do_train=True, do_eval=True, do_predict=True)

    assert (out / "model.ckpt-24.index").exists()  # 32 / 4 x 3 epochs
    results = _results(out / "eval_results.txt")
    assert sorted(results) == ["eval_accuracy", "eval_loss", "global_step"]
    assert results["global_step"] == 24

    # The fine-tuned checkpoint, run outside the script on the val rows.
    config = BertConfig.from_json_file(str(google_folder / "bert_config.json"))
    model = BertMultipleChoice(config)
    model.build()
    checkpoints.load_google_checkpoint(model, str(out / "model.ckpt-24"))
    tokenizer = FullTokenizer(str(google_folder / "vocab.txt"))

    def logits_of(path, labelled):
        examples = swag.read_swag(str(path), require_label=labelled)
        features = swag.convert_examples(examples, tokenizer, SEQ)
        batch = {
            name: tf.constant([getattr(f, name) for f in features], tf.int32)
            for name in ("input_ids", "input_mask", "segment_ids")
        }
        return model(batch, training=False)["logits"].numpy().astype(np.float64)

    logits = logits_of(data / "val.csv", True)
    labels = np.array([int(row[-1]) for row in val])
    assert results["eval_accuracy"] == pytest.approx((logits.argmax(1) == labels).mean(), abs=1e-6)
    log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert results["eval_loss"] == pytest.approx(-log_probs[np.arange(6), labels].mean(), rel=1e-4)

    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == [
        "id",
        "label",
        "probability0",
        "probability1",
        "probability2",
        "probability3",
    ]
    assert [r[0] for r in rows[1:]] == [row[0] for row in test]
    probs = np.array([[float(v) for v in r[2:]] for r in rows[1:]])
    expected = np.exp(logits_of(data / "test.csv", False))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(probs, expected, atol=2e-6)
    assert [int(r[1]) for r in rows[1:]] == list(expected.argmax(1))
    assert not (out / "test_results.txt").exists()  # no labels to score

    # The records hold the four candidates one after the other.
    batch = next(
        iter(records.multiple_choice_dataset(str(out / "eval.tf_record"), 6, SEQ, 4, False))
    )
    assert batch["input_ids"].shape == (6, 4, SEQ)
    assert list(batch["label_ids"].numpy()) == list(labels)


def test_run_swag_bad_input(google_folder, tmp_path):
    with pytest.raises(ValueError, match="At least one of --do_train"):
        _main(google_folder, tmp_path, tmp_path / "out")
    with pytest.raises(FileNotFoundError, match=r"lacks the dev file \(one of val.csv"):
        _main(google_folder, tmp_path, tmp_path / "out", do_eval=True)
