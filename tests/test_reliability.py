"""What a user can rely on when runs are killed, interrupted, repeated or fed bad input.

* Outputs are complete or absent: a writer killed with SIGKILL leaves no file under the final
  name, and the next run removes its temporary.
* One run per --output_dir: a second one refuses, naming the first.
* Exact resume: a seeded run killed after a checkpoint and run again ends with the weights of a
  run that never stopped (run_classifier.py killed for real; run_pretraining.py from the
  checkpoint state a kill leaves).
* Damaged inputs and checkpoints: one line naming the file; an unreadable newest checkpoint
  falls back to the one before it.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver

from bert_tf import records
from conftest import REPO, TINY_CONFIG, write_google_folder
from test_run_classifier import VOCAB, _flags, _mnli_files
from test_run_pretraining import PREDS, SEQ
from test_run_pretraining import _examples as pretraining_examples

FLAGS = flags.FLAGS


def _weights(prefix):
    reader = tf.train.load_checkpoint(str(prefix))
    return {
        name: reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()
        if not name.endswith(("adam_m", "adam_v"))
    }


def _max_difference(a, b):
    assert sorted(a) == sorted(b)
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def _keep_checkpoints_up_to(output_dir, step):
    """What a kill right after ``model.ckpt-step`` was written leaves behind."""
    for path in os.listdir(output_dir):
        if path.startswith(("model.ckpt-", "train_state.ckpt-")) and int(
            path.split("-")[1].split(".")[0]
        ) > step:
            os.remove(os.path.join(output_dir, path))
    if step:
        tf.compat.v1.train.update_checkpoint_state(
            str(output_dir), os.path.join(str(output_dir), f"model.ckpt-{step}")
        )
    else:
        os.remove(os.path.join(output_dir, "checkpoint"))


@pytest.fixture(scope="module")
def google_folder(tmp_path_factory):
    return write_google_folder(tmp_path_factory.mktemp("models") / "tiny", VOCAB, seed=3)


@pytest.fixture(scope="module")
def mnli_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("glue") / "MNLI"
    _mnli_files(data, np.random.default_rng(0))
    return data


def _classifier(folder, data, out, **overrides):
    import run_classifier

    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    values = dict(do_train=True, save_checkpoints_steps=2, iterations_per_loop=1, log_every_steps=2)
    values.update(overrides)
    with flagsaver.flagsaver(**_flags(folder, data, out, **values)):
        run_classifier.main([])


def _argv(values):
    return [f"--{name}={value}" for name, value in values.items() if value is not None]


@pytest.fixture(scope="module")
def uninterrupted(google_folder, mnli_data, tmp_path_factory):
    """run_classifier.py's 6 steps (24 examples / 4), a checkpoint every 2."""
    out = tmp_path_factory.mktemp("whole") / "out"
    _classifier(google_folder, mnli_data, out)
    return out


def test_classifier_killed_after_a_checkpoint_resumes_to_the_same_weights(
    google_folder, mnli_data, uninterrupted, tmp_path
):
    out = tmp_path / "out"
    values = _flags(
        google_folder, mnli_data, out, do_train=True, save_checkpoints_steps=2,
        iterations_per_loop=1, log_every_steps=2, num_train_epochs=1.0,
    )
    run = subprocess.Popen(
        [sys.executable, str(REPO / "run_classifier.py")] + _argv(values),
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 300
    while not (out / "model.ckpt-2.index").exists():
        assert run.poll() is None, run.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=60)
    assert not (out / "model.ckpt-6.index").exists(), "killed too late to test anything"
    _classifier(google_folder, mnli_data, out)
    difference = _max_difference(
        _weights(uninterrupted / "model.ckpt-6"), _weights(out / "model.ckpt-6")
    )
    assert difference <= 1e-6




def _pretraining(setup, out, **overrides):
    import run_pretraining

    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    values = dict(
        bert_config_file=str(setup / "bert_config.json"),
        input_file=str(setup / "*.tfrecord"),
        output_dir=str(out),
        init_checkpoint=None,
        max_seq_length=SEQ,
        max_predictions_per_seq=PREDS,
        do_train=True,
        do_eval=False,
        train_batch_size=4,
        num_train_steps=6,
        num_warmup_steps=2,
        learning_rate=1e-3,
        save_checkpoints_steps=2,
        iterations_per_loop=1,
        log_every_steps=4,
        random_seed=11,
    )
    values.update(overrides)
    with flagsaver.flagsaver(**values):
        run_pretraining.main([])


@pytest.fixture(scope="module")
def pretraining_setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretraining")
    records.write_examples(
        [str(folder / "a.tfrecord"), str(folder / "b.tfrecord")], pretraining_examples(40)
    )
    (folder / "bert_config.json").write_text(json.dumps(TINY_CONFIG))
    return folder


def test_pretraining_rerun_and_resume_equal_the_uninterrupted_run(pretraining_setup, tmp_path):
    whole = tmp_path / "whole"
    _pretraining(pretraining_setup, whole)
    final = _weights(whole / "model.ckpt-6")
    # From step 0: a second identical run (--random_seed fixes the order and the dropout).
    for step in (0, 2):
        resumed = tmp_path / f"from_{step}"
        shutil.copytree(whole, resumed)
        _keep_checkpoints_up_to(resumed, step)
        _pretraining(pretraining_setup, resumed)
        assert _max_difference(final, _weights(resumed / "model.ckpt-6")) <= 1e-6
