"""bert_tf.cli: the shared flag table and the user-error wrapper."""

import sys

import pytest
from absl import flags

from bert_tf import cli


def test_shared_flags_keep_googles_defaults():
    google = {
        "do_lower_case": True,
        "max_seq_length": 128,
        "train_batch_size": 32,
        "eval_batch_size": 8,
        "predict_batch_size": 8,
        "learning_rate": 5e-5,
        "num_train_epochs": 3.0,
        "warmup_proportion": 0.1,
        "save_checkpoints_steps": 1000,
        "iterations_per_loop": 1000,
        "use_tpu": False,
        "num_tpu_cores": 8,
    }
    assert {name: cli.SHARED_FLAGS[name][1] for name in google} == google
    assert set(cli.FINE_TUNING_FLAGS) <= set(cli.SHARED_FLAGS)


def test_define_flags_belong_to_the_caller_and_reject_unknown_overrides():
    # Redefining a shared name replaces the flag (tests/conftest.py); the table default is kept.
    cli.define_flags(["keep_checkpoint_max"], helps={"keep_checkpoint_max": "kept"})
    assert flags.FLAGS["keep_checkpoint_max"].default == 5
    assert flags.FLAGS["keep_checkpoint_max"].help == "kept"
    mine = flags.FLAGS.get_key_flags_for_module(sys.modules[__name__])
    assert "keep_checkpoint_max" in [f.name for f in mine]
    with pytest.raises(ValueError, match=r"not defined: \['use_xla'\]"):
        cli.define_flags(["keep_checkpoint_max"], defaults={"use_xla": True})
