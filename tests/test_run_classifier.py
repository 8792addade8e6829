"""run_classifier.py end to end on a tiny model: outputs, metrics recomputed, resume, STS-B, errors.

The script is imported into this process like the other scripts' tests (tests/conftest.py lets a
later definition of a shared flag name replace an earlier one), so every flag main() reads is
set explicitly here.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from absl import flags
from absl.testing import flagsaver

import run_classifier
from conftest import REPO, SPECIAL_TOKENS, fine_tuning_flags, write_google_folder
from bert_tf import checkpoints, metrics, records
from bert_tf.heads import BertClassifier
from bert_tf.modeling import BertConfig
from bert_tf.tasks import glue
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
    ".",
    "##s",
]
WORDS = VOCAB[5:20]
MNLI_LABELS = ["contradiction", "entailment", "neutral"]


def _sentence(rng, n=None):
    return " ".join(rng.choice(WORDS, size=n or int(rng.integers(2, 7))))


def _tsv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(map(str, row)) + "\n" for row in rows))


def _mnli_files(folder, rng):
    head = [
        "index",
        "promptID",
        "pairID",
        "genre",
        "s1bp",
        "s2bp",
        "s1p",
        "s2p",
        "sentence1",
        "sentence2",
    ]
    meta = ["1", "1n", "fiction", "()", "()", "()", "()"]

    def labelled(n, extra):
        return [
            [i] + meta + [_sentence(rng), _sentence(rng)] + [rng.choice(MNLI_LABELS)] * extra
            for i in range(n)
        ]

    train = labelled(24, 2)
    _tsv(folder / "train.tsv", [head + ["label1", "gold_label"]] + train)
    dev = {"matched": labelled(7, 6), "mismatched": labelled(5, 6)}
    dev_head = head + [f"label{i}" for i in range(1, 6)] + ["gold_label"]
    for kind, rows in dev.items():
        _tsv(folder / f"dev_{kind}.tsv", [dev_head] + rows)
        # The test files hold the dev pairs, so that predictions can be checked against labels.
        _tsv(folder / f"test_{kind}.tsv", [head] + [row[:10] for row in rows])
    _tsv(
        folder.parent / "diagnostic" / "diagnostic.tsv",
        [["index", "sentence1", "sentence2"], [0, "the cat", "a dog"], [1, "big", "small"]],
    )
    return dev


@pytest.fixture(scope="module")
def google_folder(tmp_path_factory):
    """A Google-layout folder: bert_config.json, bert_model.ckpt (TF1 format), vocab.txt."""
    return write_google_folder(tmp_path_factory.mktemp("models") / "tiny_L-2_H-32", VOCAB, seed=3)


def _flags(folder, data_dir, output_dir, **overrides):
    mine = {
        "data_dir": str(data_dir),
        "task_name": "mnli",
        "xnli_language": "zh",
        "trim_padding": False,
        "doc_stride": 0,
        "window_pooling": "mean",
        "max_seq_length": SEQ,
        "learning_rate": 1e-3,
        "num_train_epochs": 1.0,
        "log_every_steps": 1,
    }
    return fine_tuning_flags(folder, output_dir, **{**mine, **overrides})


def _main(folder, data_dir, output_dir, **overrides):
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(**_flags(folder, data_dir, output_dir, **overrides)):
        run_classifier.main([])


def _results(path):
    return {k: float(v) for k, v in (line.split(" = ") for line in path.read_text().splitlines())}


def _table(path):
    return np.array(
        [[float(v) for v in line.split("\t")] for line in path.read_text().splitlines()]
    )


def _reference_outputs(folder, checkpoint, processor, examples, seq=SEQ):
    """The fine-tuned model's logits, recomputed outside the script from its checkpoint."""
    model = BertClassifier(
        BertConfig.from_json_file(str(folder / "bert_config.json")), processor.num_labels
    )
    model.build()
    checkpoints.load_google_checkpoint(model, str(checkpoint))
    tokenizer = FullTokenizer(str(folder / "vocab.txt"))
    features = glue.convert_examples_to_features(examples, processor, seq, tokenizer, 0)
    batch = {
        name: np.array([getattr(f, attr) for f in features], np.int32)
        for name, attr in (
            ("input_ids", "input_ids"),
            ("input_mask", "input_mask"),
            ("segment_ids", "segment_ids"),
        )
    }
    return model(batch, training=False)["logits"].numpy()


# What an MNLI run writes: the results of every eval and predict set, and the first records.
MNLI_RESULTS = (
    "eval_results.txt",
    "eval_results_mm.txt",
    "test_results.tsv",
    "test_results_mm.tsv",
    "test_results_ax.tsv",
    "MNLI-m.tsv",
    "MNLI-mm.tsv",
    "AX.tsv",
    "train.tf_record",
    "eval.tf_record",
)


@pytest.fixture(scope="module")
def mnli_run(google_folder, tmp_path_factory):
    root = tmp_path_factory.mktemp("mnli")
    data = root / "MNLI"
    dev = _mnli_files(data, np.random.default_rng(0))
    out = root / "out"
    _main(google_folder, data, out, do_train=True, do_eval=True, do_predict=True)
    return data, out, dev


def test_outputs_names_and_layouts(mnli_run):
    data, out, dev = mnli_run
    names = {p.name for p in out.iterdir()}
    assert {
        *MNLI_RESULTS,
        "eval_mm.tf_record",
        "predict.tf_record",
        "predict_mm.tf_record",
        "predict_ax.tf_record",
        "checkpoint",
        "model.ckpt-6.index",
    } <= names
    # 24 examples / batch 4 x 1 epoch = 6 steps.
    keys = [line.split(" = ")[0] for line in (out / "eval_results.txt").read_text().splitlines()]
    assert keys == ["eval_accuracy", "eval_loss", "global_step", "loss"]
    assert _results(out / "eval_results.txt")["global_step"] == 6
    assert _results(out / "eval_results_mm.txt")["global_step"] == 6

    # Eval records are padded to whole batches with not-real examples: 7 -> 8, 5 -> 8.
    for name, real in (("eval.tf_record", 7), ("eval_mm.tf_record", 5)):
        counts = [
            int(b["is_real_example"].numpy().sum())
            for b in records.classifier_dataset(str(out / name), 8, SEQ, is_training=False)
        ]
        assert counts == [real]
    # One line per real test example, three probabilities each.
    probs = _table(out / "test_results.tsv")
    assert probs.shape == (7, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert _table(out / "test_results_mm.tsv").shape == (5, 3)
    assert _table(out / "test_results_ax.tsv").shape == (2, 3)
    lines = (out / "MNLI-m.tsv").read_text().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == 8
    assert [line.split("\t")[0] for line in lines[1:]] == [str(i) for i in range(7)]
    assert all(line.split("\t")[1] in MNLI_LABELS for line in lines[1:])
    predicted = [MNLI_LABELS[i] for i in probs.argmax(axis=1)]
    assert [line.split("\t")[1] for line in lines[1:]] == predicted
    assert (out / "AX.tsv").read_text().startswith("index\tprediction\n0\t")


def test_eval_metrics_match_an_independent_recomputation(google_folder, mnli_run):
    data, out, dev = mnli_run
    processor = glue.get_processor("mnli")
    for kind, suffix in (("matched", ""), ("mismatched", "_mm")):
        labels = np.array([MNLI_LABELS.index(row[-1]) for row in dev[kind]])
        probs = _table(out / f"test_results{suffix}.tsv")
        results = _results(out / f"eval_results{suffix}.txt")
        assert results["eval_accuracy"] == pytest.approx(
            metrics.accuracy(probs.argmax(axis=1), labels), abs=1e-7
        )
        examples = processor.get_examples(str(data), f"dev_{kind}")
        logits = _reference_outputs(google_folder, out / "model.ckpt-6", processor, examples)
        np.testing.assert_allclose(
            probs, np.exp(logits) / np.exp(logits).sum(1, keepdims=True), rtol=1e-4, atol=1e-6
        )
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        eval_loss = -log_probs[np.arange(len(labels)), labels].mean()
        assert results["eval_loss"] == pytest.approx(eval_loss, rel=1e-4)


def test_trim_padding_gives_the_full_length_outputs(google_folder, tmp_path):
    # At max_seq_length 40 these pairs (at most 15 tokens) run in batches 16 wide or less.
    data = tmp_path / "MNLI"
    dev = _mnli_files(data, np.random.default_rng(5))
    out = tmp_path / "out"
    _main(
        google_folder,
        data,
        out,
        max_seq_length=40,
        do_train=True,
        do_eval=True,
        do_predict=True,
        trim_padding=True,
    )
    processor = glue.get_processor("mnli")
    examples = processor.get_examples(str(data), "dev_matched")
    logits = _reference_outputs(google_folder, out / "model.ckpt-6", processor, examples, seq=40)
    probs = _table(out / "test_results.tsv")
    np.testing.assert_allclose(
        probs, np.exp(logits) / np.exp(logits).sum(1, keepdims=True), rtol=1e-4, atol=1e-6
    )
    labels = np.array([MNLI_LABELS.index(row[-1]) for row in dev["matched"]])
    results = _results(out / "eval_results.txt")
    assert results["global_step"] == 6
    assert results["eval_accuracy"] == pytest.approx(
        metrics.accuracy(probs.argmax(axis=1), labels), abs=1e-7
    )


def test_resume_continues_and_eval_only_reads_the_output_dir(google_folder, mnli_run, monkeypatch):
    data, out, _ = mnli_run
    before = _results(out / "eval_results.txt")
    # Eval only, no init checkpoint: the fine-tuned weights come from output_dir.
    _main(google_folder, data, out, do_eval=True, init_checkpoint=None)
    again = _results(out / "eval_results.txt")
    assert again["global_step"] == 6
    assert again["eval_accuracy"] == before["eval_accuracy"]
    assert again["eval_loss"] == pytest.approx(before["eval_loss"], rel=1e-5)

    # Two epochs now: the run resumes at step 6 and ends at 12.
    restored = []
    restore = checkpoints.restore_training_checkpoint

    def spy(model, optimizer, prefix):
        restored.append((os.path.basename(prefix), restore(model, optimizer, prefix)))
        return restored[-1][1]

    monkeypatch.setattr(checkpoints, "restore_training_checkpoint", spy)
    _main(google_folder, data, out, do_train=True, num_train_epochs=2.0)
    assert restored == [("model.ckpt-6", 6)]
    assert (out / "model.ckpt-12.index").exists()


def test_stsb_regression_end_to_end(google_folder, tmp_path):
    rng = np.random.default_rng(1)
    head = [
        "index",
        "genre",
        "filename",
        "year",
        "old_index",
        "source1",
        "source2",
        "sentence1",
        "sentence2",
    ]
    meta = ["main-captions", "MSRvid", "2012test", "0001", "none", "none"]
    train = [
        [i] + meta + [_sentence(rng), _sentence(rng), f"{rng.uniform(0, 5):.3f}"] for i in range(12)
    ]
    dev = [
        [i] + meta + [_sentence(rng), _sentence(rng), f"{rng.uniform(0, 5):.3f}"] for i in range(5)
    ]
    data = tmp_path / "STS-B"
    _tsv(data / "train.tsv", [head + ["score"]] + train)
    _tsv(data / "dev.tsv", [head + ["score"]] + dev)
    _tsv(data / "test.tsv", [head] + [row[:9] for row in dev])
    out = tmp_path / "out"
    _main(
        google_folder,
        data,
        out,
        task_name="STS-B",
        do_train=True,
        do_eval=True,
        do_predict=True,
        num_train_epochs=2.0,
    )

    results = _results(out / "eval_results.txt")
    assert sorted(results) == [
        "eval_corr",
        "eval_loss",
        "eval_pearson",
        "eval_spearman",
        "global_step",
        "loss",
    ]
    assert results["global_step"] == 6
    scores = _table(out / "test_results.tsv")
    assert scores.shape == (5, 1)
    gold = np.array([float(row[-1]) for row in dev])
    # Eval and predict batch the dev rows differently (4 and 3 a batch), so a prediction may move
    # by a float32 rounding; this tiny model's predictions are close together, and the correlation
    # moves by about that rounding over their spread.
    rounding = np.finfo(np.float32).eps * np.abs(scores).max() / scores.std()
    assert results["eval_pearson"] == pytest.approx(
        metrics.pearson(scores[:, 0], gold), abs=max(1e-5, rounding)
    )
    assert results["eval_spearman"] == pytest.approx(metrics.spearman(scores[:, 0], gold))
    assert results["eval_loss"] == pytest.approx(np.mean((scores[:, 0] - gold) ** 2), rel=1e-4)
    lines = (out / "STS-B.tsv").read_text().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == 6
    np.testing.assert_allclose(
        [float(line.split("\t")[1]) for line in lines[1:]], scores[:, 0], rtol=1e-6
    )
    label = records.read_first_example(str(out / "train.tf_record")).features.feature["label_ids"]
    assert list(label.float_list.value) == pytest.approx([float(train[0][-1])])


def test_bad_input_errors(google_folder, tmp_path):
    data = tmp_path / "MNLI"
    _mnli_files(data, np.random.default_rng(2))
    out = tmp_path / "out"
    cases = [
        (dict(), ValueError, "At least one of --do_train, --do_eval or --do_predict"),
        (dict(do_train=True, task_name="squad"), ValueError, "not a known task; choose one of"),
        (
            dict(do_predict=True, data_dir=str(tmp_path / "nowhere")),
            FileNotFoundError,
            "no such folder",
        ),
        (
            dict(do_eval=True, task_name="sst-2"),
            FileNotFoundError,
            r"lacks the sst-2 files dev.tsv \(for --do_eval\)",
        ),
        (
            dict(do_train=True, task_name="mrpc"),
            ValueError,
            r"MNLI/train.tsv, line \d+: label '\d+' is not one of mrpc's labels",
        ),
        (dict(do_train=True, max_seq_length=65), ValueError, "max_position_embeddings=64"),
        (
            dict(do_train=True, init_checkpoint="/x/cased_L-12_H-768_A-12/bert_model.ckpt"),
            ValueError,
            "--do_lower_case=False",
        ),
        (
            dict(do_train=True, init_checkpoint=str(tmp_path / "none.ckpt")),
            FileNotFoundError,
            "Checkpoint not found",
        ),
        (dict(do_train=True, train_batch_size=64), ValueError, "gives no training step"),
        ({"do_train": True, "doc_stride": -1}, ValueError, r"--doc_stride must be 0 \(off\)"),
    ]
    for overrides, error, message in cases:
        folder = overrides.pop("data_dir", data)
        with pytest.raises(error, match=message):
            _main(google_folder, folder, out, **overrides)


def test_command_line_reports_errors_and_keeps_googles_defaults(google_folder, tmp_path):
    script = REPO / "run_classifier.py"
    check = subprocess.Popen(
        [
            sys.executable,
            str(script),
            "--task_name=cola",
            f"--data_dir={tmp_path}",
            f"--vocab_file={google_folder / 'vocab.txt'}",
            f"--bert_config_file={google_folder / 'bert_config.json'}",
            f"--output_dir={tmp_path / 'out'}",
            f"--max_seq_length={SEQ}",
            "--do_eval",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    code = (
        "import json, run_classifier; from absl import flags; "
        "print(json.dumps({f.name: f.default for f in "
        "flags.FLAGS.get_key_flags_for_module(run_classifier)}))"
    )
    defaults = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    _, stderr = check.communicate(timeout=300)
    assert check.returncode == 1, stderr[-2000:]
    assert "error: --data_dir=" in stderr and "lacks the cola files dev.tsv" in stderr
    assert "Traceback" not in stderr

    values = json.loads(defaults.stdout.strip().splitlines()[-1])
    google = dict(
        do_lower_case=True,
        max_seq_length=128,
        do_train=False,
        do_eval=False,
        do_predict=False,
        train_batch_size=32,
        eval_batch_size=8,
        predict_batch_size=8,
        learning_rate=5e-5,
        num_train_epochs=3.0,
        warmup_proportion=0.1,
        save_checkpoints_steps=1000,
        iterations_per_loop=1000,
        use_tpu=False,
        num_tpu_cores=8,
        data_dir=None,
        task_name=None,
        init_checkpoint=None,
    )
    assert {k: values[k] for k in google} == google


# ---------------------------------------------------------------------------------------------
# --doc_stride: long texts in overlapping windows


def test_doc_stride_changes_nothing_when_every_text_fits(google_folder, mnli_run, tmp_path):
    data, out, _ = mnli_run  # the same run without --doc_stride
    windowed = tmp_path / "out"
    _main(
        google_folder,
        data,
        windowed,
        do_train=True,
        do_eval=True,
        do_predict=True,
        doc_stride=3,
        window_pooling="max",
    )
    for name in MNLI_RESULTS:
        assert (windowed / name).read_bytes() == (out / name).read_bytes(), name


FILLER = ["the", "a", "cat", "dog", "sat", "ran", "on", "mat", "is", "very", "big", "small"]


def _end_signal_docs(rng, n):
    """Documents of 18 neutral words whose label shows only in the last two: good/bad."""
    rows = []
    for i in range(n):
        label = i % 2
        words = list(rng.choice(FILLER, size=18)) + ["good" if label else "bad"] * 2
        rows.append((" ".join(words), label))
    return rows


def test_a_signal_at_the_end_of_long_documents_is_learned_only_with_windows(
    google_folder, tmp_path
):
    rng = np.random.default_rng(11)
    data = tmp_path / "SST-2"
    train, dev, test = (_end_signal_docs(rng, n) for n in (64, 32, 6))
    _tsv(data / "train.tsv", [("sentence", "label"), *train])
    _tsv(data / "dev.tsv", [("sentence", "label"), *dev])
    _tsv(data / "test.tsv", [("index", "sentence"), *((i, t) for i, (t, _) in enumerate(test))])
    common = {
        "task_name": "sst-2",
        "do_train": True,
        "do_eval": True,
        "do_predict": True,
        "train_batch_size": 16,
        "eval_batch_size": 8,
        "num_train_epochs": 6.0,
        "learning_rate": 1e-3,
    }
    # 20 WordPieces, windows of 14 starting every 7: 0 and 7; only the second holds the end,
    # truncation keeps the first 14 only.
    _main(google_folder, data, tmp_path / "windows", doc_stride=7, **common)
    _main(google_folder, data, tmp_path / "truncated", doc_stride=0, **common)
    with_windows = _results(tmp_path / "windows" / "eval_results.txt")
    truncated = _results(tmp_path / "truncated" / "eval_results.txt")
    assert with_windows["global_step"] == 48  # 64 documents x 2 windows / 16 x 6 epochs
    assert with_windows["eval_accuracy"] >= 0.9, with_windows
    assert truncated["eval_accuracy"] <= 0.7, truncated  # it never sees the signal
    # Every output stays per document.
    probs = _table(tmp_path / "windows" / "test_results.tsv")
    assert probs.shape == (6, 2)
    submission = (tmp_path / "windows" / "SST-2.tsv").read_text().splitlines()
    assert submission[1:] == [f"{i}\t{int(p[1] > p[0])}" for i, p in enumerate(probs)]
