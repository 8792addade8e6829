"""The NER tagger served: run_ner.py --export_dir, then the export loaded without bert_tf.

The reference labels are the ones `run_ner.py --do_predict` writes (test_predictions.txt); the
reference features and word positions are the training pipeline's (`FullTokenizer` +
`tasks.conll`), and the reference probabilities a direct call of the checkpoint's Keras model.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import test_run_ner
from absl import flags
from absl.testing import flagsaver
from test_export import _signature_defs
from test_run_ner import LABELS, SEQ, _main, _sentence, _write

import export_saved_model
from bert_tf import checkpoints, export, heads
from bert_tf.modeling import BertConfig
from bert_tf.tasks import conll
from bert_tf.tokenization import FullTokenizer

FLAGS = flags.FLAGS
# test_run_ner's tiny 4-layer model and its vocabulary (a module-scoped fixture).
google_folder = test_run_ner.google_folder
# Test sentences that fit one window of SEQ tokens (so run_ner's windows are the serving path's
# first window): a word of two pieces (johns = john ##s), unknown words, a word WordPiece turns
# into nothing (a zero-width space: one [UNK] in both paths), capitals.
EXTRA_TEST = [
    [("Johns", "B-PER"), ("met", "O"), ("the", "O"), ("FIFA", "B-ORG"), ("talks", "I-ORG")],
    [("Zebra", "O"), ("\u200b", "O"), ("Marys", "B-PER"), ("lives", "O"), ("in", "O")],
    [("ROME", "B-LOC")],
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    rng = np.random.default_rng(1)
    folder = tmp_path_factory.mktemp("conll_export")
    _write(folder / "train.txt", [_sentence(rng) for _ in range(8)])
    _write(folder / "test.txt", [_sentence(rng) for _ in range(3)] + EXTRA_TEST)
    return folder


def _run(google_folder, data_dir, out, **overrides):
    settings = dict(
        do_train=True, do_predict=True, num_train_epochs=1.0, learning_rate=1e-2, **overrides
    )
    _main(google_folder, data_dir, out, **settings)


@pytest.fixture(scope="module")
def tagger_run(google_folder, data_dir, tmp_path_factory):
    """Fine-tunes two steps, predicts test.txt and exports (run_ner.py --export_dir)."""
    root = tmp_path_factory.mktemp("ner_export")
    _run(google_folder, data_dir, root / "out", export_dir=str(root / "export"))
    return root / "out", root / "export"


def _test_sentences(data_dir):
    return conll.read_conll(str(data_dir / "test.txt"), LABELS)


def _written_labels(out):
    """test_predictions.txt: the predicted label of each word, one list per sentence."""
    sentences, words = [], []
    for line in (out / "test_predictions.txt").read_text(encoding="utf-8").splitlines():
        if line:
            words.append(line.split()[2])
        else:
            sentences.append(words)
            words = []
    return sentences


def _reference(google_folder, data_dir, model):
    """The training pipeline's windows of test.txt and the model's probabilities on them."""
    tokenizer = FullTokenizer(str(google_folder / "vocab.txt"), do_lower_case=True)
    features = conll.convert_sentences(_test_sentences(data_dir), LABELS, SEQ, tokenizer, 0)
    batch = {
        name: np.array([getattr(f, name) for f in features], np.int32)
        for name in ("input_ids", "input_mask", "segment_ids")
    }
    probabilities = model(batch, training=False)["probabilities"].numpy()
    return features, batch, probabilities


def _loaded_model(google_folder, checkpoint, cls, **kwargs):
    config = BertConfig.from_json_file(str(google_folder / "bert_config.json"))
    model = cls(config, len(LABELS), **kwargs)
    model.build()
    checkpoints.load_google_checkpoint(model, checkpoint)
    return model


# Runs in a fresh interpreter: loads the export with tensorflow and tensorflow_text only.
_FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    request = json.load(open(sys.argv[1]))
    model = tf.saved_model.load(request["path"])

    def lists(outputs):
        return {
            key: [[v.decode() if isinstance(v, bytes) else v for v in row] for row in value]
            for key, value in ((k, t.numpy().tolist()) for k, t in outputs.items())
        }

    out = {"signatures": sorted(model.signatures.keys())}
    out["text"] = lists(model.signatures["serving_default"](text=tf.constant(request["text"])))
    ids = {key: tf.constant(value, tf.int32) for key, value in request["features"].items()}
    out["token_ids"] = lists(model.signatures["serve_token_ids"](**ids))
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(request["records"])]
    out["examples"] = lists(model.signatures["serve_examples"](examples=tf.constant(serialized)))
    out["bert_modules"] = sorted(name for name in sys.modules if name.startswith("bert_tf"))
    json.dump(out, open(sys.argv[2], "w"))
    """
)


@pytest.fixture(scope="module")
def served(tagger_run, google_folder, data_dir, tmp_path_factory):
    out, export_dir = tagger_run
    model = _loaded_model(
        google_folder, tf.train.latest_checkpoint(str(out)), heads.BertTokenClassifier
    )
    features, batch, probabilities = _reference(google_folder, data_dir, model)
    work = tmp_path_factory.mktemp("fresh_tagger")
    request = {
        "path": str(export_dir / "1"),
        "text": [" ".join(s.words) for s in _test_sentences(data_dir)],
        "features": {key: value.tolist() for key, value in batch.items()},
        "records": str(out / "predict.tf_record"),
    }
    (work / "request.json").write_text(json.dumps(request))
    (work / "fresh.py").write_text(_FRESH_PROCESS)
    env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run(
        [sys.executable, "fresh.py", "request.json", "result.json"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    return json.loads((work / "result.json").read_text()), features, probabilities


def test_fresh_process_gives_run_ner_labels_per_word(tagger_run, data_dir, served):
    out, _ = tagger_run
    result, features, probabilities = served
    assert result["bert_modules"] == []
    assert result["signatures"] == ["serve_examples", "serve_token_ids", "serving_default"]
    sentences = _test_sentences(data_dir)
    written = _written_labels(out)
    assert len(features) == len(sentences) == len(written)  # one window each
    text = result["text"]
    max_words = max(len(s.words) for s in sentences)
    assert np.shape(text["word_labels"]) == (len(sentences), max_words)
    for row, (sentence, labels) in enumerate(zip(sentences, written)):
        n = len(sentence.words)
        assert text["word_labels"][row] == labels + [""] * (max_words - n)
        # word_ids: each word's first piece, as tasks.conll placed its label.
        expected_ids = [-1] * SEQ
        for word, position in features[row].scored:
            expected_ids[position] = word
        assert text["word_ids"][row] == expected_ids
        # A client reading one label per word from the per-token outputs gets the same.
        by_token = {w: text["labels"][row][p] for p, w in enumerate(expected_ids) if w >= 0}
        assert [by_token[w] for w in range(n)] == labels
    np.testing.assert_allclose(text["probabilities"], probabilities, atol=1e-5, rtol=0)
    assert text["predictions"] == np.argmax(probabilities, -1).tolist()
    assert text["labels"] == [[LABELS[i] for i in row] for row in text["predictions"]]
    for name in ("token_ids", "examples"):
        np.testing.assert_allclose(result[name]["probabilities"], probabilities, atol=1e-5)
        assert result[name]["labels"] == text["labels"]
        assert "word_labels" not in result[name]


def test_export_assets_and_signature_defs(tagger_run):
    _, export_dir = tagger_run
    assert sorted(os.listdir(export_dir)) == ["1"]
    assets = export_dir / "1" / "assets"
    assert (assets / "labels.txt").read_text().splitlines() == LABELS
    settings = json.loads((assets / "export_config.json").read_text())
    assert settings["model_type"] == "tagger" and settings["pair_input"] is False
    assert settings["max_seq_length"] == SEQ
    signature = _signature_defs(export_dir / "1")["serving_default"]
    assert sorted(signature.inputs) == ["text"]
    assert sorted(signature.outputs) == [
        "labels",
        "logits",
        "predictions",
        "probabilities",
        "word_ids",
        "word_labels",
    ]


def test_run_ner_export_needs_a_fine_tuned_checkpoint(google_folder, data_dir, tmp_path):
    with pytest.raises(ValueError, match="--export_dir needs a fine-tuned checkpoint"):
        _main(google_folder, data_dir, tmp_path / "out", do_predict=True, export_dir="unused")


@pytest.fixture(scope="module")
def predictor(tagger_run):
    return export.load(str(tagger_run[1]))


def test_long_sentence_takes_the_first_window(predictor, tagger_run, google_folder):
    out, _ = tagger_run
    sentence = "John met the FIFA talks and Marys lives in PARIS and johns met the UN ."
    words = sentence.split()
    served = predictor([sentence])
    # The reference first window: each word's pieces (FullTokenizer), cut to SEQ - 2.
    tokenizer = FullTokenizer(str(google_folder / "vocab.txt"), do_lower_case=True)
    pieces = [tokenizer.tokenize(w) for w in words]
    tokens, first = ["[CLS]"], []
    for word_pieces in pieces:
        first.append(len(tokens) if len(tokens) < SEQ - 1 else -1)
        tokens += word_pieces
    tokens = tokens[: SEQ - 1] + ["[SEP]"]
    assert sum(len(p) for p in pieces) > SEQ - 2 and -1 in first
    ids = tokenizer.convert_tokens_to_ids(tokens)
    features = {
        "input_ids": [ids],
        "input_mask": [[1] * SEQ],
        "segment_ids": [[0] * SEQ],
    }
    model = _loaded_model(
        google_folder, tf.train.latest_checkpoint(str(out)), heads.BertTokenClassifier
    )
    want = model({k: tf.constant(v, tf.int32) for k, v in features.items()})["probabilities"]
    np.testing.assert_allclose(served["probabilities"], want.numpy(), atol=1e-5)
    labels = [LABELS[i] for i in np.argmax(want.numpy()[0], -1)]
    assert served["word_labels"][0].astype(str).tolist() == [
        labels[p] if p >= 0 else "" for p in first
    ]


def test_words_split_at_whitespace_as_python_does(predictor):
    separators = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    text = "".join(f"{separators[i % len(separators)]}john" for i in range(len(separators)))
    glued = "john\u200bjohn\u00adjohn"  # not whitespace: one word
    served = predictor([text, glued, "", "  "])
    assert served["word_labels"].shape == (4, len(text.split()))
    assert len(text.split()) == len(separators)
    kept = [(row != b"").sum() for row in served["word_labels"]]
    assert kept == [SEQ - 2, 1, 0, 0]  # one piece a word; the window holds SEQ - 2
    assert (served["word_ids"][2:] == -1).all()
    with pytest.raises(ValueError, match="single sentences"):
        predictor(["a"], ["b"])


def test_feature_based_checkpoint_exports_with_export_saved_model(
    google_folder, data_dir, tmp_path
):
    """export_saved_model.py --model_type=tagger finds run_ner's --feature_based BiLSTM (its
    sizes too) in the checkpoint."""
    config = BertConfig.from_json_file(str(google_folder / "bert_config.json"))
    model = heads.BertFeatureTagger(config, len(LABELS), lstm_size=8, num_feature_layers=3)
    model.build()
    rng = np.random.default_rng(4)
    for weight in model.weights:
        weight.assign(rng.normal(0.0, 0.3, weight.shape).astype(np.float32))
    # As a training checkpoint of run_ner.py --feature_based (its slots are skipped likewise).
    checkpoint = checkpoints.save_google_checkpoint(
        model, str(tmp_path / "model.ckpt-3"), extra={"global_step": tf.constant(3, tf.int64)}
    )
    values = {
        "bert_config_file": str(google_folder / "bert_config.json"),
        "vocab_file": str(google_folder / "vocab.txt"),
        "do_lower_case": True,
        "init_checkpoint": checkpoint,
        "model_type": "tagger",
        "task_name": None,
        "entity_types": list(conll.CONLL2003_TYPES),
        "max_seq_length": SEQ,
        "max_query_length": 64,
        "export_dir": str(tmp_path / "export"),
        "export_version": None,
        "pair_input": None,
        "xnli_language": "zh",
    }
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(**values):
        export_saved_model.main([])
    predictor = export.load(str(tmp_path / "export"))
    features, batch, probabilities = _reference(google_folder, data_dir, model)
    sentences = _test_sentences(data_dir)
    served = predictor([" ".join(s.words) for s in sentences])
    np.testing.assert_allclose(served["probabilities"], probabilities, atol=1e-5)
    by_ids = predictor.predict_token_ids(**batch)
    np.testing.assert_allclose(by_ids["probabilities"], probabilities, atol=1e-5)
    for row, feature in enumerate(features):
        labels = [LABELS[int(probabilities[row, p].argmax())] for _, p in feature.scored]
        assert served["word_labels"][row, : len(labels)].astype(str).tolist() == labels
    with (
        flagsaver.flagsaver(**dict(values, pair_input=True)),
        pytest.raises(ValueError, match="single sentences"),
    ):
        export_saved_model.main([])
