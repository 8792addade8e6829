"""BertConfig: reading and writing Google's bert_config.json, defaults and errors."""

import json

import pytest

from bert_tf.configuration import BertConfig

# Google's published bert_config.json for BERT-Base, Uncased, byte for byte as json.dumps(indent=2,
# sort_keys=True) writes it (the original's to_json_string).
GOOGLE_BASE_CONFIG = """{
  "attention_probs_dropout_prob": 0.1,
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1,
  "hidden_size": 768,
  "initializer_range": 0.02,
  "intermediate_size": 3072,
  "max_position_embeddings": 512,
  "num_attention_heads": 12,
  "num_hidden_layers": 12,
  "type_vocab_size": 2,
  "vocab_size": 30522
}
"""


def test_config_round_trips_google_json(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(GOOGLE_BASE_CONFIG)
    config = BertConfig.from_json_file(str(path))
    assert config.hidden_size == 768 and config.type_vocab_size == 2
    assert config.to_json_string() == GOOGLE_BASE_CONFIG
    out = tmp_path / "out.json"
    config.to_json_file(str(out))
    assert out.read_text() == GOOGLE_BASE_CONFIG


def test_config_keeps_unknown_keys():
    values = json.loads(GOOGLE_BASE_CONFIG)
    values["directionality"] = "bidi"
    values["pooler_fc_size"] = 768
    config = BertConfig.from_dict(values)
    assert config.to_dict() == values


def test_config_defaults_match_original():
    config = BertConfig(vocab_size=10)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (768, 12, 12)
    assert (config.intermediate_size, config.hidden_act) == (3072, "gelu")
    assert (config.hidden_dropout_prob, config.attention_probs_dropout_prob) == (0.1, 0.1)
    assert (config.max_position_embeddings, config.type_vocab_size) == (512, 16)
    assert config.initializer_range == 0.02


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("hidden_size", 30, "multiple of num_attention_heads"),
        ("num_hidden_layers", 0, "num_hidden_layers must be a positive integer"),
        ("vocab_size", -3, "vocab_size must be a positive integer"),
        ("hidden_dropout_prob", 1.5, "hidden_dropout_prob must be in"),
        ("hidden_act", "swish", "Unsupported hidden_act"),
    ],
)
def test_config_errors_name_the_field(tmp_path, field, value, message):
    values = json.loads(GOOGLE_BASE_CONFIG)
    values[field] = value
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ValueError, match=message) as info:
        BertConfig.from_json_file(str(path))
    assert str(path) in str(info.value)


def test_config_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        BertConfig.from_json_file(str(tmp_path / "nope.json"))
    empty = tmp_path / "empty.json"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        BertConfig.from_json_file(str(empty))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        BertConfig.from_json_file(str(bad))
    with pytest.raises(ValueError, match="vocab_size"):
        BertConfig.from_dict({"hidden_size": 8})
