"""An independent float64 numpy BERT forward pass, written from the paper's and Google's equations.

Used only by tests, as the reference the Keras model is compared with. It reads weights by their
Google checkpoint names from a plain dict, so it shares no code with `bert_tf`.
"""

import math

import numpy as np


def _layer_norm(x, gamma, beta, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _act(name):
    erf = np.vectorize(math.erf)
    return {
        "gelu": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
        "gelu_exact": lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2))),
        "relu": lambda x: np.maximum(x, 0),
        "tanh": np.tanh,
        "linear": lambda x: x,
    }[name]


def forward(w, cfg, input_ids, input_mask=None, segment_ids=None):
    """Returns (embedding_output, [layer outputs], pooled_output) in float64.

    Args:
        w: {google name: array}.
        cfg: dict with hidden_size, num_hidden_layers, num_attention_heads, hidden_act.
        input_ids, input_mask, segment_ids: int arrays [batch, seq].
    """
    w = {k: np.asarray(v, np.float64) for k, v in w.items()}
    ids = np.asarray(input_ids)
    b, t = ids.shape
    mask = np.ones_like(ids) if input_mask is None else np.asarray(input_mask)
    seg = np.zeros_like(ids) if segment_ids is None else np.asarray(segment_ids)
    h, n = cfg["hidden_size"], cfg["num_attention_heads"]
    d = h // n
    act = _act(cfg["hidden_act"])
    e = "bert/embeddings/"
    x = w[e + "word_embeddings"][ids] + w[e + "token_type_embeddings"][seg]
    x = x + w[e + "position_embeddings"][:t][None]
    x = _layer_norm(x, w[e + "LayerNorm/gamma"], w[e + "LayerNorm/beta"])
    emb = x
    adder = (1.0 - mask[:, None, None, :]) * -10000.0
    layers = []
    for i in range(cfg["num_hidden_layers"]):
        p = f"bert/encoder/layer_{i}/"

        def dense(v, name):
            return v @ w[p + name + "/kernel"] + w[p + name + "/bias"]

        def heads(v):
            return v.reshape(b, t, n, d).transpose(0, 2, 1, 3)

        q = heads(dense(x, "attention/self/query"))
        k = heads(dense(x, "attention/self/key"))
        v = heads(dense(x, "attention/self/value"))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + adder
        s = np.exp(s - s.max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(0, 2, 1, 3).reshape(b, t, h)
        a = dense(ctx, "attention/output/dense") + x
        a = _layer_norm(a, w[p + "attention/output/LayerNorm/gamma"], w[p + "attention/output/LayerNorm/beta"])
        inter = act(dense(a, "intermediate/dense"))
        o = dense(inter, "output/dense") + a
        x = _layer_norm(o, w[p + "output/LayerNorm/gamma"], w[p + "output/LayerNorm/beta"])
        layers.append(x)
    pooled = np.tanh(x[:, 0] @ w["bert/pooler/dense/kernel"] + w["bert/pooler/dense/bias"])
    return emb, layers, pooled


def random_weights(cfg, seed=0, scale=0.2):
    """Random float32 weights with Google's names and shapes for a config dict."""
    rng = np.random.default_rng(seed)
    h, i = cfg["hidden_size"], cfg["intermediate_size"]

    def r(*shape):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = {
        "bert/embeddings/word_embeddings": r(cfg["vocab_size"], h),
        "bert/embeddings/token_type_embeddings": r(cfg["type_vocab_size"], h),
        "bert/embeddings/position_embeddings": r(cfg["max_position_embeddings"], h),
        "bert/embeddings/LayerNorm/gamma": 1 + r(h),
        "bert/embeddings/LayerNorm/beta": r(h),
        "bert/pooler/dense/kernel": r(h, h),
        "bert/pooler/dense/bias": r(h),
    }
    for li in range(cfg["num_hidden_layers"]):
        p = f"bert/encoder/layer_{li}/"
        for name in ("query", "key", "value"):
            w[p + f"attention/self/{name}/kernel"] = r(h, h)
            w[p + f"attention/self/{name}/bias"] = r(h)
        w[p + "attention/output/dense/kernel"] = r(h, h)
        w[p + "attention/output/dense/bias"] = r(h)
        w[p + "attention/output/LayerNorm/gamma"] = 1 + r(h)
        w[p + "attention/output/LayerNorm/beta"] = r(h)
        w[p + "intermediate/dense/kernel"] = r(h, i)
        w[p + "intermediate/dense/bias"] = r(i)
        w[p + "output/dense/kernel"] = r(i, h)
        w[p + "output/dense/bias"] = r(h)
        w[p + "output/LayerNorm/gamma"] = 1 + r(h)
        w[p + "output/LayerNorm/beta"] = r(h)
    return w
