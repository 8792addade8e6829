"""extract_features.py end to end: Google's JSON layout, values against the numpy reference."""

import json
import subprocess
import sys

import numpy as np
import pytest
from absl import flags
from absl.testing import flagsaver

import extract_features
import numpy_bert
from conftest import REPO, SPECIAL_TOKENS, write_tf1_checkpoint
from bert_tf.extract import parse_layers, read_examples

FLAGS = flags.FLAGS

VOCAB = [*SPECIAL_TOKENS, "the", "cat", "sat", "on", "mat", "a",
         "dog", "ran", "##s", ".", ",", "!", "run", "##ning", "hello", "world"]


@pytest.fixture
def google_folder(tmp_path, tiny_config_dict):
    """A Google-layout folder: bert_config.json, bert_model.ckpt (TF1 format), vocab.txt."""
    folder = tmp_path / "tiny_L-2_H-32"
    folder.mkdir()
    (folder / "bert_config.json").write_text(json.dumps(tiny_config_dict))
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    weights = numpy_bert.random_weights(tiny_config_dict, seed=21)
    write_tf1_checkpoint(weights, str(folder / "bert_model.ckpt"))
    return folder, weights


def _run_main(folder, input_file, output_file, **overrides):
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    values = dict(
        input_file=str(input_file),
        output_file=str(output_file),
        vocab_file=str(folder / "vocab.txt"),
        bert_config_file=str(folder / "bert_config.json"),
        init_checkpoint=str(folder / "bert_model.ckpt"),
        max_seq_length=12,
        batch_size=2,
        layers="-1,-2",
        pooling="none",
        normalize=False,
    )
    values.update(overrides)
    with flagsaver.flagsaver(**values):
        extract_features.main([])


def test_writes_google_layout_and_reference_values(google_folder, tmp_path, tiny_config_dict):
    folder, weights = google_folder
    lines = ["The cat sat on the mat.", "hello world ||| a dog runs!", "", "running " * 20]
    input_file = tmp_path / "input.txt"
    input_file.write_text("\n".join(lines) + "\n")
    output_file = tmp_path / "out.jsonl"
    _run_main(folder, input_file, output_file)

    records = [json.loads(line) for line in output_file.read_text().splitlines()]
    assert [r["linex_index"] for r in records] == [0, 1, 2, 3]
    # The raw text keeps the original's key order.
    first_line = output_file.read_text().splitlines()[0]
    assert first_line.startswith('{"linex_index": 0, "features": [{"token": "[CLS]", "layers": [{"index": -1, "values": [')
    tokens = [[t["token"] for t in r["features"]] for r in records]
    assert tokens[0] == ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]
    assert tokens[1] == ["[CLS]", "hello", "world", "[SEP]", "a", "dog", "run", "##s", "!", "[SEP]"]
    assert tokens[2] == ["[CLS]", "[SEP]"]  # blank lines are examples too
    assert len(tokens[3]) == 12 and tokens[3][-1] == "[SEP]"  # truncated to max_seq_length

    vocab = {t: i for i, t in enumerate(VOCAB)}
    for record, toks in zip(records, tokens):
        ids = np.array([[vocab[t] for t in toks]])
        seg = np.zeros_like(ids)
        if toks.count("[SEP]") == 2:
            seg[0, toks.index("[SEP]") + 1 :] = 1
        _, layers, _ = numpy_bert.forward(weights, tiny_config_dict, ids, None, seg)
        for position, feature in enumerate(record["features"]):
            assert [layer["index"] for layer in feature["layers"]] == [-1, -2]
            for layer, ref in zip(feature["layers"], (layers[-1], layers[-2])):
                values = np.array(layer["values"])
                assert values.shape == (32,)
                np.testing.assert_allclose(values, ref[0, position], atol=2e-5)
                assert all(round(v, 6) == v for v in layer["values"])


def test_pair_segments(google_folder, tmp_path):
    folder, _ = google_folder
    input_file = tmp_path / "pair.txt"
    input_file.write_text("hello world ||| a dog\n")
    output_file = tmp_path / "out.jsonl"
    _run_main(folder, input_file, output_file, layers="0")
    record = json.loads(output_file.read_text())
    assert [t["token"] for t in record["features"]] == [
        "[CLS]", "hello", "world", "[SEP]", "a", "dog", "[SEP]"
    ]
    assert record["features"][0]["layers"][0]["index"] == 0


def test_read_examples_pairs_and_blank_lines(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes("one ||| two\n\nthree|||four\n caf\xc3\xa9 \n".encode("latin-1"))
    examples = read_examples(str(path))
    assert [(e.guid, e.text_a, e.text_b) for e in examples] == [
        (0, "one", "two"), (1, "", None), (2, "three|||four", None), (3, "café", None)
    ]


def test_parse_layers():
    assert parse_layers("-1,-2,-3,-4", 12) == [-1, -2, -3, -4]
    with pytest.raises(ValueError, match="out of range"):
        parse_layers("-13", 12)
    with pytest.raises(ValueError, match="comma-separated integers"):
        parse_layers("last", 12)


def _cli(args):
    return subprocess.run(
        [sys.executable, str(REPO / "extract_features.py")] + args,
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )


def test_bad_input_gives_actionable_errors(google_folder, tmp_path):
    folder, _ = google_folder
    good_input = tmp_path / "in.txt"
    good_input.write_text("the cat\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    base = [
        f"--vocab_file={folder / 'vocab.txt'}",
        f"--bert_config_file={folder / 'bert_config.json'}",
        f"--init_checkpoint={folder / 'bert_model.ckpt'}",
        f"--output_file={tmp_path / 'o.jsonl'}",
        "--max_seq_length=32",
        "--layers=-1,-2",
    ]
    cases = [
        ([f"--input_file={tmp_path / 'missing.txt'}"], "no such file"),
        ([f"--input_file={empty}"], "file is empty"),
        ([f"--input_file={good_input}", "--max_seq_length=65"], "max_position_embeddings=64"),
    ]
    for extra, message in cases:
        result = _cli(base + extra)
        assert result.returncode == 1, result.stderr[-2000:]
        assert message in result.stderr
        assert "Traceback" not in result.stderr

    # A checkpoint whose shapes disagree with the config.
    bad_config = tmp_path / "bad_config.json"
    config = json.loads((folder / "bert_config.json").read_text())
    config["intermediate_size"] = 40
    bad_config.write_text(json.dumps(config))
    result = _cli(base[:1] + [f"--bert_config_file={bad_config}"] + base[2:] + [f"--input_file={good_input}"])
    assert result.returncode == 1
    assert "shape mismatch: bert/encoder/layer_0/intermediate/dense/kernel" in result.stderr

    # An uncased checkpoint name with do_lower_case=False.
    uncased = tmp_path / "uncased_L-12_H-768_A-12"
    uncased.mkdir()
    result = _cli(base[:2] + [
        f"--init_checkpoint={uncased / 'bert_model.ckpt'}", f"--output_file={tmp_path / 'o.jsonl'}",
        f"--input_file={good_input}", "--do_lower_case=False", "--max_seq_length=32", "--layers=-1",
    ])
    assert result.returncode == 1
    assert "do_lower_case" in result.stderr and "Traceback" not in result.stderr


def test_vocab_without_cls_is_refused(google_folder, tmp_path):
    folder, _ = google_folder
    tokens = (folder / "vocab.txt").read_text().split("\n")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(t for t in tokens if t != "[CLS]"))
    (tmp_path / "in.txt").write_text("the cat\n")
    with pytest.raises(ValueError, match=r"--vocab_file=.*vocab.txt lacks \[CLS\]"):
        _run_main(folder, tmp_path / "in.txt", tmp_path / "o.jsonl", vocab_file=str(vocab))
    assert not (tmp_path / "o.jsonl").exists()
