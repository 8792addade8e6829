"""Feature extraction: per-token activations of chosen layers, in the original's JSON-lines layout.

Each output line is one input line::

    {"linex_index": 0, "features": [{"token": "[CLS]", "layers": [{"index": -1,
      "values": [0.1234, ...]}, ...]}, ...]}

``linex_index`` keeps the original's spelling. Values are rounded to 6 decimals.

With a pooling (`bert_tf.embeddings`), each line holds one vector for the whole input line
instead, pooled from one layer::

    {"linex_index": 0, "embedding": [0.1234, ...]}
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import embeddings
from bert_tf.files import atomic_open
from bert_tf.modeling import BertModel
from bert_tf.tasks.common import InputExample, InputFeatures, convert_single_example, log_features

_PAIR = re.compile(r"^(.*) \|\|\| (.*)$")


def read_examples(input_file: str) -> list[InputExample]:
    """Reads one example per line; ``text_a ||| text_b`` makes a pair.

    As in the original, every line counts, blank ones included (they become [CLS] [SEP]); only
    the end of the file stops reading.
    """
    examples = []
    with tf.io.gfile.GFile(input_file, "rb") as f:
        for index, raw in enumerate(f):
            line = raw.decode("utf-8", errors="ignore").strip()
            match = _PAIR.match(line)
            if match:
                examples.append(InputExample(index, match.group(1), match.group(2)))
            else:
                examples.append(InputExample(index, line))
    if not examples:
        raise ValueError(f"--input_file {input_file} holds no lines")
    return examples


def convert_examples(examples, tokenizer, max_seq_length: int, log_first: int = 5):
    features = []
    for i, example in enumerate(examples):
        feature = convert_single_example(example, tokenizer, max_seq_length)
        if i < log_first:
            log_features(example, feature)
        features.append(feature)
    return features


def parse_layers(layers: str, num_hidden_layers: int) -> list[int]:
    """Parses ``"-1,-2,-3,-4"``; indexes count encoder layers (-1 is the last, 0 the first)."""
    try:
        indexes = [int(x) for x in layers.split(",")]
    except ValueError:
        raise ValueError(f"--layers must be comma-separated integers, got {layers!r}") from None
    for index in indexes:
        if not -num_hidden_layers <= index < num_hidden_layers:
            raise ValueError(
                f"--layers index {index} is out of range for a model with {num_hidden_layers} "
                "layers"
            )
    return indexes


def run_layers(
    model: BertModel,
    features: list[InputFeatures],
    layer_indexes: list[int],
    batch_size: int,
    pooling: str | None = None,
    normalize: bool = False,
) -> Iterator[list[np.ndarray]]:
    """Yields, for each feature in order, the chosen layers' outputs [seq_length, hidden].

    With a `pooling` (see `bert_tf.embeddings.pool`), each layer's output is pooled over the
    feature's input mask instead: [hidden] per layer.
    """

    @tf.function(reduce_retracing=True)
    def chosen_layers(input_ids, input_mask, segment_ids):
        out = model(
            {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids},
            training=False,
        )
        layers = out["all_encoder_layers"]
        if pooling:
            return [
                embeddings.pool(layers[i], input_mask, pooling, normalize) for i in layer_indexes
            ]
        return [tf.cast(layers[i], tf.float32) for i in layer_indexes]

    for start in range(0, len(features), batch_size):
        batch = features[start : start + batch_size]
        arrays = [
            tf.constant([getattr(f, key) for f in batch], tf.int32)
            for key in ("input_ids", "input_mask", "segment_ids")
        ]
        outputs = [o.numpy() for o in chosen_layers(*arrays)]
        for row in range(len(batch)):
            yield [o[row] for o in outputs]


def feature_json(unique_id, feature: InputFeatures, layer_indexes, layer_outputs) -> str:
    """One output line, with keys in the original's order."""
    tokens = []
    for position, token in enumerate(feature.tokens):
        layers = []
        for index, values in zip(layer_indexes, layer_outputs):
            entry = collections.OrderedDict()
            entry["index"] = index
            entry["values"] = [round(float(x), 6) for x in values[position]]
            layers.append(entry)
        item = collections.OrderedDict()
        item["token"] = token
        item["layers"] = layers
        tokens.append(item)
    line = collections.OrderedDict()
    line["linex_index"] = unique_id
    line["features"] = tokens
    return json.dumps(line)


def embedding_json(unique_id, vector: np.ndarray) -> str:
    """One pooled output line: ``{"linex_index": i, "embedding": [...]}``, 6 decimals."""
    line = collections.OrderedDict()
    line["linex_index"] = unique_id
    line["embedding"] = [round(float(x), 6) for x in vector]
    return json.dumps(line)


def write_features(
    output_file: str,
    examples,
    features,
    layer_indexes,
    outputs_iter,
    log_every: int = 1000,
    pooled: bool = False,
) -> int:
    """Writes one JSON line per example (per-token features, or the embedding if `pooled`)."""
    count = 0
    with atomic_open(output_file) as writer:
        for example, feature, outputs in zip(examples, features, outputs_iter):
            if pooled:
                line = embedding_json(example.guid, outputs[0])
            else:
                line = feature_json(example.guid, feature, layer_indexes, outputs)
            writer.write(line + "\n")
            count += 1
            if count % log_every == 0:
                logging.info("Wrote %d of %d examples", count, len(examples))
    return count
