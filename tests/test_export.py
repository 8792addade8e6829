"""SavedModel export: run_classifier.py --export_dir, then the export served without bert_tf.

The reference numbers are the ones `run_classifier.py --do_predict` writes (test_results.tsv)
and the features the training pipeline (`FullTokenizer` + `tasks.common`) builds; the export is
loaded in a fresh Python process that imports only tensorflow and tensorflow_text.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver
from conftest import SPECIAL_TOKENS, TINY_CONFIG, write_google_folder

import run_classifier
import run_squad
from bert_tf import checkpoints, export, heads, records
from bert_tf.modeling import BertConfig
from bert_tf.tasks import common, squad
from bert_tf.tokenization import FullTokenizer

FLAGS = flags.FLAGS
SEQ = 16
VOCAB = [
    *SPECIAL_TOKENS,
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "ran",
    "on",
    "mat",
    "is",
    "not",
    "good",
    "bad",
    "very",
    "big",
    "small",
    "cafe",
    ".",
    ",",
    "!",
    "##s",
    "##e",
]
WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "mat", "is", "not", "good", "bad"]
# Test pairs: accents and capitals (lower-cased and stripped), unknown words, punctuation, a
# pair too long for SEQ (truncated), an empty second text (packed as a single sentence).
TEST_PAIRS = [
    ("The CAT sat on the mat.", "A dog ran!"),
    ("Café cats, very big", "the dogs is not small"),
    ("zebra the cat", ""),
    (" ".join(["the big cat"] * 9), "a dog " * 7),
    ("é ü ,", "good bad good bad good bad good bad good bad good bad the end"),
    ("", "the mat"),
]


def _tsv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(map(str, row)) + "\n" for row in rows))


@pytest.fixture(scope="module")
def google_folder(tmp_path_factory):
    return write_google_folder(tmp_path_factory.mktemp("export_models") / "tiny", VOCAB, seed=5)


def _run_classifier(folder, data_dir, output_dir, **overrides):
    values = {
        "data_dir": str(data_dir),
        "bert_config_file": str(folder / "bert_config.json"),
        "task_name": "mrpc",
        "vocab_file": str(folder / "vocab.txt"),
        "output_dir": str(output_dir),
        "init_checkpoint": str(folder / "bert_model.ckpt"),
        "do_lower_case": True,
        "max_seq_length": SEQ,
        "do_train": True,
        "do_eval": False,
        "do_predict": True,
        "train_batch_size": 4,
        "eval_batch_size": 4,
        "predict_batch_size": 4,
        "learning_rate": 1e-3,
        "num_train_epochs": 1.0,
        "warmup_proportion": 0.1,
        "save_checkpoints_steps": 1000,
        "iterations_per_loop": 1000,
        "use_tpu": False,
        "tpu_name": None,
        "xnli_language": "zh",
        "use_mixed_precision": False,
        "use_xla": False,
        "gradient_accumulation_steps": 1,
        "optimizer": "adamw",
        "use_bias_correction": False,
        "keep_checkpoint_max": 5,
        "log_every_steps": 1,
        "random_seed": 7,
        "export_dir": None,
        # run_squad.py (imported here too) defines --doc_stride with Google's default 128.
        "doc_stride": 0,
        "window_pooling": "mean",
    }
    values.update(overrides)
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(**values):
        run_classifier.main([])


@pytest.fixture(scope="module")
def mrpc_run(google_folder, tmp_path_factory):
    """Fine-tunes a few steps on an MRPC-layout folder, predicts its test set and exports."""
    root = tmp_path_factory.mktemp("export_mrpc")
    rng = np.random.default_rng(0)
    head = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]

    def sentence():
        return " ".join(rng.choice(WORDS, size=int(rng.integers(2, 7))))

    train = [[int(rng.integers(0, 2)), i, i, sentence(), sentence()] for i in range(16)]
    _tsv(root / "MRPC" / "train.tsv", [head] + train)
    test = [[i, i, i, a, b] for i, (a, b) in enumerate(TEST_PAIRS)]
    _tsv(root / "MRPC" / "test.tsv", [["index"] + head[1:]] + test)
    export_dir = root / "export"
    _run_classifier(google_folder, root / "MRPC", root / "out", export_dir=str(export_dir))
    return root / "out", export_dir


def _test_results(out):
    lines = (out / "test_results.tsv").read_text().splitlines()
    return np.array([[float(v) for v in line.split("\t")] for line in lines])


def _reference_features(folder, pairs):
    """The training pipeline's features for `pairs` (FullTokenizer + tasks.common)."""
    tokenizer = FullTokenizer(str(folder / "vocab.txt"), do_lower_case=True)
    features = [
        common.convert_single_example(common.InputExample(i, a, b or None), tokenizer, SEQ)
        for i, (a, b) in enumerate(pairs)
    ]
    return {
        name: np.array([getattr(f, name) for f in features], np.int32)
        for name in ("input_ids", "input_mask", "segment_ids")
    }


# Runs in a fresh interpreter: loads the export with tensorflow and tensorflow_text only.
_FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    request = json.load(open(sys.argv[1]))
    model = tf.saved_model.load(request["path"])
    out = {"signatures": sorted(model.signatures.keys())}
    text = model.signatures["serving_default"](
        text_a=tf.constant(request["text_a"]), text_b=tf.constant(request["text_b"])
    )
    out["text"] = {key: value.numpy().tolist() for key, value in text.items()}
    out["text"]["labels"] = [label.decode() for label in out["text"]["labels"]]
    ids = model.signatures["serve_token_ids"](
        **{key: tf.constant(value, tf.int32) for key, value in request["features"].items()}
    )
    out["token_ids"] = ids["probabilities"].numpy().tolist()
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(request["records"])]
    examples = model.signatures["serve_examples"](examples=tf.constant(serialized))
    out["examples"] = examples["probabilities"].numpy().tolist()
    assets = sorted(tf.io.gfile.listdir(request["path"] + "/assets"))
    out["assets"] = assets
    out["bert_modules"] = sorted(name for name in sys.modules if name.startswith("bert_tf"))
    json.dump(out, open(sys.argv[2], "w"))
    """
)


@pytest.fixture(scope="module")
def fresh_process_outputs(mrpc_run, google_folder, tmp_path_factory):
    out, export_dir = mrpc_run
    work = tmp_path_factory.mktemp("fresh")
    request = {
        "path": str(export_dir / "1"),
        "text_a": [a for a, _ in TEST_PAIRS],
        "text_b": [b for _, b in TEST_PAIRS],
        "features": {
            key: value.tolist()
            for key, value in _reference_features(google_folder, TEST_PAIRS).items()
        },
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
    return json.loads((work / "result.json").read_text())


def test_export_layout_and_assets(mrpc_run, google_folder):
    _, export_dir = mrpc_run
    assert sorted(os.listdir(export_dir)) == ["1"]  # no staging folder left behind
    version = export_dir / "1"
    assert (version / "saved_model.pb").exists()
    assets = version / "assets"
    assert (assets / "vocab.txt").read_text() == (google_folder / "vocab.txt").read_text()
    assert (assets / "labels.txt").read_text().splitlines() == ["0", "1"]
    assert json.loads((assets / "bert_config.json").read_text()) == TINY_CONFIG
    settings = json.loads((assets / "export_config.json").read_text())
    assert settings["model_type"] == "classifier" and settings["pair_input"] is True
    assert settings["max_seq_length"] == SEQ and settings["do_lower_case"] is True


def test_fresh_process_reproduces_run_classifier_predictions(mrpc_run, fresh_process_outputs):
    out, _ = mrpc_run
    expected = _test_results(out)
    assert expected.shape == (len(TEST_PAIRS), 2)
    result = fresh_process_outputs
    assert result["bert_modules"] == []
    assert result["signatures"] == ["serve_examples", "serve_token_ids", "serving_default"]
    assert result["assets"] == ["bert_config.json", "export_config.json", "labels.txt", "vocab.txt"]
    text = result["text"]
    np.testing.assert_allclose(text["probabilities"], expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(result["token_ids"], expected, atol=1e-5, rtol=0)
    # predict.tf_record is padded to whole batches: its real examples come first.
    examples = np.array(result["examples"])
    np.testing.assert_allclose(examples[: len(expected)], expected, atol=1e-5, rtol=0)
    assert text["predictions"] == np.argmax(expected, axis=1).tolist()
    assert text["labels"] == [["0", "1"][i] for i in text["predictions"]]
    np.testing.assert_allclose(
        np.exp(text["logits"]) / np.exp(text["logits"]).sum(1, keepdims=True),
        expected,
        atol=1e-5,
    )


def _cli_python():
    return os.path.join(os.path.dirname(sys.executable), "saved_model_cli")


def test_saved_model_cli_show_lists_the_three_signatures(mrpc_run):
    _, export_dir = mrpc_run
    shown = subprocess.run(
        [_cli_python(), "show", "--all", "--dir", str(export_dir / "1")],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    ).stdout
    for name in ("serving_default", "serve_token_ids", "serve_examples"):
        assert f"signature_def['{name}']" in shown
    for key in ("text_a", "text_b", "input_ids", "input_mask", "segment_ids", "examples"):
        assert f"inputs['{key}']" in shown
    for key in ("probabilities", "logits", "predictions", "labels"):
        assert f"outputs['{key}']" in shown
    assert shown.count("Method name is: tensorflow/serving/predict") == 3


def test_saved_model_cli_run_on_text(mrpc_run):
    """`saved_model_cli run` with raw text in; tensorflow_text is imported to register its ops."""
    out, export_dir = mrpc_run
    texts_a = json.dumps([a for a, _ in TEST_PAIRS[:2]])
    texts_b = json.dumps([b for _, b in TEST_PAIRS[:2]])
    command = (
        "import sys, tensorflow_text; "
        "from tensorflow.python.tools.saved_model_cli import main; "
        "sys.argv[0] = 'saved_model_cli'; sys.exit(main())"
    )
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            command,
            "run",
            "--dir",
            str(export_dir / "1"),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--input_exprs",
            f"text_a={texts_a};text_b={texts_b}",
        ],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    ).stdout
    block = shown.split("Result for output key probabilities:")[1].split("Result for")[0]
    numbers = [float(v) for v in block.replace("[", " ").replace("]", " ").split()]
    np.testing.assert_allclose(
        np.reshape(numbers, (2, 2)), _test_results(out)[:2], atol=1e-5, rtol=0
    )


def _signature_defs(version_dir):
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel()
    model.ParseFromString((version_dir / "saved_model.pb").read_bytes())
    return model.meta_graphs[0].signature_def


def test_predict_requests_match_signature_defs(mrpc_run, google_folder):
    """A tensorflow-serving-api PredictRequest per signature: names, dtypes, shapes all fit."""
    pytest.importorskip("tensorflow_serving", reason="pip install -r requirements-serving-test.txt")
    from tensorflow_serving.apis import predict_pb2

    out, export_dir = mrpc_run
    version = export_dir / "1"
    pairs = TEST_PAIRS[:3]
    features = _reference_features(google_folder, pairs)
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(str(out / "predict.tf_record"))]
    inputs = {
        "serving_default": {
            "text_a": np.array([a.encode() for a, _ in pairs], object),
            "text_b": np.array([b.encode() for _, b in pairs], object),
        },
        "serve_token_ids": features,
        "serve_examples": {"examples": np.array(serialized[:3], object)},
    }
    signature_defs = _signature_defs(version)
    loaded = tf.saved_model.load(str(version))
    expected = _test_results(out)[:3]
    for name, values in inputs.items():
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "bert"
        request.model_spec.signature_name = name
        for key, value in values.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        request = predict_pb2.PredictRequest.FromString(request.SerializeToString())
        signature = signature_defs[name]
        assert set(request.inputs) == set(signature.inputs), name
        for key, proto in request.inputs.items():
            info = signature.inputs[key]
            assert proto.dtype == info.dtype, (name, key)
            wanted = [dim.size for dim in info.tensor_shape.dim]
            shape = [dim.size for dim in proto.tensor_shape.dim]
            assert len(shape) == len(wanted) and all(w in (-1, s) for w, s in zip(wanted, shape)), (
                name,
                key,
                shape,
                wanted,
            )
        # What a model server does with the request: the signature on the decoded tensors.
        served = loaded.signatures[name](
            **{key: tf.constant(tf.make_ndarray(proto)) for key, proto in request.inputs.items()}
        )
        np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-5)


@pytest.fixture(scope="module")
def predictor(mrpc_run):
    _, export_dir = mrpc_run
    return export.load(str(export_dir))


def _by_token_ids(predictor, google_folder, pairs):
    return predictor.predict_token_ids(**_reference_features(google_folder, pairs))


def test_predictor_keeps_the_model_loaded(predictor, mrpc_run):
    out, export_dir = mrpc_run
    assert predictor.path == str(export_dir / "1")
    assert predictor.labels == ["0", "1"]
    first = predictor([a for a, _ in TEST_PAIRS], [b for _, b in TEST_PAIRS])
    second = predictor([a for a, _ in TEST_PAIRS], [b for _, b in TEST_PAIRS])
    np.testing.assert_allclose(first["probabilities"], _test_results(out), atol=1e-5)
    np.testing.assert_array_equal(first["probabilities"], second["probabilities"])


def test_empty_text_is_cls_sep(predictor, google_folder):
    got = predictor(["", "the cat"], ["", ""])
    want = _by_token_ids(predictor, google_folder, [("", ""), ("the cat", "")])
    np.testing.assert_allclose(got["probabilities"], want["probabilities"], atol=1e-6)
    assert np.all(np.isfinite(got["logits"]))


def test_very_long_text_is_truncated_like_training(predictor, google_folder):
    long_a = "the cat sat on the mat " * 20000  # 120k words
    pairs = [(long_a, "a dog"), (long_a, ""), ("a dog", long_a)]
    got = predictor([a for a, _ in pairs], [b for _, b in pairs])
    want = _by_token_ids(predictor, google_folder, pairs)
    np.testing.assert_allclose(got["probabilities"], want["probabilities"], atol=1e-6)


def test_invalid_utf8_bytes_are_dropped_like_full_tokenizer(predictor, google_folder):
    raw = b"the \xff\xfecat sat \xc3"
    got = predictor([raw, b"\x80"], [b"a dog", b""])
    # FullTokenizer (convert_to_unicode) drops the bytes that are not UTF-8.
    want = _by_token_ids(predictor, google_folder, [("the cat sat ", "a dog"), ("", "")])
    np.testing.assert_allclose(got["probabilities"], want["probabilities"], atol=1e-6)


def test_batch_mixing_pairs_and_single_texts(predictor, google_folder):
    pairs = [("the cat sat", "a dog ran"), ("the cat sat", ""), ("big dog", "small")]
    got = predictor([a for a, _ in pairs], [b for _, b in pairs])
    want = _by_token_ids(predictor, google_folder, pairs)
    np.testing.assert_allclose(got["probabilities"], want["probabilities"], atol=1e-6)
    alone = predictor(["the cat sat"], [""])
    np.testing.assert_allclose(alone["probabilities"][0], got["probabilities"][1], atol=1e-6)


def test_bad_requests_are_errors_and_the_model_keeps_serving(predictor, mrpc_run):
    loaded = predictor._loaded.signatures
    with pytest.raises(tf.errors.InvalidArgumentError, match="same number of texts"):
        loaded["serving_default"](text_a=tf.constant(["a", "b"]), text_b=tf.constant(["a"]))
    with pytest.raises(tf.errors.InvalidArgumentError):
        predictor.predict_examples([b"not a tf.Example"])
    ids = np.full([1, SEQ], 500, np.int32)  # beyond the vocabulary
    with pytest.raises(tf.errors.InvalidArgumentError):
        predictor.predict_token_ids(ids, np.ones_like(ids), np.zeros_like(ids))
    with pytest.raises(TypeError, match="list of texts"):
        predictor("one string")
    out, _ = mrpc_run
    still = predictor([TEST_PAIRS[0][0]], [TEST_PAIRS[0][1]])
    np.testing.assert_allclose(still["probabilities"][0], _test_results(out)[0], atol=1e-5)


def test_predictor_rejects_bad_input_before_running_the_model(predictor):
    # Non-texts used to be read as empty texts; wrong shapes used to be broadcast.
    with pytest.raises(TypeError, match=r"text_a\[0\] is int"):
        predictor([1], [2])
    with pytest.raises(TypeError, match=r"text_b\[1\] is NoneType"):
        predictor(["a", "b"], ["c", None])
    with pytest.raises(ValueError, match="text_a has 2 texts but text_b has 1"):
        predictor(["a", "b"], ["c"])
    ids = np.array([[2, 7, 3] + [0] * (SEQ - 3)] * 2, np.int32)
    mask, segments = (ids > 0).astype(np.int32), np.zeros_like(ids)
    cases = [
        ((ids, mask[:1], segments), ValueError, r"one shape .*input_mask \[1, "),
        ((ids, mask[:, :5], segments), ValueError, "one shape"),
        ((ids, mask[0], segments), ValueError, r"input_mask has shape \[16\]; this export takes"),
        ((ids, mask * 2, segments), ValueError, "only 0 .* and 1"),
        ((ids.astype(np.float32), mask, segments), TypeError, "input_ids must hold integers"),
        ((-ids, mask, segments), ValueError, "must not be negative"),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            predictor.predict_token_ids(*args)
    long = np.ones([1, SEQ + 1], np.int32)
    with pytest.raises(ValueError, match=f"at most max_seq_length={SEQ}"):
        predictor.predict_token_ids(long, long, 0 * long)
    good = predictor.predict_token_ids(ids, mask, segments)["probabilities"]
    assert good.shape == (2, 2)


def test_run_classifier_export_needs_a_fine_tuned_checkpoint(google_folder, tmp_path):
    data = tmp_path / "MRPC"
    _tsv(
        data / "test.tsv",
        [["index", "#1 ID", "#2 ID", "#1 String", "#2 String"], [0, 0, 0, "a", "b"]],
    )
    with pytest.raises(ValueError, match="--export_dir needs a fine-tuned checkpoint"):
        _run_classifier(
            google_folder,
            data,
            tmp_path / "out",
            do_train=False,
            export_dir=str(tmp_path / "export"),
        )
    assert not (tmp_path / "export").exists()


SQUAD_SEQ = 24
SQUAD_QUERY = 6
SQUAD_CONTEXTS = [
    "The cat sat on the mat.\tA dog ran\nvery big\u202fdogs, not small!",
    "  café  cats is good " + "the dog ran on a mat " * 4,
    "zebra",
]
SQUAD_QUESTIONS = ["Who sat on the mat?", "is the " * 8 + "cat good", ""]


@pytest.fixture(scope="module")
def squad_export(tmp_path_factory, google_folder):
    root = tmp_path_factory.mktemp("export_squad")
    config = BertConfig.from_json_file(str(google_folder / "bert_config.json"))
    model = heads.BertSpanLabeler(config)
    model.build()
    rng = np.random.default_rng(3)
    for weight in model.weights:
        weight.assign(rng.normal(0.0, 0.1, weight.shape).astype(np.float32))
    prefix = checkpoints.save_google_checkpoint(model, str(root / "model.ckpt-1"))
    tf.compat.v1.train.update_checkpoint_state(str(root), prefix)
    # run_squad.py --export_dir's own step, on a fine-tuned output_dir.
    values = {
        "output_dir": str(root),
        "vocab_file": str(google_folder / "vocab.txt"),
        "do_lower_case": True,
        "max_seq_length": SQUAD_SEQ,
        "max_query_length": SQUAD_QUERY,
        "export_dir": str(root / "export"),
    }
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(**values):
        path = run_squad.export_model(config)
    assert path == str(root / "export" / "1")
    return export.load(path)


def _first_windows(google_folder):
    data = [
        {
            "paragraphs": [
                {"context": context, "qas": [{"id": str(i), "question": question}]}
                for i, (context, question) in enumerate(zip(SQUAD_CONTEXTS, SQUAD_QUESTIONS))
            ]
        }
    ]
    examples, _ = squad.parse_squad_examples(data, is_training=False)
    features = []
    squad.convert_examples_to_features(
        examples,
        FullTokenizer(str(google_folder / "vocab.txt"), do_lower_case=True),
        SQUAD_SEQ,
        8,
        SQUAD_QUERY,
        False,
        features.append,
        num_logged_examples=0,
    )
    return examples, [f for f in features if f.doc_span_index == 0]


def test_squad_text_signature_matches_the_original_first_window(squad_export, google_folder):
    examples, windows = _first_windows(google_folder)
    assert len(windows) == len(SQUAD_CONTEXTS)
    served = squad_export(SQUAD_QUESTIONS, SQUAD_CONTEXTS)
    by_ids = squad_export.predict_token_ids(
        *(np.array([getattr(f, name) for f in windows]) for name in records.SEQUENCE_FEATURES)
    )
    for key in ("start_logits", "end_logits"):
        assert served[key].shape == (len(windows), SQUAD_SEQ)
        np.testing.assert_allclose(served[key], by_ids[key], atol=1e-5)
    # Every context token maps back to the bytes of the word it came from.
    for row, (example, window, context) in enumerate(zip(examples, windows, SQUAD_CONTEXTS)):
        raw = context.encode("utf-8")
        for position in range(SQUAD_SEQ):
            start = served["start_offsets"][row, position]
            end = served["end_offsets"][row, position]
            if position in window.token_to_orig_map:
                word = example.doc_tokens[window.token_to_orig_map[position]]
                assert raw[start:end].decode("utf-8") == word
            else:
                assert start == end == -1


def test_squad_signatures_agree(squad_export, google_folder):
    _, windows = _first_windows(google_folder)
    serialized = [
        records.serialize_example(squad.feature_record(f, is_training=False)) for f in windows
    ]
    by_examples = squad_export.predict_examples(serialized)
    served = squad_export(SQUAD_QUESTIONS, SQUAD_CONTEXTS)
    np.testing.assert_allclose(by_examples["start_logits"], served["start_logits"], atol=1e-5)
    with pytest.raises(ValueError, match="contexts"):
        squad_export(["a question"])


def test_versions_and_a_single_text_regression_export(mrpc_run, google_folder, tmp_path):
    """STS-B-like (one output, no labels) on single texts; a new export takes the next version."""
    export_dir = tmp_path / "export"
    (export_dir / "7").mkdir(parents=True)
    config = BertConfig.from_json_file(str(google_folder / "bert_config.json"))
    model = heads.BertClassifier(config, 1)
    model.build()
    module = export.build_serving_module(
        model,
        "classifier",
        str(google_folder / "vocab.txt"),
        True,
        SEQ,
        config,
        work_dir=str(tmp_path),
    )
    path = export.write_saved_model(module, str(export_dir))
    assert path == str(export_dir / "8")
    assert sorted(os.listdir(export_dir)) == ["7", "8"]
    predictor = export.load(str(export_dir))
    assert predictor.path == path
    served = predictor(["the cat sat", "a dog"])
    assert sorted(served) == ["logits", "predictions"]
    want = model(_reference_features(google_folder, [("the cat sat", ""), ("a dog", "")]))
    np.testing.assert_allclose(served["predictions"], want["predictions"], atol=1e-6)
    assert (export_dir / "8" / "assets" / "labels.txt").read_text() == ""
    with pytest.raises(ValueError, match="takes single texts"):
        predictor(["a"], ["b"])
    out, _ = mrpc_run
    settings = {
        "model_type": "classifier",
        "bert_config": config,
        "init_checkpoint": str(out),
        "vocab_file": str(google_folder / "vocab.txt"),
        "do_lower_case": True,
        "max_seq_length": SEQ,
        "export_dir": str(export_dir),
        "labels": ["0", "1"],
    }
    with pytest.raises(ValueError, match="exists already"):
        export.export_saved_model(version=8, **settings)
    with pytest.raises(ValueError, match="model_type"):
        export.export_saved_model(**dict(settings, model_type="no_such_type"))


def test_onnx_export_of_the_token_id_signature(mrpc_run, google_folder, tmp_path):
    """Stretch: tf2onnx + onnxruntime (optional extra) give the SavedModel's outputs."""
    pytest.importorskip("tf2onnx", reason="pip install --no-deps -r requirements-onnx.txt")
    onnxruntime = pytest.importorskip("onnxruntime")
    out, export_dir = mrpc_run
    with pytest.raises(ValueError, match="tensorflow-text"):
        export.export_onnx(str(export_dir), str(tmp_path / "text.onnx"), "serving_default")
    path = export.export_onnx(str(export_dir), str(tmp_path / "ids.onnx"))
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    features = _reference_features(google_folder, TEST_PAIRS)
    names = [output.name for output in session.get_outputs()]
    got = dict(zip(names, session.run(None, features)))
    np.testing.assert_allclose(got["probabilities"], _test_results(out), atol=1e-4)
    assert [str(label) for label in got["labels"]] == [
        ["0", "1"][i] for i in np.argmax(_test_results(out), axis=1)
    ]
