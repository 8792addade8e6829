"""export_saved_model.py end to end: flags in, a served encoder out; errors name the flag."""

import numpy as np
import pytest
from absl import flags
from absl.testing import flagsaver
from conftest import write_google_folder

import export_saved_model
from bert_tf import checkpoints, export
from bert_tf.modeling import BertConfig, BertModel
from bert_tf.tasks import common
from bert_tf.tokenization import FullTokenizer

FLAGS = flags.FLAGS
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "dog", ".", "##s"]


@pytest.fixture(scope="module")
def google_folder(tmp_path_factory):
    return write_google_folder(tmp_path_factory.mktemp("export_script") / "tiny", VOCAB, seed=9)


def _main(folder, export_dir, **overrides):
    values = {
        "bert_config_file": str(folder / "bert_config.json"),
        "vocab_file": str(folder / "vocab.txt"),
        "do_lower_case": True,
        "init_checkpoint": str(folder / "bert_model.ckpt"),
        "model_type": "encoder",
        "task_name": None,
        "max_seq_length": 12,
        "max_query_length": 64,
        "export_dir": str(export_dir),
        "export_version": None,
        "pair_input": None,
        "xnli_language": "zh",
        "pooling": "mean",
        "normalize": False,
        "doc_stride": 0,
        "window_pooling": "mean",
    }
    values.update(overrides)
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(**values):
        export_saved_model.main([])


def test_encoder_export_gives_the_encoders_outputs(google_folder, tmp_path):
    _main(google_folder, tmp_path / "export", export_version=3, pair_input=True)
    predictor = export.load(str(tmp_path / "export"))
    assert predictor.path.endswith("/3")
    texts = [("The cats sat.", "the dog"), ("dog", "")]
    served = predictor([a for a, _ in texts], [b for _, b in texts])

    model = BertModel(BertConfig.from_json_file(str(google_folder / "bert_config.json")))
    checkpoints.load_google_checkpoint(model, str(google_folder / "bert_model.ckpt"))
    tokenizer = FullTokenizer(str(google_folder / "vocab.txt"), do_lower_case=True)
    features = [
        common.convert_single_example(common.InputExample(i, a, b or None), tokenizer, 12)
        for i, (a, b) in enumerate(texts)
    ]
    batch = {
        name: np.array([getattr(f, name) for f in features], np.int32)
        for name in ("input_ids", "input_mask", "segment_ids")
    }
    want = model(batch)
    np.testing.assert_allclose(served["pooled_output"], want["pooled_output"], atol=1e-5)
    np.testing.assert_allclose(served["sequence_output"], want["sequence_output"], atol=1e-5)
    # The default sentence_embedding: the mean over the kept positions of the last layer.
    mask = batch["input_mask"][..., None]
    mean = (want["sequence_output"].numpy() * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(served["sentence_embedding"], mean, atol=1e-5)


def test_encoder_export_pooling_flags(google_folder, tmp_path):
    _main(google_folder, tmp_path / "export", pooling="max", normalize=True)
    predictor = export.load(str(tmp_path / "export"))
    assert (predictor.config["pooling"], predictor.config["normalize"]) == ("max", True)
    ids = np.array([[2, 4, 5, 3, 0, 0], [2, 7, 3, 0, 0, 0]], np.int32)
    mask = (ids > 0).astype(np.int32)
    served = predictor.predict_token_ids(ids, mask, np.zeros_like(ids))
    hidden = served["sequence_output"]
    want = np.stack([h[m > 0].max(0) for h, m in zip(hidden, mask)])
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(served["sentence_embedding"], want, atol=1e-6)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"model_type": "classifier"}, "--task_name is required"),
        ({"model_type": "classifier", "task_name": "nope"}, "--task_name='nope'"),
        ({"init_checkpoint": "/no/such/ckpt"}, "/no/such/ckpt"),
        ({"max_seq_length": 1000}, "max_position_embeddings"),
        ({"model_type": "squad", "max_seq_length": 12, "max_query_length": 10}, "max_query_length"),
    ],
)
def test_bad_flags_are_named(google_folder, tmp_path, overrides, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        _main(google_folder, tmp_path / "export", **overrides)
