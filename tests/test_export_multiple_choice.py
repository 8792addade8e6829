"""The SWAG multiple-choice model served: run_swag.py --export_dir, then the export loaded
without bert_tf.

The reference probabilities are the ones `run_swag.py --do_predict` writes (predictions.csv);
the reference features the training pipeline's (`FullTokenizer` + `tasks.swag`).
"""

import csv
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import test_swag
from test_export import _signature_defs
from test_swag import HEADER, SEQ, _main, _rows, _write

import export_saved_model
from bert_tf import export
from bert_tf.tasks import swag
from bert_tf.tokenization import FullTokenizer

# test_swag's tiny model and its vocabulary (a module-scoped fixture).
google_folder = test_swag.google_folder
# Test rows beyond the generated ones: capitals, an unknown word, an empty sent2 (text B is then
# the bare ending) and a long context (truncated from the end of the longer text, as training).
EXTRA_TEST = [
    ["300", "v", "1", "", "Someone OPENS the Zebra door.", "She", "gen"]
    + ["walks good in.", "flies away.", "eats a cake.", "sings, then sits."],
    ["301", "v", "2", "", "he sits down.", "", "gen"]
    + ["eats a bad cake.", "walks out.", "flies.", "sits down."],
    ["302", "v", "3", "", "the sky " * 12, "he", "gen"] + ["sings good.", "bad", "", "flies."],
]


@pytest.fixture(scope="module")
def swag_run(google_folder, tmp_path_factory):
    """Fine-tunes two steps, predicts test.csv and exports (run_swag.py --export_dir)."""
    root = tmp_path_factory.mktemp("swag_export")
    rng = np.random.default_rng(3)
    data = root / "swag"
    data.mkdir()
    _write(data / "train.csv", _rows(rng, 8))
    test = [row[:-1] for row in _rows(rng, 3, start=200)] + EXTRA_TEST
    _write(data / "test.csv", test, header=HEADER[:-1])
    out, export_dir = root / "out", root / "export"
    _main(
        google_folder,
        data,
        out,
        do_train=True,
        do_predict=True,
        num_train_epochs=1.0,
        export_dir=str(export_dir),
    )
    return data, out, export_dir


# Runs in a fresh interpreter: loads the export with tensorflow and tensorflow_text only.
_FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    assert not any(name.startswith("bert_tf") for name in sys.modules)
    request = json.load(open(sys.argv[1]))
    model = tf.saved_model.load(request["path"])

    def lists(outputs):
        return {key: value.numpy().tolist() for key, value in outputs.items()}

    out = {"signatures": sorted(model.signatures.keys())}
    out["text"] = lists(
        model.signatures["serving_default"](
            context=tf.constant(request["context"]), endings=tf.constant(request["endings"])
        )
    )
    ids = {key: tf.constant(value, tf.int32) for key, value in request["features"].items()}
    out["token_ids"] = lists(model.signatures["serve_token_ids"](**ids))
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(request["records"])]
    out["examples"] = lists(model.signatures["serve_examples"](examples=tf.constant(serialized)))
    out["bert_modules"] = sorted(name for name in sys.modules if name.startswith("bert_tf"))
    json.dump(out, open(sys.argv[2], "w"))
    """
)


def _predictions_csv(out):
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    return [int(r[1]) for r in rows], np.array([[float(v) for v in r[2:]] for r in rows])


@pytest.fixture(scope="module")
def served(swag_run, google_folder, tmp_path_factory):
    data, out, export_dir = swag_run
    examples = swag.read_swag(str(data / "test.csv"), require_label=False)
    tokenizer = FullTokenizer(str(google_folder / "vocab.txt"), do_lower_case=True)
    features = swag.convert_examples(examples, tokenizer, SEQ, log_first=0)
    work = tmp_path_factory.mktemp("fresh_swag")
    request = {
        "path": str(export_dir / "1"),
        "context": [e.context for e in examples],
        # The client passes each choice's whole text B: SWAG's sent2, then the ending.
        "endings": [[f"{e.start_ending} {ending}" for ending in e.endings] for e in examples],
        "features": {
            name: [getattr(f, name) for f in features]
            for name in ("input_ids", "input_mask", "segment_ids")
        },
        "records": str(out / "predict.tf_record"),
    }
    (work / "request.json").write_text(json.dumps(request))
    (work / "fresh.py").write_text(_FRESH_PROCESS)
    env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, "fresh.py", "request.json", "result.json"],
        cwd=work,
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((work / "result.json").read_text())


def test_fresh_process_reproduces_run_swag_predictions(swag_run, served):
    _, out, _ = swag_run
    assert served["bert_modules"] == []
    assert served["signatures"] == ["serve_examples", "serve_token_ids", "serving_default"]
    labels, probabilities = _predictions_csv(out)
    text = served["text"]
    assert sorted(text) == ["logits", "predictions", "probabilities"]
    np.testing.assert_allclose(text["probabilities"], probabilities, atol=1e-5)
    assert text["predictions"] == labels
    assert np.array(text["logits"]).shape == (len(labels), 4)
    for name in ("token_ids", "examples"):
        assert sorted(served[name]) == sorted(text)
        np.testing.assert_allclose(served[name]["logits"], text["logits"], atol=1e-5)
        np.testing.assert_allclose(served[name]["probabilities"], text["probabilities"], atol=1e-6)
        assert served[name]["predictions"] == labels


def test_export_assets_and_signature_defs(swag_run):
    _, _, export_dir = swag_run
    version = export_dir / "1"
    config = json.loads((version / "assets" / "export_config.json").read_text())
    assert config["model_type"] == "multiple_choice"
    assert config["num_choices"] == 4 and config["labels"] == []
    assert config["max_seq_length"] == SEQ
    defs = _signature_defs(version)
    text = defs["serving_default"]
    assert sorted(text.inputs) == ["context", "endings"]
    assert [d.size for d in text.inputs["endings"].tensor_shape.dim] == [-1, -1]
    ids = defs["serve_token_ids"].inputs
    assert [d.size for d in ids["input_ids"].tensor_shape.dim] == [-1, -1, -1]


def test_predictor_takes_a_list_of_endings_per_row(swag_run):
    data, out, export_dir = swag_run
    predictor = export.load(str(export_dir))
    examples = swag.read_swag(str(data / "test.csv"), require_label=False)[-2:]
    result = predictor(
        [e.context for e in examples],
        [[f"{e.start_ending} {ending}" for ending in e.endings] for e in examples],
    )
    _, probabilities = _predictions_csv(out)
    np.testing.assert_allclose(result["probabilities"], probabilities[-2:], atol=1e-5)
    with pytest.raises(ValueError, match="endings"):
        predictor(["a context"])


def test_run_swag_export_needs_a_fine_tuned_checkpoint(google_folder, swag_run, tmp_path):
    data, _, _ = swag_run
    with pytest.raises(ValueError, match="--export_dir needs a fine-tuned checkpoint"):
        _main(
            google_folder,
            data,
            tmp_path / "out",
            do_predict=True,
            export_dir=str(tmp_path / "export"),
        )


def test_export_saved_model_offers_multiple_choice():
    assert "multiple_choice" in export_saved_model.FLAGS["model_type"].parser.enum_values
