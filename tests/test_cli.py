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


def test_fine_tuning_steps_count_as_the_original_and_reject_zero():
    from absl.testing import flagsaver

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    cli.define_flags(["train_batch_size", "num_train_epochs", "warmup_proportion"])
    with flagsaver.flagsaver(train_batch_size=32, num_train_epochs=3.0, warmup_proportion=0.1):
        # MRPC: int(3668 / 32 * 3) = 343 steps, int(34.3) = 34 of them warming up.
        assert cli.fine_tuning_steps(3668) == (343, 34)
    with flagsaver.flagsaver(train_batch_size=64, num_train_epochs=1.0, warmup_proportion=0.1):
        with pytest.raises(ValueError, match="63 train windows x --num_train_epochs=1.0"):
            cli.fine_tuning_steps(63, "train windows")
