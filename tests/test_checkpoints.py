"""Google TF1 checkpoints in and out, Hugging Face safetensors in, conversion to a Google folder."""

import json
import struct

import numpy as np
import pytest
import tensorflow as tf

import numpy_bert
from conftest import minilm_dir, read_tf1_checkpoint, write_tf1_checkpoint
from bert_tf import checkpoints
from bert_tf.modeling import BertConfig, BertModel


def _inputs(rng, batch=2, seq=9, vocab=99):
    ids = rng.integers(1, vocab, size=(batch, seq)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1, seq - 3 :] = 0
    seg = np.zeros_like(ids)
    seg[:, 4:] = 1
    return ids, mask, seg


def test_loads_tf1_checkpoint_written_like_the_original(tiny_config_dict, tmp_path, rng):
    weights = numpy_bert.random_weights(tiny_config_dict, seed=11)
    stored = dict(weights)
    # What a pretraining checkpoint from Google's code also holds.
    stored["global_step"] = np.array(1000, np.int64)
    stored["bert/pooler/dense/kernel/adam_m"] = np.zeros((32, 32), np.float32)
    stored["bert/pooler/dense/kernel/adam_v"] = np.zeros((32, 32), np.float32)
    stored["cls/predictions/output_bias"] = np.zeros((99,), np.float32)
    stored["cls/seq_relationship/output_weights"] = np.zeros((2, 32), np.float32)
    prefix = write_tf1_checkpoint(stored, str(tmp_path / "bert_model.ckpt"))

    model = BertModel(BertConfig.from_dict(tiny_config_dict))
    report = checkpoints.load_google_checkpoint(model, prefix)
    assert len(report.loaded) == len(weights)
    assert report.skipped == {
        "global_step": "training step counter",
        "bert/pooler/dense/kernel/adam_m": "optimizer slot",
        "bert/pooler/dense/kernel/adam_v": "optimizer slot",
        "cls/predictions/output_bias": "head not in this model (cls)",
        "cls/seq_relationship/output_weights": "head not in this model (cls)",
    }
    ids, mask, seg = _inputs(rng)
    out = model({"input_ids": ids, "input_mask": mask, "segment_ids": seg})
    _, layers, pooled = numpy_bert.forward(weights, tiny_config_dict, ids, mask, seg)
    for ours, ref in zip(out["all_encoder_layers"], layers):
        np.testing.assert_allclose(ours.numpy(), ref, atol=1e-5)
    np.testing.assert_allclose(out["pooled_output"].numpy(), pooled, atol=1e-5)


def test_folder_path_and_missing_checkpoint(tiny_config_dict, tmp_path):
    weights = numpy_bert.random_weights(tiny_config_dict)
    write_tf1_checkpoint(weights, str(tmp_path / "bert_model.ckpt"))
    model = BertModel(BertConfig.from_dict(tiny_config_dict))
    checkpoints.load_google_checkpoint(model, str(tmp_path))  # a Google folder works too
    with pytest.raises(FileNotFoundError, match="nothere/bert_model.ckpt"):
        checkpoints.load_google_checkpoint(model, str(tmp_path / "nothere" / "bert_model.ckpt"))


def test_mismatches_are_listed_with_both_shapes(tiny_config_dict, tmp_path):
    weights = numpy_bert.random_weights(tiny_config_dict)
    del weights["bert/encoder/layer_1/output/dense/bias"]
    weights["bert/encoder/layer_0/intermediate/dense/kernel"] = np.zeros((32, 40), np.float32)
    weights["bert/encoder/layer_9/output/dense/bias"] = np.zeros((32,), np.float32)
    prefix = write_tf1_checkpoint(weights, str(tmp_path / "bert_model.ckpt"))
    model = BertModel(BertConfig.from_dict(tiny_config_dict))
    with pytest.raises(ValueError) as info:
        checkpoints.load_google_checkpoint(model, prefix)
    message = str(info.value)
    assert "3 problems" in message
    assert "missing from checkpoint: bert/encoder/layer_1/output/dense/bias (model shape (32,))" in message
    assert (
        "shape mismatch: bert/encoder/layer_0/intermediate/dense/kernel: checkpoint (32, 40) vs "
        "model (32, 37)" in message
    )
    assert "unexpected checkpoint variable: bert/encoder/layer_9/output/dense/bias" in message


def test_allow_missing_keeps_fresh_heads(tiny_config_dict, tmp_path):
    weights = numpy_bert.random_weights(tiny_config_dict)
    del weights["bert/pooler/dense/kernel"], weights["bert/pooler/dense/bias"]
    prefix = write_tf1_checkpoint(weights, str(tmp_path / "bert_model.ckpt"))
    model = BertModel(BertConfig.from_dict(tiny_config_dict))
    report = checkpoints.load_google_checkpoint(model, prefix, allow_missing=("bert/pooler/",))
    assert report.not_in_checkpoint == ["bert/pooler/dense/kernel", "bert/pooler/dense/bias"]


def test_save_round_trip_is_exact_and_tf1_readable(tiny_config, tmp_path, rng):
    model = BertModel(tiny_config)
    model(model.dummy_inputs())
    prefix = checkpoints.save_google_checkpoint(
        model, str(tmp_path / "out" / "bert_model.ckpt"), extra={"global_step": np.int64(7)},
        write_state=True,
    )
    stored = read_tf1_checkpoint(prefix)
    table = checkpoints.google_variable_map(model)
    assert set(stored) == set(table) | {"global_step"}
    for name, var in table.items():
        np.testing.assert_array_equal(stored[name], var.numpy())
    assert tf.train.latest_checkpoint(str(tmp_path / "out")) == prefix

    # TF1 graph code (the original's init_from_checkpoint) restores it by name.
    with tf.Graph().as_default():
        var = tf.compat.v1.get_variable(
            "bert/encoder/layer_1/attention/self/key/kernel", shape=(32, 32)
        )
        tf.compat.v1.train.init_from_checkpoint(prefix, {"bert/": "bert/"})
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            restored = sess.run(var)
    np.testing.assert_array_equal(restored, table["bert/encoder/layer_1/attention/self/key/kernel"].numpy())

    other = BertModel(tiny_config)
    checkpoints.load_google_checkpoint(other, prefix)
    ids, mask, seg = _inputs(rng)
    inputs = {"input_ids": ids, "input_mask": mask, "segment_ids": seg}
    np.testing.assert_array_equal(
        other(inputs)["sequence_output"].numpy(), model(inputs)["sequence_output"].numpy()
    )


def _write_safetensors(path, arrays):
    """An independent writer of the safetensors layout (header length, JSON header, raw data)."""
    header, blobs, offset = {}, [], 0
    for name, array in arrays.items():
        raw = np.ascontiguousarray(array).tobytes()
        header[name] = {
            "dtype": {np.float32: "F32", np.int64: "I64"}[array.dtype.type],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def _hf_name(google_name):
    """(Hugging Face BertModel name, transposed?) for a Google encoder variable name."""
    parts = google_name.split("/")[1:]
    if parts[0] == "encoder":
        parts = ["encoder", "layer", parts[1].split("_")[1]] + parts[2:]
    leaf, transpose = parts[-1], False
    if leaf == "kernel":
        parts[-1], transpose = "weight", True
    elif leaf == "gamma":
        parts[-1] = "weight"
    elif leaf == "beta":
        parts[-1] = "bias"
    elif parts[0] == "embeddings":
        parts.append("weight")
    return ".".join(parts), transpose


def _hf_arrays(weights, cfg, prefix):
    """Google-named weights renamed to Hugging Face BertModel names ([out, in] Linear weights)."""
    out = {prefix + "embeddings.position_ids": np.arange(cfg["max_position_embeddings"])[None]}
    for name, value in weights.items():
        hf_name, transpose = _hf_name(name)
        out[prefix + hf_name] = np.ascontiguousarray(value.T if transpose else value)
    return out


@pytest.mark.parametrize("prefix", ["", "bert."])
def test_loads_hugging_face_safetensors(tiny_config_dict, tmp_path, rng, prefix):
    weights = numpy_bert.random_weights(tiny_config_dict, seed=5)
    hf = _hf_arrays(weights, tiny_config_dict, prefix)
    assert prefix + "encoder.layer.1.attention.self.query.weight" in hf
    _write_safetensors(tmp_path / "model.safetensors", hf)
    model = BertModel(BertConfig.from_dict(tiny_config_dict))
    checkpoints.load_hf_weights(model, str(tmp_path))
    ids, mask, seg = _inputs(rng)
    out = model({"input_ids": ids, "input_mask": mask, "segment_ids": seg})
    _, layers, pooled = numpy_bert.forward(weights, tiny_config_dict, ids, mask, seg)
    np.testing.assert_allclose(out["sequence_output"].numpy(), layers[-1], atol=1e-5)
    np.testing.assert_allclose(out["pooled_output"].numpy(), pooled, atol=1e-5)


def test_hf_head_names_map_to_google():
    assert checkpoints.hf_to_google_name("cls.predictions.transform.dense.weight") == (
        "cls/predictions/transform/dense/kernel",
        True,
    )
    assert checkpoints.hf_to_google_name("cls.predictions.transform.LayerNorm.bias") == (
        "cls/predictions/transform/LayerNorm/beta",
        False,
    )
    assert checkpoints.hf_to_google_name("cls.predictions.bias") == ("cls/predictions/output_bias", False)
    assert checkpoints.hf_to_google_name("cls.seq_relationship.weight") == (
        "cls/seq_relationship/output_weights",
        False,
    )
    assert checkpoints.hf_to_google_name("cls.predictions.decoder.weight") == (None, False)
    assert checkpoints.hf_to_google_name("bert.embeddings.LayerNorm.gamma") == (
        "bert/embeddings/LayerNorm/gamma",
        False,
    )


def test_hf_config_activation_and_errors():
    base = {"vocab_size": 10, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 16,
            "num_hidden_layers": 1}
    assert checkpoints.config_from_hf(dict(base, hidden_act="gelu")).hidden_act == "gelu_exact"
    assert checkpoints.config_from_hf(dict(base, hidden_act="gelu_new")).hidden_act == "gelu"
    with pytest.raises(ValueError, match="layer_norm_eps"):
        checkpoints.config_from_hf(dict(base, layer_norm_eps=1e-5))
    with pytest.raises(ValueError, match="relative_key"):
        checkpoints.config_from_hf(dict(base, position_embedding_type="relative_key"))


def test_safetensors_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        checkpoints.read_safetensors(str(tmp_path / "none.safetensors"))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(ValueError, match="runs past the end"):
        checkpoints.read_safetensors(str(bad))


def test_minilm_matches_float64_reference(tmp_path):
    folder = minilm_dir()
    model = checkpoints.bert_from_hf(str(folder))
    config = model.config
    raw = checkpoints.read_safetensors(str(folder / "model.safetensors"))
    weights = {}
    for name in checkpoints.google_variable_map(model):
        hf_name, transpose = _hf_name(name)
        weights[name] = raw[hf_name].T if transpose else raw[hf_name]
    from bert_tf.tokenization import FullTokenizer

    tokenizer = FullTokenizer(str(folder / "vocab.txt"), do_lower_case=True)
    sentences = [
        "The quick brown fox jumps over the lazy dog.",
        "Super Bowl 50 was an American football game to determine the champion of the NFL.",
        "Paris is the capital of France.",
    ]
    seq = 24
    ids = np.zeros((len(sentences), seq), np.int32)
    mask = np.zeros_like(ids)
    for row, text in enumerate(sentences):
        tokens = ["[CLS]"] + tokenizer.tokenize(text)[: seq - 2] + ["[SEP]"]
        ids[row, : len(tokens)] = tokenizer.convert_tokens_to_ids(tokens)
        mask[row, : len(tokens)] = 1
    out = model({"input_ids": ids, "input_mask": mask, "segment_ids": np.zeros_like(ids)})
    ref_cfg = dict(config.to_dict())
    _, layers, pooled = numpy_bert.forward(weights, ref_cfg, ids, mask)
    for ours, ref in zip(out["all_encoder_layers"], layers):
        np.testing.assert_allclose(ours.numpy(), ref, atol=1e-4)
    np.testing.assert_allclose(out["pooled_output"].numpy(), pooled, atol=1e-4)


def test_convert_hf_folder_to_google(tmp_path):
    folder = minilm_dir()
    prefix = checkpoints.convert_hf_to_google(str(folder), str(tmp_path / "google"))
    config = BertConfig.from_json_file(str(tmp_path / "google" / "bert_config.json"))
    assert config.hidden_act == "gelu_exact" and config.hidden_size == 384
    assert (tmp_path / "google" / "vocab.txt").read_bytes() == (folder / "vocab.txt").read_bytes()
    stored = checkpoints.list_checkpoint(prefix)
    assert stored["bert/encoder/layer_5/intermediate/dense/kernel"] == (384, 1536)
    assert stored["bert/embeddings/word_embeddings"] == (30522, 384)
    hf = checkpoints.read_safetensors(str(folder / "model.safetensors"))
    reader = tf.train.load_checkpoint(prefix)
    np.testing.assert_array_equal(
        reader.get_tensor("bert/encoder/layer_2/attention/self/query/kernel"),
        hf["encoder.layer.2.attention.self.query.weight"].T,
    )
