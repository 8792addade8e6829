"""run_ner.py end to end on a tiny model: outputs, conlleval scores recomputed, the predictions
recomputed from the checkpoint, the feature-based recipe's frozen encoder, and bad input.

Like the other scripts' tests, the script is imported into this process and every flag main()
reads is set explicitly (see tests/conftest.py).
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver
from conftest import REPO, SPECIAL_TOKENS, TINY_CONFIG, fine_tuning_flags, write_google_folder

import run_ner
from bert_tf import checkpoints, metrics
from bert_tf.heads import BertTokenClassifier
from bert_tf.modeling import BertConfig
from bert_tf.tasks import conll
from bert_tf.tokenization import FullTokenizer

FLAGS = flags.FLAGS
SEQ = 16
LABELS = conll.get_labels()
PEOPLE, PLACES, ORGS = ["john", "mary", "peter"], ["paris", "london", "rome"], ["un", "fifa"]
VOCAB = [*SPECIAL_TOKENS, "lives", "in", "met", "at", "the", "."]
VOCAB += PEOPLE + PLACES + ORGS + ["##s", "and", "talks"]


def _sentence(rng, n_clauses=1):
    """Word/tag pairs such as 'john lives in paris .' with types fixed by the words."""
    pairs = []
    for i in range(n_clauses):
        if i:
            pairs.append(("and", "O"))
        person = str(rng.choice(PEOPLE))
        pairs += [(person.capitalize(), "B-PER")]
        if rng.random() < 0.5:
            pairs += [("lives", "O"), ("in", "O"), (str(rng.choice(PLACES)).upper(), "B-LOC")]
        else:
            pairs += [("met", "O"), ("the", "O"), (str(rng.choice(ORGS)).upper(), "B-ORG")]
            pairs += [("talks", "I-ORG")]
    return pairs + [(".", "O")]


def _write(path, sentences, four_columns=False):
    lines = ["-DOCSTART- -X- O O" if four_columns else "-DOCSTART- O", ""]
    for pairs in sentences:
        tags = [tag for _, tag in pairs]
        if four_columns:  # IOB1, as the original eng.* files: I- unless two phrases touch.
            tags = ["I-" + t[2:] if t.startswith("B-") else t for t in tags]
            lines += [f"{w} NN I-NP {t}" for (w, _), t in zip(pairs, tags)]
        else:
            lines += [f"{w} {t}" for w, t in pairs]
        lines.append("")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def google_folder(tmp_path_factory):
    return write_google_folder(
        tmp_path_factory.mktemp("models") / "tiny_L-4_H-32",
        VOCAB,
        dict(TINY_CONFIG, vocab_size=len(VOCAB), num_hidden_layers=4),
        seed=3,
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("conll")
    _write(folder / "train.txt", [_sentence(rng) for _ in range(48)])
    _write(folder / "valid.txt", [_sentence(rng) for _ in range(8)], four_columns=True)
    # The last test sentence has 21 words: longer than a 16-token window.
    test = [_sentence(rng) for _ in range(6)] + [_sentence(rng, 4)]
    _write(folder / "test.txt", test)
    return folder


def _flags(folder, data, output_dir, **overrides):
    mine = {
        "data_dir": str(data),
        "max_seq_length": SEQ,
        "learning_rate": 2e-3,
        "num_train_epochs": 4.0,
        "log_every_steps": 10,
        "entity_types": list(conll.CONLL2003_TYPES),
        "feature_based": False,
        "lstm_size": 8,
    }
    return fine_tuning_flags(folder, output_dir, **{**mine, **overrides})


def _main(folder, data, output_dir, **overrides):
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(**_flags(folder, data, output_dir, **overrides)):
        run_ner.main([])


def _results(path):
    return {k: float(v) for k, v in (line.split(" = ") for line in path.read_text().splitlines())}


@pytest.fixture(scope="module")
def ner_run(google_folder, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ner_out")
    _main(google_folder, data_dir, out, do_train=True, do_eval=True, do_predict=True)
    return out


def test_outputs_and_conlleval_scores(data_dir, ner_run):
    out = ner_run
    names = {p.name for p in out.iterdir()}
    assert {
        "train.tf_record",
        "eval.tf_record",
        "predict.tf_record",
        "eval_results.txt",
        "eval_predictions.txt",
        "eval_conlleval.txt",
        "test_results.txt",
        "test_predictions.txt",
        "test_conlleval.txt",
        "model.ckpt-48.index",  # 48 one-window sentences / batch 4 x 4 epochs
    } <= names
    results = _results(out / "eval_results.txt")
    assert {"eval_precision", "eval_recall", "eval_f1", "eval_accuracy", "eval_loss"} <= set(
        results
    )
    assert {"eval_PER_f1", "eval_LOC_f1", "eval_ORG_f1"} <= set(results)
    assert results["global_step"] == 48
    # The task is learnable from the words alone: the tiny model gets most entities.
    assert results["eval_f1"] > 60.0

    for name, source in (("eval", "valid.txt"), ("test", "test.txt")):
        lines = (out / f"{name}_predictions.txt").read_text().splitlines()
        # Same words as the data file, gold tags in BIO form (valid.txt is IOB1), a blank line
        # after each sentence.
        data_lines = [line.split() for line in (data_dir / source).read_text().splitlines()[2:]]
        gold = [t for s in conll.read_conll(str(data_dir / source)) for t in s.labels + [None]]
        assert [line.split()[:2] for line in lines] == [
            [d[0], tag] if d else [] for d, tag in zip(data_lines, gold)
        ]
        assert all(line.split()[2] in LABELS for line in lines if line)
        # The results are conlleval's on the predictions file, read back independently.
        counts = metrics.conlleval_lines(lines)
        file_results = _results(
            out / f"{name}_results.txt" if name == "test" else out / "eval_results.txt"
        )
        assert file_results["eval_f1"] == pytest.approx(counts.scores()["f1"], abs=1e-4)
        assert (out / f"{name}_conlleval.txt").read_text() == counts.report()


def test_predictions_match_the_checkpoint(google_folder, data_dir, ner_run):
    """Re-runs the fine-tuned checkpoint outside the script, including the windowed sentence."""
    config = BertConfig.from_json_file(str(google_folder / "bert_config.json"))
    model = BertTokenClassifier(config, len(LABELS))
    model.build()
    checkpoints.load_google_checkpoint(model, str(ner_run / "model.ckpt-48"))
    tokenizer = FullTokenizer(str(google_folder / "vocab.txt"))
    sentences = conll.read_conll(str(data_dir / "test.txt"), LABELS)
    features = conll.convert_sentences(sentences, LABELS, SEQ, tokenizer)
    assert len(features) > len(sentences)  # the long one was windowed
    batch = {
        name: tf.constant([getattr(f, name) for f in features], tf.int32)
        for name in ("input_ids", "input_mask", "segment_ids")
    }
    logits = model(batch, training=False)["logits"].numpy()
    lines = [line.split() for line in (ner_run / "test_predictions.txt").read_text().splitlines()]
    written = [line[2] for line in lines if line]
    expected = []
    for index, sentence in enumerate(sentences):
        tags = {}
        for f, window in zip(features, logits):
            if f.sentence_index == index:
                tags.update({w: LABELS[int(window[p].argmax())] for w, p in f.scored})
        expected += [tags[w] for w in range(len(sentence.words))]
    assert written == expected

    # The scored loss: the same mean cross entropy recomputed here.
    labels = np.array([f.label_ids for f in features])
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    mask = labels >= 0
    loss = -np.take_along_axis(log_probs, np.maximum(labels, 0)[..., None], -1)[..., 0][mask].mean()
    assert _results(ner_run / "test_results.txt")["eval_loss"] == pytest.approx(loss, rel=1e-4)


def test_eval_only_reads_the_fine_tuned_checkpoint(google_folder, data_dir, ner_run):
    before = _results(ner_run / "eval_results.txt")
    _main(google_folder, data_dir, ner_run, do_eval=True, init_checkpoint=None)
    again = _results(ner_run / "eval_results.txt")
    assert again["global_step"] == 48 and again["eval_f1"] == before["eval_f1"]


def test_feature_based_trains_only_the_bilstm(google_folder, data_dir, tmp_path):
    out = tmp_path / "fb"
    _main(
        google_folder,
        data_dir,
        out,
        do_train=True,
        do_eval=True,
        feature_based=True,
        num_train_epochs=1.0,
        learning_rate=1e-2,
    )
    trained = tf.train.load_checkpoint(str(out / "model.ckpt-12"))
    start = tf.train.load_checkpoint(str(google_folder / "bert_model.ckpt"))
    names = trained.get_variable_to_shape_map()
    # The encoder is exactly the pretrained one, and has no optimizer slots.
    for name in start.get_variable_to_shape_map():
        np.testing.assert_array_equal(trained.get_tensor(name), start.get_tensor(name))
    assert not any(n.startswith("bert/") and n.endswith("adam_m") for n in names)
    # Two BiLSTM layers over the last four layers (4 x 32 wide), then output_weights [9, 16].
    assert names["lstm_0/forward/lstm_cell/kernel"] == [128, 32]
    assert names["lstm_1/backward/lstm_cell/kernel"] == [16, 32]
    assert names["output_weights"] == [len(LABELS), 16]
    assert "output_weights/adam_m" in names
    assert "eval_f1" in _results(out / "eval_results.txt")


def test_bad_input_errors(google_folder, data_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.txt").write_text("John B-PER\nlives O O\n")
    two_layers = tmp_path / "two"
    two_layers.mkdir()
    (two_layers / "bert_config.json").write_text(json.dumps(dict(TINY_CONFIG)))
    cases = [
        ({}, ValueError, "At least one of --do_train, --do_eval or --do_predict"),
        ({"do_eval": True, "data_dir": str(bad)}, FileNotFoundError, r"lacks the dev file"),
        ({"do_train": True, "data_dir": str(bad)}, ValueError, r"train.txt, line 2: 3 fields"),
        ({"do_train": True, "max_seq_length": 65}, ValueError, "max_position_embeddings=64"),
        (
            {
                "do_train": True,
                "feature_based": True,
                "bert_config_file": str(two_layers / "bert_config.json"),
            },
            ValueError,
            "last four layers",
        ),
        (
            {"do_train": True, "init_checkpoint": str(tmp_path / "none.ckpt")},
            FileNotFoundError,
            "Checkpoint not found",
        ),
        (
            {"do_train": True, "train_batch_size": 64, "num_train_epochs": 1.0},
            ValueError,
            "no training step",
        ),
    ]
    for overrides, error, message in cases:
        data = overrides.pop("data_dir", data_dir)
        with pytest.raises(error, match=message):
            _main(google_folder, data, tmp_path / "out", **overrides)


def test_command_line_reports_errors_in_one_line(google_folder, tmp_path):
    """As a user runs it: bad input ends in one line and exit status 1, no traceback."""
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "run_ner.py"),
            f"--data_dir={tmp_path}",
            f"--vocab_file={google_folder / 'vocab.txt'}",
            f"--bert_config_file={google_folder / 'bert_config.json'}",
            f"--output_dir={tmp_path / 'out'}",
            f"--max_seq_length={SEQ}",
            "--do_predict",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "error: --data_dir=" in done.stderr and "lacks the test file" in done.stderr
    assert "Traceback" not in done.stderr
