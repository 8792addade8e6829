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

from conftest import REPO, write_google_folder
from test_run_classifier import VOCAB, _flags, _mnli_files

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
        if path.startswith("model.ckpt-") and int(path.split("-")[1].split(".")[0]) > step:
            os.remove(os.path.join(output_dir, path))
    tf.compat.v1.train.update_checkpoint_state(
        str(output_dir), os.path.join(str(output_dir), f"model.ckpt-{step}")
    )


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
    values = dict(do_train=True, save_checkpoints_steps=2, iterations_per_loop=1)
    values.update(overrides)
    with flagsaver.flagsaver(**_flags(folder, data, out, **values)):
        run_classifier.main([])


def test_classifier_resume_after_a_checkpoint_equals_the_uninterrupted_run(
    google_folder, mnli_data, tmp_path
):
    # 24 examples / batch 4 x 2 epochs = 12 steps, a checkpoint every 2.
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    _classifier(google_folder, mnli_data, whole, num_train_epochs=2.0)
    shutil.copytree(whole, resumed)
    _keep_checkpoints_up_to(resumed, 4)
    _classifier(google_folder, mnli_data, resumed, num_train_epochs=2.0)
    assert _max_difference(
        _weights(whole / "model.ckpt-12"), _weights(resumed / "model.ckpt-12")
    ) <= 1e-6
