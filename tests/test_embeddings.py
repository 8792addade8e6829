"""Sentence embeddings: pooling against numpy, the API's batching, and the real MiniLM's
mean-pooled, normalised embeddings against a float64 numpy pass through all three routes (the
API, extract_features.py, the encoder SavedModel)."""

import json

import numpy as np
import numpy_bert
import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver
from conftest import minilm_dir, read_tf1_checkpoint, write_google_folder

import extract_features
from bert_tf import checkpoints, embeddings, export
from bert_tf.modeling import BertConfig

FLAGS = flags.FLAGS

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "mat", "a", "dog", "."]

# Real sentences of different lengths (5 to 32 positions with [CLS] and [SEP]).
SENTENCES = [
    "Hello there.",
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital and most populous city of France.",
    ("Shares of the company fell 4 percent after it said second-quarter profit would miss "
    "analysts' estimates, citing weaker demand in Europe and a stronger dollar."),
    "A man is playing a guitar.",
]


def _numpy_pool(hidden, mask, pooling, normalize):
    hidden, mask = np.asarray(hidden, np.float64), np.asarray(mask, bool)
    rows = []
    for h, m in zip(hidden, mask):
        kept = h[m]
        if pooling == "mean":
            v = kept.mean(0)
        elif pooling == "max":
            v = kept.max(0)
        else:
            v = h[0]
        rows.append(v / np.linalg.norm(v) if normalize else v)
    return np.array(rows)


@pytest.mark.parametrize("pooling", ["mean", "max", "cls"])
@pytest.mark.parametrize("normalize", [False, True])
def test_pool_matches_numpy_and_ignores_padding(pooling, normalize, rng):
    hidden = rng.normal(size=(3, 6, 5)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0]], np.int32)
    hidden[mask == 0] = 50.0  # padding would dominate a mean or a max if it counted
    got = embeddings.pool(tf.constant(hidden), tf.constant(mask), pooling, normalize).numpy()
    np.testing.assert_allclose(got, _numpy_pool(hidden, mask, pooling, normalize), atol=1e-6)


def test_pool_rejects_unknown_pooling():
    with pytest.raises(ValueError, match="mean, max, cls"):
        embeddings.pool(tf.zeros([1, 2, 3]), tf.ones([1, 2]), "sum")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return write_google_folder(tmp_path_factory.mktemp("emb") / "tiny_uncased", VOCAB, seed=5)


def test_encoder_returns_input_order_whatever_the_batching(tiny_folder):
    encoder = embeddings.SentenceEncoder.from_folder(str(tiny_folder), max_seq_length=16)
    texts = ["the cat", "the cat sat on the mat . a dog sat on a mat .", "", "a dog sat", "cat"]
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    for batch_size in (1, 2, 64):
        np.testing.assert_allclose(encoder.encode(texts, batch_size=batch_size), alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(alone, axis=1), 1.0, atol=1e-6)
    # Longer than max_seq_length: cut to its first 14 WordPieces, as the training data is.
    long_text = "the cat sat on the mat . " * 5
    cut = " ".join(encoder.tokenizer.tokenize(long_text)[:14])
    np.testing.assert_allclose(encoder.encode([long_text]), encoder.encode([cut]), atol=1e-6)
    with pytest.raises(TypeError, match="list of texts"):
        encoder.encode("the cat")


def test_extract_features_pooling_flags(tiny_folder, tmp_path):
    (tmp_path / "in.txt").write_text("the cat\n")
    with pytest.raises(ValueError, match="pools one layer"):
        _extract(tiny_folder, tmp_path, pooling="max", layers="-1,-2")
    with pytest.raises(ValueError, match="--normalize needs --pooling"):
        _extract(tiny_folder, tmp_path, pooling="none", normalize=True)
    # An explicit single --layers is the layer pooled.
    out = _extract(tiny_folder, tmp_path, pooling="cls", layers="0")
    per_token = _extract(tiny_folder, tmp_path, pooling="none", layers="0")
    assert list(json.loads(out[0])) == ["linex_index", "embedding"]
    np.testing.assert_array_equal(
        json.loads(out[0])["embedding"],
        json.loads(per_token[0])["features"][0]["layers"][0]["values"],
    )


def _extract(folder, tmp_path, **overrides):
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    values = {
        "input_file": str(tmp_path / "in.txt"),
        "output_file": str(tmp_path / "out.jsonl"),
        "vocab_file": str(folder / "vocab.txt"),
        "bert_config_file": str(folder / "bert_config.json"),
        "init_checkpoint": str(folder / "bert_model.ckpt"),
        "do_lower_case": True,
        "max_seq_length": 16,
        "batch_size": 8,
        "layers": "-1,-2",
        "pooling": "none",
        "normalize": False,
    }
    values.update(overrides)
    with flagsaver.flagsaver(**values):
        if "layers" in overrides:
            FLAGS["layers"].present = 1
        try:
            extract_features.main([])
        finally:
            FLAGS["layers"].present = 0
    return (tmp_path / "out.jsonl").read_text().splitlines()


# ---------------------------------------------------------------------------------------------
# The real all-MiniLM-L6-v2


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    """(Hugging Face folder, Google folder converted from it, float64 reference embeddings)."""
    hf = minilm_dir()
    google = tmp_path_factory.mktemp("minilm") / "all-MiniLM-L6-v2"
    prefix = checkpoints.convert_hf_to_google(str(hf), str(google))
    weights = read_tf1_checkpoint(prefix)
    config = BertConfig.from_json_file(str(google / "bert_config.json")).to_dict()
    encoder = embeddings.SentenceEncoder.from_folder(str(hf))
    reference = []
    for text in SENTENCES:  # one at a time: no padding, no batching in the reference
        ids = np.array([encoder.token_ids(text)])
        _, layers, _ = numpy_bert.forward(weights, config, ids)
        vector = layers[-1][0].mean(0)  # every position: [CLS] and [SEP] included
        reference.append(vector / np.linalg.norm(vector))
    lengths = [len(encoder.token_ids(t)) for t in SENTENCES]
    assert min(lengths) <= 5 and max(lengths) >= 30, lengths
    return hf, google, np.array(reference), encoder


def test_minilm_api_matches_float64_numpy(minilm):
    _, google, reference, encoder = minilm
    np.testing.assert_allclose(encoder.encode(SENTENCES, batch_size=8), reference, atol=1e-5)
    # The converted Google folder gives the same vectors.
    from_google = embeddings.encode(SENTENCES, str(google), batch_size=3)
    np.testing.assert_allclose(from_google, reference, atol=1e-5)


def test_minilm_extract_features_matches_float64_numpy(minilm, tmp_path):
    _, google, reference, _ = minilm
    (tmp_path / "in.txt").write_text("\n".join(SENTENCES) + "\n")
    lines = _extract(
        google, tmp_path, max_seq_length=64, batch_size=8, pooling="mean", normalize=True
    )
    records = [json.loads(line) for line in lines]
    assert [r["linex_index"] for r in records] == list(range(len(SENTENCES)))
    np.testing.assert_allclose([r["embedding"] for r in records], reference, atol=1e-5)


def test_minilm_saved_model_matches_float64_numpy(minilm, tmp_path):
    _, google, reference, _ = minilm
    path = export.export_saved_model(
        model_type="encoder",
        bert_config=BertConfig.from_json_file(str(google / "bert_config.json")),
        init_checkpoint=str(google / "bert_model.ckpt"),
        vocab_file=str(google / "vocab.txt"),
        do_lower_case=True,
        max_seq_length=64,
        export_dir=str(tmp_path / "export"),
        pooling="mean",
        normalize=True,
    )
    predictor = export.load(path)
    assert predictor.config["pooling"] == "mean" and predictor.config["normalize"] is True
    served = predictor(SENTENCES)
    np.testing.assert_allclose(served["sentence_embedding"], reference, atol=1e-5)
    # The token-id signature pools the same positions.
    encoder = embeddings.SentenceEncoder.from_folder(str(google), max_seq_length=64)
    ids = np.zeros([len(SENTENCES), 64], np.int32)
    for row, text in enumerate(SENTENCES):
        packed = encoder.token_ids(text)
        ids[row, : len(packed)] = packed
    by_ids = predictor.predict_token_ids(ids, (ids > 0).astype(np.int32), np.zeros_like(ids))
    np.testing.assert_allclose(by_ids["sentence_embedding"], reference, atol=1e-5)
