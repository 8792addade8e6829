"""`BertConfig`: the encoder's hyper-parameters, read from and written to ``bert_config.json``.

Field names, defaults and the JSON layout (sorted keys, two-space indent) are those of Google's
release, so a config read and written back is unchanged byte for byte; unknown keys (such as
Hugging Face's ``directionality``) are kept. A file that leaves out a field fixing the model's
shape is read with the original's default and a warning, since that default (BERT-Base's) may not
be the shape of the checkpoint beside it.

Example:
    >>> config = BertConfig.from_json_file("uncased_L-12_H-768_A-12/bert_config.json")
    >>> config.hidden_size, config.size_per_head
    (768, 64)
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import tensorflow as tf
from absl import logging

from bert_tf import files
from bert_tf.activations import get_activation

# Fields that fix the model's shape: a config file without one is warned about, since the
# default (BERT-Base's) silently builds a different model than the checkpoint may hold.
_SHAPE_FIELDS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
)


@dataclasses.dataclass
class BertConfig:
    """Hyper-parameters of a BERT encoder, with the field names of ``bert_config.json``.

    Unknown keys found in a JSON file are kept in `extra` and written back, so reading and
    writing a Google config leaves it unchanged.

    Attributes:
        vocab_size: number of WordPiece tokens (rows of ``word_embeddings``).
        hidden_size: width of every encoder layer.
        num_hidden_layers: number of transformer blocks.
        num_attention_heads: heads per attention layer; must divide `hidden_size`.
        intermediate_size: width of the feed-forward layer.
        hidden_act: feed-forward activation ("gelu" is the tanh approximation).
        hidden_dropout_prob: dropout on embeddings and every dense output, in training.
        attention_probs_dropout_prob: dropout on attention probabilities, in training.
        max_position_embeddings: longest sequence the position table covers.
        type_vocab_size: number of segment ids (``token_type_embeddings`` rows).
        initializer_range: stddev of the truncated-normal initialiser.
    """

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 16
    initializer_range: float = 0.02
    extra: dict = dataclasses.field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.validate()

    def validate(self, source: str = "BertConfig") -> None:
        """Checks sizes and names; raises ValueError naming the bad field and `source`."""
        for name in ("vocab_size", *_SHAPE_FIELDS):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{source}: {name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"{source}: hidden_size ({self.hidden_size}) must be a multiple of "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"{source}: {name} must be in [0, 1), got {value!r}")
        if not isinstance(self.initializer_range, (int, float)) or self.initializer_range <= 0:
            raise ValueError(
                f"{source}: initializer_range must be positive, got {self.initializer_range!r}"
            )
        try:
            get_activation(self.hidden_act)
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None

    @property
    def size_per_head(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "BertConfig") -> BertConfig:
        """Builds a config from a dict such as a parsed ``bert_config.json``."""
        if not isinstance(values, dict):
            raise ValueError(f"{source}: expected a JSON object, found {type(values).__name__}")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in values.items() if k in names}
        extra = {k: copy.deepcopy(v) for k, v in values.items() if k not in names}
        if "vocab_size" not in known:
            raise ValueError(f"{source}: missing required field 'vocab_size'")
        config = cls.__new__(cls)
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            if f.name in known:
                setattr(config, f.name, known[f.name])
            else:
                setattr(config, f.name, f.default)
        config.extra = extra
        config.validate(source)
        return config

    @classmethod
    def from_json_file(cls, json_file: str) -> BertConfig:
        """Reads ``bert_config.json``.

        Raises:
            FileNotFoundError: the file does not exist.
            ValueError: the file is empty, not JSON, or holds an invalid config (the message names
                the file and the field).
        """
        if not tf.io.gfile.exists(json_file):
            raise FileNotFoundError(f"bert_config_file not found: {json_file}")
        try:
            with tf.io.gfile.GFile(json_file, "rb") as f:
                text = f.read().decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(
                f"bert_config_file {json_file} is not UTF-8 text ({e.reason})"
            ) from None
        if not text.strip():
            raise ValueError(f"bert_config_file is empty: {json_file}")
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"bert_config_file {json_file} is not valid JSON: {e}") from None
        config = cls.from_dict(values, source=json_file)
        for name in _SHAPE_FIELDS:
            if isinstance(values, dict) and name not in values:
                logging.warning(
                    "%s has no %r: using the original's default %s=%s", json_file, name, name,
                    getattr(config, name),
                )
        return config

    def to_dict(self) -> dict[str, Any]:
        """Returns the fields (and any unknown keys read from JSON) as a plain dict."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        out.update(copy.deepcopy(self.extra))
        return out

    def to_json_string(self) -> str:
        """JSON in the layout Google's configs use: sorted keys, two-space indent."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file: str) -> None:
        with files.atomic_open(json_file) as f:
            f.write(self.to_json_string())
