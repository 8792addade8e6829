"""run_pretraining.py end to end on a tiny config: train, checkpoints, resume, eval_results.txt."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver

import numpy_bert
import run_pretraining
from conftest import REPO, SPECIAL_TOKENS, pretraining_flags, write_tf1_checkpoint
from bert_tf import records
from bert_tf.heads import BertPretrainer
from bert_tf.metrics import finish_pretraining_metrics, pretraining_metric_sums
from bert_tf.modeling import BertConfig
from bert_tf import checkpoints

FLAGS = flags.FLAGS
SEQ, PREDS = 16, 3


def _examples(n, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        length = int(rng.integers(8, SEQ + 1))
        ids = [2] + list(rng.integers(5, 99, size=length - 2)) + [3] + [0] * (SEQ - length)
        npred = int(rng.integers(1, PREDS + 1))
        positions = sorted(rng.choice(np.arange(1, length - 1), size=npred, replace=False))
        yield {
            "input_ids": ids,
            "input_mask": [1] * length + [0] * (SEQ - length),
            "segment_ids": [0] * (length // 2) + [1] * (SEQ - length // 2),
            "masked_lm_positions": list(positions) + [0] * (PREDS - npred),
            "masked_lm_ids": list(rng.integers(5, 99, size=npred)) + [0] * (PREDS - npred),
            "masked_lm_weights": [1.0] * npred + [0.0] * (PREDS - npred),
            "next_sentence_labels": [int(rng.integers(0, 2))],
        }


@pytest.fixture
def setup(tmp_path, tiny_config_dict):
    records.write_examples([str(tmp_path / "a.tfrecord"), str(tmp_path / "b.tfrecord")], _examples(40))
    (tmp_path / "bert_config.json").write_text(json.dumps(tiny_config_dict))
    weights = numpy_bert.random_weights(tiny_config_dict, seed=4, scale=0.05)
    write_tf1_checkpoint(weights, str(tmp_path / "init" / "bert_model.ckpt"))
    return tmp_path


def _main(setup, **overrides):
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    values = pretraining_flags(
        setup,
        setup / "out",
        SEQ,
        PREDS,
        init_checkpoint=str(setup / "init" / "bert_model.ckpt"),
        eval_batch_size=4,
        save_checkpoints_steps=3,
        iterations_per_loop=2,
        max_eval_steps=5,
        log_every_steps=1,
    )
    values.update(overrides)
    with flagsaver.flagsaver(**values):
        run_pretraining.main([])


def _eval_results(path):
    out = {}
    for line in path.read_text().splitlines():
        key, value = line.split(" = ")
        out[key] = float(value)
    return out


def test_train_resume_and_eval(setup):
    _main(setup, do_train=True, num_train_steps=3)
    assert sorted(p.name for p in (setup / "out").glob("model.ckpt-*.index")) == ["model.ckpt-3.index"]
    _main(setup, do_train=True, do_eval=True)  # the same command again continues to step 6
    assert sorted(p.name for p in (setup / "out").glob("model.ckpt-*.index")) == [
        "model.ckpt-3.index", "model.ckpt-6.index"
    ]
    text = (setup / "out" / "eval_results.txt").read_text()
    keys = [line.split(" = ")[0] for line in text.splitlines()]
    assert keys == [
        "global_step", "loss", "masked_lm_accuracy", "masked_lm_loss",
        "next_sentence_accuracy", "next_sentence_loss",
    ]
    results = _eval_results(setup / "out" / "eval_results.txt")
    assert results["global_step"] == 6

    # The eval numbers are the original's definitions over 5 batches of 4, in file order,
    # recomputed here with the final checkpoint and plain numpy bookkeeping.
    model = BertPretrainer(BertConfig.from_json_file(str(setup / "bert_config.json")))
    model.build()
    checkpoints.load_google_checkpoint(model, str(setup / "out" / "model.ckpt-6"))
    batches = list(
        records.pretraining_dataset(str(setup / "*.tfrecord"), 4, SEQ, PREDS, is_training=False).take(5)
    )
    sums = {}
    for batch in batches:
        for k, v in pretraining_metric_sums(model(batch, training=False), batch).items():
            sums[k] = sums.get(k, 0.0) + float(v)
    sums["num_batches"] = 5
    expected = finish_pretraining_metrics(sums)
    weights = np.concatenate([b["masked_lm_weights"].numpy().ravel() for b in batches])
    assert sums["masked_lm_weight"] == weights.sum()
    for key, value in expected.items():
        assert results[key] == pytest.approx(value, rel=2e-6, abs=1e-6)


def test_eval_only_from_google_checkpoint(setup):
    _main(setup, do_eval=True, output_dir=str(setup / "eval_only"))
    results = _eval_results(setup / "eval_only" / "eval_results.txt")
    assert results["global_step"] == 0
    assert 0 <= results["masked_lm_accuracy"] <= 1 and results["masked_lm_loss"] > 0


def test_mismatched_max_predictions_is_a_clear_error(setup):
    result = subprocess.run(
        [sys.executable, str(REPO / "run_pretraining.py"), f"--bert_config_file={setup / 'bert_config.json'}",
         f"--input_file={setup / '*.tfrecord'}", f"--output_dir={setup / 'bad'}", "--do_eval",
         f"--max_seq_length={SEQ}", "--max_predictions_per_seq=20"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1
    assert "max_predictions_per_seq" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run(
        [sys.executable, str(REPO / "run_pretraining.py"), f"--bert_config_file={setup / 'bert_config.json'}",
         f"--input_file={setup / 'nothing*.tfrecord'}", f"--output_dir={setup / 'bad'}", "--do_eval",
         f"--max_seq_length={SEQ}"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1 and "nothing*.tfrecord" in result.stderr


@pytest.mark.parametrize(
    "extra",
    [
        dict(use_mixed_precision=True),
        dict(use_xla=True),
        dict(gradient_accumulation_steps=2),
        dict(optimizer="lamb", use_bias_correction=True),
    ],
    ids=["bfloat16", "xla", "accumulation", "lamb"],
)
def test_training_options(setup, extra):
    out = setup / ("out_" + "_".join(extra))
    _main(setup, do_train=True, num_train_steps=2, save_checkpoints_steps=2, output_dir=str(out), **extra)
    reader = tf.train.load_checkpoint(str(out / "model.ckpt-2"))
    assert int(reader.get_tensor("global_step")) == 2
    kernel = reader.get_tensor("bert/encoder/layer_0/attention/self/query/kernel")
    assert kernel.dtype == np.float32 and np.isfinite(kernel).all()
    init = tf.train.load_checkpoint(str(setup / "init" / "bert_model.ckpt"))
    assert not np.array_equal(kernel, init.get_tensor("bert/encoder/layer_0/attention/self/query/kernel"))


def test_killed_process_resumes_to_the_same_end(setup):
    """SIGKILL the script after its first checkpoint; the same command finishes the job."""
    import signal
    import time

    out = setup / "killed"
    args = [
        sys.executable, str(REPO / "run_pretraining.py"),
        f"--bert_config_file={setup / 'bert_config.json'}", f"--input_file={setup / '*.tfrecord'}",
        f"--output_dir={out}", f"--init_checkpoint={setup / 'init' / 'bert_model.ckpt'}",
        "--do_train", f"--max_seq_length={SEQ}", f"--max_predictions_per_seq={PREDS}",
        "--train_batch_size=4", "--num_train_steps=400", "--num_warmup_steps=2",
        "--save_checkpoints_steps=5", "--iterations_per_loop=5", "--keep_checkpoint_max=100",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not list(out.glob("model.ckpt-*.index")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = sorted(int(p.name.split("-")[1].split(".")[0]) for p in out.glob("model.ckpt-*.index"))
    assert saved and saved[-1] < 400, "the run should have been killed part-way"
    result = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    import re

    resumed = int(re.search(r"Resumed from .*model\.ckpt-(\d+) at step (\d+)", result.stderr).group(1))
    # The newest checkpoint whose state-file entry was written (a kill can land between the two).
    assert resumed in saved and resumed >= saved[-1] - 5
    final = sorted(int(p.name.split("-")[1].split(".")[0]) for p in out.glob("model.ckpt-*.index"))
    assert final == list(range(5, 401, 5))
    assert int(tf.train.load_checkpoint(str(out / "model.ckpt-400")).get_tensor("global_step")) == 400


def test_dynamic_masking_trains_and_evaluates(setup):
    # The records' ids: 2 is [CLS], 3 is [SEP]; 99 tokens as the tiny config's vocab_size.
    tokens = SPECIAL_TOKENS + [f"w{i}" for i in range(94)]
    (setup / "vocab.txt").write_text("\n".join(tokens) + "\n")
    out = setup / "dynamic"
    _main(
        setup, do_train=True, do_eval=True, num_train_steps=2, save_checkpoints_steps=2, max_eval_steps=1,
        output_dir=str(out), dynamic_masking=True, vocab_file=str(setup / "vocab.txt"),
        masked_lm_prob=0.15, do_whole_word_mask=False, random_seed=12345,
    )
    assert int(tf.train.load_checkpoint(str(out / "model.ckpt-2")).get_tensor("global_step")) == 2
    results = _eval_results(out / "eval_results.txt")
    assert results["global_step"] == 2 and results["masked_lm_loss"] > 0

    too_big = SPECIAL_TOKENS + [f"w{i}" for i in range(200)]
    (setup / "big_vocab.txt").write_text("\n".join(too_big) + "\n")
    with pytest.raises(ValueError, match="vocab_size=99"):
        _main(setup, do_eval=True, output_dir=str(setup / "bad"), dynamic_masking=True,
              vocab_file=str(setup / "big_vocab.txt"))


def _eval_scalars(out):
    """{step: {tag: value}} from the TensorBoard events under <out>/eval."""
    found = {}
    for path in sorted((out / "eval").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                found.setdefault(event.step, {})[value.tag] = float(tf.make_ndarray(value.tensor))
    return found


def test_periodic_eval_on_held_out_records(setup):
    held = setup / "held" / "heldout.tfrecord"
    held.parent.mkdir()
    records.write_examples([str(held)], _examples(12, seed=7))
    common = dict(do_train=True, num_train_steps=6, save_checkpoints_steps=3, random_seed=3,
                  init_checkpoint=None, max_eval_steps=2)
    _main(setup, output_dir=str(setup / "plain"), **common)
    _main(setup, output_dir=str(setup / "periodic"), eval_every_steps=3,
          eval_input_file=str(held), do_eval=True, **common)

    scalars = _eval_scalars(setup / "periodic")
    assert sorted(scalars) == [3, 6]
    final = _eval_results(setup / "periodic" / "eval_results.txt")
    # Each periodic value is what an eval-only run of that step's checkpoint on the held-out
    # records reports; the final one is also --do_eval's (which read --eval_input_file).
    for step in (3, 6):
        _main(setup, do_eval=True, input_file=str(held), max_eval_steps=2,
              init_checkpoint=str(setup / "periodic" / f"model.ckpt-{step}"),
              output_dir=str(setup / f"check{step}"))
        check = _eval_results(setup / f"check{step}" / "eval_results.txt")
        for key in ("masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy", "loss"):
            assert scalars[step][key] == pytest.approx(check[key], rel=1e-5, abs=1e-6)
            if step == 6:
                assert final[key] == pytest.approx(check[key], rel=1e-5, abs=1e-6)

    # Evaluating between steps leaves training as it was: the same weights at the end.
    plain = tf.train.load_checkpoint(str(setup / "plain" / "model.ckpt-6"))
    periodic = tf.train.load_checkpoint(str(setup / "periodic" / "model.ckpt-6"))
    for name in plain.get_variable_to_shape_map():
        np.testing.assert_array_equal(plain.get_tensor(name), periodic.get_tensor(name), err_msg=name)

    with pytest.raises(ValueError, match="eval_every_steps"):
        _main(setup, do_train=True, eval_every_steps=-1, output_dir=str(setup / "bad"))
