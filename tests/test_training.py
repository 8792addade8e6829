"""The shared training loop: checkpoints, resume after a kill, two-replica equivalence."""

import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf

from conftest import REPO, TINY_CONFIG
from bert_tf import checkpoints, metrics, training
from bert_tf.heads import BertPretrainer, pretraining_loss
from bert_tf.modeling import BertConfig
from bert_tf.optimization import create_optimizer

NO_DROPOUT = dict(TINY_CONFIG, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _batch(seed=0, batch=4, seq=12, preds=3):
    rng = np.random.default_rng(seed)
    return {
        "input_ids": rng.integers(5, 99, size=(batch, seq)).astype(np.int32),
        "input_mask": np.ones((batch, seq), np.int32),
        "segment_ids": np.repeat([[0] * 6 + [1] * 6], batch, axis=0).astype(np.int32),
        "masked_lm_positions": np.tile([[1, 4, 8]], (batch, 1)).astype(np.int32),
        "masked_lm_ids": rng.integers(5, 99, size=(batch, preds)).astype(np.int32),
        "masked_lm_weights": np.ones((batch, preds), np.float32),
        "next_sentence_labels": rng.integers(0, 2, size=(batch, 1)).astype(np.int32),
    }


def _trainer(output_dir, steps=6, save_every=2, accumulation=1):
    tf.keras.utils.set_random_seed(0)  # the same initial weights for every run
    config = BertConfig.from_dict(NO_DROPOUT)
    return training.Trainer(
        model_fn=lambda: BertPretrainer(config),
        loss_fn=lambda o, f, total: (pretraining_loss(o, f, total)[0], {}),
        optimizer_fn=lambda: create_optimizer(1e-3, steps, 2),
        strategy=tf.distribute.get_strategy(),
        output_dir=str(output_dir),
        save_checkpoints_steps=save_every,
        iterations_per_loop=3,
        log_every_steps=1,
        gradient_accumulation_steps=accumulation,
    )


def _dataset():
    return tf.data.Dataset.from_tensors(_batch()).repeat()


def test_checkpoints_and_resume_after_kill(tmp_path):
    full = _trainer(tmp_path / "full")
    full.restore_or_initialize(None)
    full.train(_dataset(), 6)
    assert full.step == 6
    names = sorted(p.name for p in (tmp_path / "full").glob("model.ckpt-*.index"))
    assert names == ["model.ckpt-2.index", "model.ckpt-4.index", "model.ckpt-6.index"]

    # A run "killed" after step 4: a fresh process would build a new trainer on the same dir.
    first = _trainer(tmp_path / "killed")
    first.restore_or_initialize(None)
    first.train(_dataset(), 4)
    # Copy step-4 weights into a new trainer via the checkpoint, as after a restart.
    resumed = _trainer(tmp_path / "killed")
    start = resumed.restore_or_initialize("ignored-when-resuming")
    assert start == 4
    resumed.train(_dataset(), 6)
    assert resumed.step == 6
    names_resumed = sorted(p.name for p in (tmp_path / "killed").glob("model.ckpt-*.index"))
    assert names_resumed == names
    a = checkpoints.list_checkpoint(str(tmp_path / "full" / "model.ckpt-6"))
    assert "bert/pooler/dense/kernel/adam_m" in a and "global_step" in a
    ra = tf.train.load_checkpoint(str(tmp_path / "full" / "model.ckpt-6"))
    rb = tf.train.load_checkpoint(str(tmp_path / "killed" / "model.ckpt-6"))
    for name in a:
        np.testing.assert_allclose(rb.get_tensor(name), ra.get_tensor(name), rtol=1e-5, atol=1e-6)
    assert int(rb.get_tensor("global_step")) == 6


def test_keeps_newest_checkpoints(tmp_path):
    trainer = _trainer(tmp_path, steps=6, save_every=1)
    trainer.keep_checkpoint_max = 2
    trainer.restore_or_initialize(None)
    trainer.train(_dataset(), 6)
    assert sorted(p.name for p in tmp_path.glob("model.ckpt-*.index")) == [
        "model.ckpt-5.index", "model.ckpt-6.index"
    ]
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-6")


def test_gradient_accumulation_equals_one_batch(tmp_path):
    """Two identical micro-batches give one batch's update: the sparse token-type and word
    gradients of the micro-batches add up, and their norm is the summed gradient's."""
    half = _batch(seed=2, batch=2)
    doubled = {k: np.concatenate([v, v]) for k, v in half.items()}
    runs = {}
    for accumulation, batch in ((1, half), (2, doubled)):
        trainer = _trainer(tmp_path / str(accumulation), 3, save_every=3, accumulation=accumulation)
        trainer.restore_or_initialize(None)
        trainer.train(tf.data.Dataset.from_tensors(batch).repeat(), 3)
        runs[accumulation] = {
            v.path: (v.numpy(), *(s.numpy() for s in trainer.optimizer.slots(v).values()))
            for v in trainer.model.trainable_variables
        }
    for slot in (1, 2):  # adam_m, adam_v: proportional to the clipping factor
        scale = max(np.abs(values[slot]).max() for values in runs[1].values())
        for name, values in runs[1].items():
            got = runs[2][name][slot]
            np.testing.assert_allclose(got, values[slot], rtol=0, atol=1e-4 * scale, err_msg=name)
    for name, values in runs[1].items():
        np.testing.assert_allclose(runs[2][name][0], values[0], rtol=0, atol=1e-5, err_msg=name)


def test_two_replicas_match_one_device(tmp_path):
    """A MirroredStrategy over two logical CPUs gives the single-device losses and weights."""
    script = textwrap.dedent(
        f"""
        import sys, numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        sys.path.insert(0, {str(REPO / "tests")!r})
        from test_training import _batch, NO_DROPOUT
        from bert_tf import training, checkpoints
        from bert_tf.heads import BertPretrainer, pretraining_loss
        from bert_tf.modeling import BertConfig
        from bert_tf.optimization import create_optimizer
        results = {{}}
        for name, strategy in [("one", tf.distribute.OneDeviceStrategy("/cpu:0")),
                               ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))]:
            tf.keras.utils.set_random_seed(3)
            config = BertConfig.from_dict(NO_DROPOUT)
            t = training.Trainer(lambda: BertPretrainer(config),
                                 lambda o, f, total: (pretraining_loss(o, f, total)[0],
                                                      {{"mlm": pretraining_loss(o, f, total)[1]}}),
                                 lambda: create_optimizer(1e-2, 10, 0), strategy,
                                 {str(tmp_path)!r} + "/" + name, save_checkpoints_steps=100,
                                 iterations_per_loop=1, log_every_steps=1)
            t.restore_or_initialize(None)
            batch = _batch(seed=1, batch=8)
            batch["masked_lm_weights"][::3, 2] = 0.0   # unequal weights per replica
            losses = [t.train(tf.data.Dataset.from_tensors(batch).repeat(), s)["loss"] for s in (1, 2, 3)]
            results[name] = (losses, t.model.bert.pooler.dense.kernel.numpy())
        print("LOSSES", results["one"][0], results["two"][0])
        np.testing.assert_allclose(results["two"][0], results["one"][0], rtol=2e-5)
        np.testing.assert_allclose(results["two"][1], results["one"][1], atol=2e-5)
        print("OK")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert "OK" in result.stdout, result.stdout[-3000:] + result.stderr[-5000:]


def test_two_worker_processes_match_one_device(tmp_path):
    """MultiWorkerMirroredStrategy from TF_CONFIG, two processes on localhost, same losses."""
    import json
    import os
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    script = textwrap.dedent(
        f"""
        import json, sys, numpy as np, tensorflow as tf
        sys.path.insert(0, {str(REPO / "tests")!r})
        from test_training import _batch, NO_DROPOUT
        from bert_tf import training
        from bert_tf.heads import BertPretrainer, pretraining_loss
        from bert_tf.modeling import BertConfig
        from bert_tf.optimization import create_optimizer
        strategy = training.make_strategy() if len(sys.argv) > 1 else tf.distribute.get_strategy()
        tf.keras.utils.set_random_seed(3)
        config = BertConfig.from_dict(NO_DROPOUT)
        t = training.Trainer(lambda: BertPretrainer(config),
                             lambda o, f, total: (pretraining_loss(o, f, total)[0], {{}}),
                             lambda: create_optimizer(1e-2, 10, 0), strategy,
                             {str(tmp_path)!r} + "/run" + (sys.argv[1] if len(sys.argv) > 1 else ""),
                             save_checkpoints_steps=100, iterations_per_loop=1, log_every_steps=1)
        t.restore_or_initialize(None)
        batch = _batch(seed=1, batch=8)
        batch["masked_lm_weights"][::3, 2] = 0.0
        ds = tf.data.Dataset.from_tensors(batch).repeat()
        losses = [t.train(ds, s)["loss"] for s in (1, 2, 3)]
        print("LOSSES", json.dumps(losses))
        """
    )
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, "-c", script, str(index)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    single = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    outputs = [p.communicate(timeout=600) for p in procs]

    def losses(stdout, stderr):
        lines = [line for line in stdout.splitlines() if line.startswith("LOSSES")]
        assert lines, stdout[-2000:] + stderr[-4000:]
        return json.loads(lines[-1].split(" ", 1)[1])

    expected = losses(single.stdout, single.stderr)
    for stdout, stderr in outputs:
        np.testing.assert_allclose(losses(stdout, stderr), expected, rtol=2e-5)


def test_variables_the_loss_does_not_reach_are_left_alone_quietly(tmp_path):
    """Masked-LM loss only: the pooler gets no gradient, keeps its weights and zero Adam slots,
    and training says nothing about it (the original's optimizer skipped None gradients)."""
    import warnings

    for accumulation in (1, 2):
        tf.keras.utils.set_random_seed(0)
        trainer = training.Trainer(
            model_fn=lambda: BertPretrainer(BertConfig.from_dict(NO_DROPOUT)),
            loss_fn=lambda o, f, total: (pretraining_loss(o, f, total)[1], {}),
            optimizer_fn=lambda: create_optimizer(1e-2, 4, 0),
            strategy=tf.distribute.get_strategy(),
            output_dir=str(tmp_path / f"acc{accumulation}"),
            save_checkpoints_steps=2,
            iterations_per_loop=1,
            gradient_accumulation_steps=accumulation,
        )
        trainer.restore_or_initialize(None)
        pooler = trainer.model.bert.pooler.dense.kernel.numpy()
        (query_var,) = [v for v in trainer.model.weights if "layer_0" in v.path and "query/kernel" in v.path]
        query = query_var.numpy()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer.train(_dataset(), 2)
        assert not [w for w in caught if "Gradients do not exist" in str(w.message)]
        np.testing.assert_array_equal(trainer.model.bert.pooler.dense.kernel.numpy(), pooler)
        assert not np.array_equal(query_var.numpy(), query)
        reader = tf.train.load_checkpoint(str(tmp_path / f"acc{accumulation}" / "model.ckpt-2"))
        assert not reader.get_tensor("bert/pooler/dense/kernel/adam_m").any()


def test_periodic_evals_trace_the_eval_step_once(tmp_path):
    trainer = _trainer(tmp_path / "run")
    trainer.restore_or_initialize(None)
    traced = []

    def metric_sums(outputs, features):  # Python here runs only while tracing
        traced.append(1)
        return metrics.pretraining_metric_sums(outputs, features)

    evals = []
    eval_data = tf.data.Dataset.from_tensors(_batch(seed=1)).repeat()
    trainer.train(
        _dataset(),
        6,
        eval_fn=lambda: evals.append(trainer.evaluate(eval_data, 2, metric_sums)) or {},
        eval_every_steps=2,
    )
    assert len(evals) == 3 and len(traced) == 1
    # The reused step reads the current weights: each eval equals one made by a fresh trace.
    fresh = trainer.evaluate(eval_data, 2, lambda o, f: metric_sums(o, f))
    assert len(traced) == 2
    assert fresh == evals[-1]
    assert evals[0]["loss_sum"] != evals[-1]["loss_sum"]
