"""GLUE processors on the real files and on hand-written layouts, features, metrics, records."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import SPECIAL_TOKENS, shared_data
from bert_tf import metrics, records
from bert_tf.tasks import glue
from bert_tf.tasks.common import InputExample
from bert_tf.tokenization import FullTokenizer

VOCAB = [
    *SPECIAL_TOKENS,
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "the",
    "cat",
    "sat",
    "dog",
    "ran",
    "good",
    "bad",
    ".",
    "##s",
]


def _write(path, lines, bom=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join("\t".join(map(str, row)) for row in lines) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


@pytest.fixture
def tokenizer(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    return FullTokenizer(str(vocab), do_lower_case=True)


# ---------------------------------------------------------------------------------------------
# The real GLUE files.


def test_real_mrpc_counts_labels_bom_and_quotes():
    folder = str(shared_data("glue", "MRPC"))
    processor = glue.get_processor("MRPC")
    train = processor.get_train_examples(folder)
    dev = processor.get_dev_examples(folder)
    test = processor.get_test_examples(folder)
    assert (len(train), len(dev), len(test)) == (3668, 408, 1725)
    assert processor.get_labels() == ["0", "1"]
    assert sum(e.label == "1" for e in train) == 2474
    assert sum(e.label == "1" for e in dev) == 279
    assert {e.label for e in test} == {None}
    # The BOM is not part of the header (else the first column would not be "Quality" and the
    # labels would still parse, so check the header text itself).
    first_line = next(glue.read_tsv(folder + "/train.tsv"))
    assert first_line == (1, ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"])
    # Unbalanced quotes are plain characters: the field keeps them and no rows are merged.
    assert dev[0].text_b.startswith('"The foodservice pie business')
    assert train[0].text_a.startswith("Amrozi accused his brother")
    assert test[0].guid == "test-0" and glue.example_id(test[-1]) == "1724"


def test_real_sst2_and_rte_counts_and_labels():
    sst = str(shared_data("glue", "SST-2"))
    processor = glue.get_processor("sst-2")
    train = processor.get_train_examples(sst)
    dev = processor.get_dev_examples(sst)
    test = processor.get_test_examples(sst)
    assert (len(train), len(dev), len(test)) == (67349, 872, 1821)
    assert sum(e.label == "1" for e in dev) == 444
    assert all(e.text_b is None for e in dev)
    assert test[0].text_a == "uneasy mishmash of styles and genres ."

    rte = str(shared_data("glue", "RTE"))
    processor = glue.get_processor("RTE")
    train, dev = processor.get_train_examples(rte), processor.get_dev_examples(rte)
    assert (len(train), len(dev)) == (2490, 277)
    assert processor.get_labels() == ["entailment", "not_entailment"]
    assert sum(e.label == "entailment" for e in dev) == 146
    assert dev[0].text_b == "Christopher Reeve had an accident."


# ---------------------------------------------------------------------------------------------
# Hand-written files in every other task's layout.


def test_cola_headerless_train_and_headed_test(tmp_path):
    _write(tmp_path / "train.tsv", [["gj04", 1, "", "The cat sat."], ["gj04", 0, "*", "Cat the."]])
    _write(tmp_path / "dev.tsv", [["gj04", 1, "", "The dog ran."]])
    _write(tmp_path / "test.tsv", [["index", "sentence"], [0, "A cat."], [1, "Dog a."]])
    processor = glue.get_processor("CoLA")
    train = processor.get_train_examples(str(tmp_path))
    assert [(e.text_a, e.label) for e in train] == [("The cat sat.", "1"), ("Cat the.", "0")]
    assert processor.get_dev_examples(str(tmp_path))[0].label == "1"
    test = processor.get_test_examples(str(tmp_path))
    assert [(e.guid, e.text_a, e.label) for e in test] == [
        ("test-0", "A cat.", None),
        ("test-1", "Dog a.", None),
    ]
    assert processor.metric_names == ("mcc",)
    assert processor.predict_sets[0].submission == "CoLA.tsv"


def _stsb_header(with_score=True):
    names = ["index", "genre", "filename", "year", "old_index", "source1", "source2"]
    return names + ["sentence1", "sentence2"] + (["score"] if with_score else [])


def test_stsb_is_a_regression_with_float_labels(tmp_path):
    meta = ["main-captions", "MSRvid", "2012test", "0001", "none", "none"]
    _write(tmp_path / "train.tsv", [_stsb_header(), [0] + meta + ["a cat", "a dog", "3.800"]])
    _write(tmp_path / "test.tsv", [_stsb_header(False), [7] + meta + ["a cat", "the cat"]])
    processor = glue.get_processor("sts-b")
    assert processor.is_regression and processor.num_labels == 1
    assert processor.get_labels() == []
    (example,) = processor.get_train_examples(str(tmp_path))
    assert (example.text_a, example.text_b, example.label) == ("a cat", "a dog", 3.8)
    (test,) = processor.get_test_examples(str(tmp_path))
    assert (glue.example_id(test), test.label) == ("7", None)
    assert glue.get_processor("STSB").name == "sts-b"

    bad = tmp_path / "bad"
    _write(bad / "train.tsv", [_stsb_header(), [0] + meta + ["a", "b", "high"]])
    with pytest.raises(ValueError, match=r"train.tsv, line 2: the sts-b score 'high'"):
        processor.get_train_examples(str(bad))


def test_qqp_layouts(tmp_path):
    header = ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]
    _write(tmp_path / "dev.tsv", [header, [5, 1, 2, "how?", "why?", 0], [6, 3, 4, "a", "b", 1]])
    _write(tmp_path / "test.tsv", [["id", "question1", "question2"], [0, "q1", "q2"]])
    processor = glue.get_processor("qqp")
    dev = processor.get_dev_examples(str(tmp_path))
    assert [(e.text_a, e.text_b, e.label) for e in dev] == [("how?", "why?", "0"), ("a", "b", "1")]
    (test,) = processor.get_test_examples(str(tmp_path))
    assert (test.text_a, test.text_b) == ("q1", "q2")
    assert processor.metric_names == ("f1",)


def _mnli_row(index, a, b, label=None, extra_labels=0):
    row = [index, "31193", "31193n", "government", "(x)", "(y)", "(ROOT x)", "(ROOT y)", a, b]
    if label is not None:
        row += [label] * (extra_labels + 1) + [label]
    return row


def test_mnli_matched_mismatched_and_diagnostic(tmp_path):
    data = tmp_path / "MNLI"
    head = [
        "index",
        "promptID",
        "pairID",
        "genre",
        "s1bp",
        "s2bp",
        "s1p",
        "s2p",
        "sentence1",
        "sentence2",
    ]
    _write(data / "train.tsv", [head + ["label1", "gold_label"], _mnli_row(0, "a", "b", "neutral")])
    dev_head = head + [f"label{i}" for i in range(1, 6)] + ["gold_label"]
    _write(data / "dev_matched.tsv", [dev_head, _mnli_row(0, "c", "d", "entailment", 4)])
    _write(data / "dev_mismatched.tsv", [dev_head, _mnli_row(0, "e", "f", "contradiction", 4)])
    _write(data / "test_matched.tsv", [head, _mnli_row(9, "g", "h")])
    _write(data / "test_mismatched.tsv", [head, _mnli_row(3, "i", "j")])
    processor = glue.get_processor("MNLI")
    assert processor.get_labels() == ["contradiction", "entailment", "neutral"]
    assert processor.get_train_examples(str(data))[0].label == "neutral"
    assert processor.get_dev_examples(str(data))[0].text_a == "c"
    assert processor.get_examples(str(data), "dev_mismatched")[0].label == "contradiction"
    assert glue.example_id(processor.get_test_examples(str(data))[0]) == "9"
    assert [(s.split, s.suffix) for s in processor.eval_sets] == [
        ("dev_matched", ""),
        ("dev_mismatched", "_mm"),
    ]
    assert [s.submission for s in processor.predict_sets] == ["MNLI-m.tsv", "MNLI-mm.tsv", "AX.tsv"]
    processor.check_data_dir(str(data), True, True, True)  # the diagnostic set is optional
    assert processor.find_file(str(data), "diagnostic") is None
    _write(
        tmp_path / "diagnostic" / "diagnostic.tsv",
        [["index", "sentence1", "sentence2"], [0, "k", "l"]],
    )
    assert processor.find_file(str(data), "diagnostic") == str(
        tmp_path / "diagnostic" / "diagnostic.tsv"
    )
    (ax,) = processor.get_examples(str(data), "diagnostic")
    assert (ax.text_a, ax.text_b, ax.label) == ("k", "l", None)


@pytest.mark.parametrize(
    "task, labels, submission",
    [
        ("qnli", ["entailment", "not_entailment"], "QNLI.tsv"),
        ("rte", ["entailment", "not_entailment"], "RTE.tsv"),
        ("wnli", ["0", "1"], "WNLI.tsv"),
    ],
)
def test_index_pair_tasks(tmp_path, task, labels, submission):
    _write(tmp_path / "train.tsv", [["index", "s1", "s2", "label"], [0, "x", "y", labels[1]]])
    _write(tmp_path / "test.tsv", [["index", "s1", "s2"], [4, "z", "w"]])
    processor = glue.get_processor(task)
    assert processor.get_labels() == labels
    (example,) = processor.get_train_examples(str(tmp_path))
    assert (example.text_a, example.text_b, example.label) == ("x", "y", labels[1])
    assert glue.example_id(processor.get_test_examples(str(tmp_path))[0]) == "4"
    assert processor.predict_sets[0].submission == submission


def test_xnli_filters_language_and_renames_contradictory(tmp_path):
    _write(
        tmp_path / "multinli" / "multinli.train.de.tsv",
        [["premise", "hypo", "label"], ["p", "h", "contradictory"], ["p2", "h2", "neutral"]],
    )
    head = ["language", "gold_label", "s1bp", "s2bp", "s1p", "s2p", "sentence1", "sentence2"]
    _write(
        tmp_path / "xnli.dev.tsv",
        [
            head,
            ["zh", "neutral", "", "", "", "", "zh1", "zh2"],
            ["de", "entailment", "", "", "", "", "de1", "de2"],
        ],
    )
    processor = glue.get_processor("XNLI", xnli_language="de")
    train = processor.get_train_examples(str(tmp_path))
    assert [e.label for e in train] == ["contradiction", "neutral"]
    (dev,) = processor.get_dev_examples(str(tmp_path))
    assert (dev.text_a, dev.label) == ("de1", "entailment")
    assert glue.get_processor("xnli").get_dev_examples(str(tmp_path))[0].text_a == "zh1"


# ---------------------------------------------------------------------------------------------
# Errors a person can act on.


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(ValueError, match="'squad' is not a known task.*cola, mnli, mrpc"):
        glue.get_processor("squad")
    assert glue.get_processor("Sst_2").name == "sst-2"


def test_wrong_column_count_names_file_and_line(tmp_path):
    path = _write(tmp_path / "train.tsv", [["sentence", "label"], ["fine", 1], ["a", "b", 1]])
    with pytest.raises(ValueError, match=r"train.tsv, line 3: expected 2 tab-separated columns"):
        glue.get_processor("sst-2").get_train_examples(str(tmp_path))
    path.write_text("gj04\t1\tThe cat sat.\n")  # CoLA rows have 4 columns
    with pytest.raises(ValueError, match=r"line 1: expected 4 tab-separated columns .* found 3"):
        glue.get_processor("cola").get_train_examples(str(tmp_path))


def test_label_outside_the_set_names_file_and_row(tmp_path):
    _write(
        tmp_path / "dev.tsv",
        [
            ["index", "s1", "s2", "label"],
            [0, "a", "b", "entailment"],
            [1, "a", "b", "contradiction"],
        ],
    )
    with pytest.raises(ValueError, match=r"dev.tsv, line 3: label 'contradiction' is not one of"):
        glue.get_processor("rte").get_dev_examples(str(tmp_path))


def test_file_meant_for_another_task(tmp_path):
    _write(tmp_path / "train.tsv", [["sentence", "label"], ["a", 1]])
    with pytest.raises(ValueError, match="has 2 columns, the layout reads column 5"):
        glue.get_processor("mrpc").get_train_examples(str(tmp_path))


def test_check_data_dir_names_missing_files(tmp_path):
    processor = glue.get_processor("mrpc")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        processor.check_data_dir(str(tmp_path / "nope"), do_train=True)
    _write(tmp_path / "train.tsv", [["Quality", "a", "b", "c", "d"]])
    processor.check_data_dir(str(tmp_path), do_train=True)
    with pytest.raises(FileNotFoundError, match=r"dev.tsv \(for --do_eval\), test.tsv \(for"):
        processor.check_data_dir(str(tmp_path), do_train=True, do_eval=True, do_predict=True)


# ---------------------------------------------------------------------------------------------
# Features, metrics, outputs, records.


def test_features_truncate_pad_and_log(tokenizer, monkeypatch):
    processor = glue.get_processor("mnli")
    examples = [
        InputExample("dev-0", "the cat sat " * 4, "the dog", "neutral"),
        InputExample("dev-1", "good", None, "entailment"),
    ] + [InputExample(f"dev-{i}", "a", "b", "contradiction") for i in range(2, 7)]
    padded = glue.pad_to_batch(examples, 4)
    assert len(padded) == 8 and isinstance(padded[-1], glue.PaddingInputExample)
    logged = []
    monkeypatch.setattr(glue, "log_features", lambda example, _: logged.append(example.guid))
    features = glue.convert_examples_to_features(padded, processor, 10, tokenizer)
    first = features[0]
    # 12 + 2 tokens for 7 places: the longer (first) text loses tokens from its end.
    assert first.tokens == [
        "[CLS]",
        "the",
        "cat",
        "sat",
        "the",
        "cat",
        "[SEP]",
        "the",
        "dog",
        "[SEP]",
    ]
    assert first.segment_ids == [0] * 7 + [1] * 3 and first.label_id == 2
    assert features[1].input_mask == [1, 1, 1] + [0] * 7 and features[1].label_id == 1
    assert [f.is_real_example for f in features] == [True] * 7 + [False]
    assert features[-1].input_ids == [0] * 10 and features[-1].label_id == 0
    assert logged == ["dev-0", "dev-1", "dev-2", "dev-3", "dev-4"]  # the first five
    assert glue.feature_values(features[-1])["is_real_example"] == [0]


def test_compute_metrics_weighs_out_padding():
    processor = glue.get_processor("mrpc")
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.0, 9.0], [5.0, 0.0]])
    labels = np.array([0, 1, 0, 1, 0, 0])
    real = np.array([1, 1, 1, 1, 0, 0])
    results = processor.compute_metrics(logits, labels, real, batch_size=4)
    predicted = logits[:4].argmax(-1)
    assert results["eval_accuracy"] == metrics.accuracy(predicted, labels[:4]) == 0.5
    assert results["eval_f1"] == metrics.binary_f1(predicted, labels[:4])
    log_probs = tf.nn.log_softmax(logits).numpy()
    per_example = -log_probs[np.arange(6), labels]
    np.testing.assert_allclose(results["eval_loss"], per_example[:4].mean())
    # `loss` averages the batches' losses; the second batch has no real example.
    np.testing.assert_allclose(results["loss"], (per_example[:4].mean() + 0.0) / 2)
    assert set(results) == {"eval_accuracy", "eval_loss", "loss", "eval_f1"}

    cola = glue.get_processor("cola").compute_metrics(logits, labels, real, 8)
    assert cola["eval_mcc"] == metrics.matthews_corrcoef(predicted, labels[:4])

    scores = np.array([[0.5], [2.0], [4.0], [1.0]])
    gold = np.array([1.0, 2.5, 4.5, 1.5])  # same order as the scores
    stsb = glue.get_processor("sts-b").compute_metrics(scores, gold, np.ones(4), 2)
    assert "eval_accuracy" not in stsb
    assert stsb["eval_pearson"] == pytest.approx(np.corrcoef(scores[:, 0], gold)[0, 1])
    assert stsb["eval_spearman"] == pytest.approx(1.0)
    assert stsb["eval_corr"] == pytest.approx((stsb["eval_pearson"] + 1.0) / 2)
    assert stsb["eval_loss"] == pytest.approx(np.mean((scores[:, 0] - gold) ** 2))


def test_submission_and_test_results_files(tmp_path):
    examples = [InputExample("test-10", "a"), InputExample("test-11", "b")]
    logits = np.array([[0.1, 0.9, 0.0], [3.0, 0.0, 0.0]])
    glue.get_processor("mnli").write_submission(str(tmp_path / "MNLI-m.tsv"), examples, logits)
    assert (tmp_path / "MNLI-m.tsv").read_text() == (
        "index\tprediction\n10\tentailment\n11\tcontradiction\n"
    )
    glue.get_processor("sts-b").write_submission(
        str(tmp_path / "STS-B.tsv"), examples, np.array([[3.25], [0.5]])
    )
    assert (tmp_path / "STS-B.tsv").read_text() == "index\tprediction\n10\t3.25\n11\t0.5\n"
    glue.write_test_results(str(tmp_path / "t.tsv"), np.array([[0.25, 0.75], [1.0, 0.0]]))
    assert (tmp_path / "t.tsv").read_text() == "0.25\t0.75\n1.0\t0.0\n"


@pytest.mark.parametrize("regression", [False, True])
def test_classifier_records_round_trip(tmp_path, regression):
    path = str(tmp_path / "eval.tf_record")
    rows = [
        {
            "input_ids": [2, 5 + i, 3, 0],
            "input_mask": [1, 1, 1, 0],
            "segment_ids": [0, 0, 0, 0],
            "label_ids": [i + 0.5 if regression else i % 2],
            "is_real_example": [int(i < 4)],
        }
        for i in range(5)
    ]
    assert records.write_classifier_examples(path, rows, regression=regression) == 5
    example = records.read_first_example(path).features.feature
    if regression:
        assert list(example["label_ids"].float_list.value) == [0.5]
    else:
        assert list(example["label_ids"].int64_list.value) == [0]
    batches = list(records.classifier_dataset(path, 2, 4, is_training=False, regression=regression))
    assert [len(b["input_ids"]) for b in batches] == [2, 2, 1]  # in order, nothing dropped
    labels = np.concatenate([b["label_ids"].numpy() for b in batches])
    np.testing.assert_allclose(labels, [r["label_ids"][0] for r in rows])
    assert batches[0]["label_ids"].dtype == (tf.float32 if regression else tf.int32)
    assert batches[0]["input_ids"].dtype == tf.int32 and batches[0]["input_ids"].shape == (2, 4)
    assert list(np.concatenate([b["is_real_example"].numpy() for b in batches])) == [1] * 4 + [0]

    train = records.classifier_dataset(path, 3, 4, is_training=True, regression=regression, seed=1)
    seen = [b["input_ids"].numpy() for b in train.take(4)]
    assert all(b.shape == (3, 4) for b in seen)  # repeats, whole batches only
    assert records.CLASSIFIER_RECORD_FILES == {
        "train": "train.tf_record",
        "eval": "eval.tf_record",
        "predict": "predict.tf_record",
    }


# ---------------------------------------------------------------------------------------------
# ChnSentiCorp (Chinese sentiment).


def test_chnsenticorp_layout(tmp_path):
    _write(tmp_path / "train.tsv", [["label", "text_a"], [1, "房间干净，服务好！"], [0, "太差了"]])
    _write(tmp_path / "dev.tsv", [["label", "text_a"], [0, "不推荐"]])
    _write(tmp_path / "test.tsv", [["qid", "text_a"], [7, "还行吧"], [3, "很满意"]])
    processor = glue.get_processor("ChnSentiCorp")
    assert processor.get_labels() == ["0", "1"] and not processor.is_regression
    train = processor.get_train_examples(str(tmp_path))
    assert [(e.text_a, e.text_b, e.label) for e in train] == [
        ("房间干净，服务好！", None, "1"),
        ("太差了", None, "0"),
    ]
    assert processor.get_dev_examples(str(tmp_path))[0].label == "0"
    test = processor.get_test_examples(str(tmp_path))  # In file order, ids from the qid column.
    assert [(glue.example_id(e), e.text_a) for e in test] == [("7", "还行吧"), ("3", "很满意")]


def test_real_chnsenticorp_counts():
    folder = str(shared_data("chinese", "sentiment"))
    processor = glue.get_processor("chnsenticorp")
    train = processor.get_train_examples(folder)
    dev = processor.get_dev_examples(folder)
    test = processor.get_test_examples(folder)
    # The sizes stated in ../shared/data/chinese/SOURCE.txt.
    assert (len(train), len(dev), len(test)) == (13890, 1736, 1737)
    assert {e.label for e in train} == {"0", "1"}
    assert [glue.example_id(e) for e in test[:3]] == ["0", "1", "2"]
