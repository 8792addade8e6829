"""BERT's activations by the names ``bert_config.json`` uses for ``hidden_act``.

Kept apart from `bert_tf.modeling` so that `bert_tf.configuration` can check a config's
``hidden_act`` without importing the Keras layers.
"""

from __future__ import annotations

import math

import tensorflow as tf

from bert_tf import kernels


def gelu(x: tf.Tensor) -> tf.Tensor:
    """Gaussian error linear unit, tanh approximation: what ``"gelu"`` means in Google's code.

    0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))), computed by `kernels.gelu_tanh`
    with its derivative written out.
    """
    return kernels.gelu_tanh(x)

def gelu_exact(x: tf.Tensor) -> tf.Tensor:
    """Gaussian error linear unit with erf: what Hugging Face's ``"gelu"`` means."""
    x = tf.convert_to_tensor(x)
    return 0.5 * x * (1.0 + tf.math.erf(x / math.sqrt(2.0)))


def _linear(x: tf.Tensor) -> tf.Tensor:
    return x


ACTIVATIONS = {
    "gelu": gelu,
    "gelu_exact": gelu_exact,
    "relu": tf.nn.relu,
    "tanh": tf.tanh,
    "linear": _linear,
}


def get_activation(name: str):
    """Maps a ``hidden_act`` string from ``bert_config.json`` to a function.

    Args:
        name: one of "gelu" (tanh approximation, Google's meaning), "gelu_exact" (erf),
            "relu", "tanh", "linear". Case-insensitive.

    Returns:
        A callable taking and returning a tensor.

    Raises:
        ValueError: for any other name; the message lists the supported ones.
    """
    key = (name or "linear").lower()
    if key not in ACTIVATIONS:
        raise ValueError(
            f"Unsupported hidden_act {name!r}; expected one of {sorted(ACTIVATIONS)}. "
            "(Hugging Face's 'gelu' is the erf form: write 'gelu_exact'.)"
        )
    return ACTIVATIONS[key]
