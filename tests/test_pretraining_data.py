"""bert_tf.pretraining_data on real text: SQuAD v1.1 dev paragraphs as documents.

Expected values come from the specification of Google's algorithm (quoted in each test), not
from the code under test. Record-for-record identity with Google's own program was checked out
of band (it needs the original source); see the module docstring of bert_tf/pretraining_data.py.
"""

import collections
import json
import random
import re

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import records, tokenization
from bert_tf import pretraining_data as pd
from conftest import shared_data

PARAGRAPHS = 600  # of SQuAD dev's 2067: enough for tight statistics, fast on 2 cores
SEED = 12345
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def squad_documents(limit: int) -> list:
    """SQuAD dev paragraphs as documents of sentences (split after . ! ? and whitespace)."""
    data = json.loads(shared_data("squad", "dev-v1.1.json").read_text(encoding="utf-8"))
    documents = []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            # One line per sentence: whitespace inside a sentence (some contexts hold line
            # breaks) becomes single spaces.
            sentences = [" ".join(s.split()) for s in SENTENCE_END.split(paragraph["context"])]
            sentences = [s for s in sentences if s]
            documents.append(sentences)
            if len(documents) == limit:
                return documents
    return documents


def write_corpus(path, documents) -> str:
    path.write_text("".join("\n".join(d) + "\n\n" for d in documents), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def vocab_file():
    return str(shared_data("vocab", "bert-base-uncased-vocab.txt"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    documents = squad_documents(PARAGRAPHS)
    return write_corpus(tmp_path_factory.mktemp("squad") / "squad_dev.txt", documents), documents


@pytest.fixture(scope="module")
def tokenizer(vocab_file):
    return pd.load_tokenizer(vocab_file, do_lower_case=True)


@pytest.fixture(scope="module")
def documents(corpus, tokenizer):
    return pd.read_documents([corpus[0]], tokenizer)


def make(documents, tokenizer, seed=SEED, **settings):
    config = pd.PretrainingDataConfig(vocab_file="", dupe_factor=2, **settings)
    return pd.instances_from_documents(list(documents), tokenizer, config, random.Random(seed))


@pytest.fixture(scope="module")
def instances(documents, tokenizer):
    return make(documents, tokenizer)


@pytest.fixture(scope="module")
def wwm_instances(documents, tokenizer):
    return make(documents, tokenizer, do_whole_word_mask=True)


def restored(instance):
    """The instance's tokens before masking."""
    original = list(instance.tokens)
    for position, label in zip(instance.masked_lm_positions, instance.masked_lm_labels):
        original[position] = label
    return original


def segments(instance):
    tokens = restored(instance)
    first_sep = tokens.index("[SEP]")
    return tokens[1:first_sep], tokens[first_sep + 1 : -1]


# ----------------------------------------------------------------------------------------------
# Tokenization and reading
# ----------------------------------------------------------------------------------------------

ODD_TEXT = [
    "Héllo, WORLD!! naïve coöperation — “quoted” ‘text’",
    "ΟΔΟΣ Σίσυφος ΣΊΣΥΦΟΣ",
    "中文字符 and 日本語のテキスト 한국어",
    "a\x00b\u200bc\ufffd d\te\u3000f\x7fg",
    "line\u2028separator\u2029paragraph\x85next\x1cfs",
    "emoji 😀 ™ © ° ± ∑∫√ ﬁne Ǆemal İstanbul straße",
    "don't stop-believing (1999). U.S.A. $3.50 #tag @user ^_^ `x` {y} [z] ~w~ |p|",
    "x" * 250 + " " + "y" * 200,
    "",
    "   \t  ",
]


@pytest.mark.parametrize("lower", [True, False])
def test_cached_tokenizer_gives_the_full_tokenizers_output(corpus, vocab_file, lower):
    full = tokenization.FullTokenizer(vocab_file, do_lower_case=lower)
    cached = pd.CachedTokenizer(tokenization.FullTokenizer(vocab_file, do_lower_case=lower))
    lines = [sentence for document in corpus[1][:250] for sentence in document] + ODD_TEXT
    for line in lines + lines:  # The second time through, every word comes from the cache.
        assert cached.tokenize(line) == full.tokenize(line), line
    assert cached.tokenize("Héllo".encode("utf-8")) == full.tokenize("Héllo")


def test_read_documents_follows_the_input_format(tmp_path, tokenizer):
    first = tmp_path / "a.txt"
    first.write_bytes(
        b"\n\nThe first sentence.\r\nA second\rline.\n\x00\x01\n\n\n"
        b"Alone here.\n \t \nNext document\nruns on"
    )
    second = tmp_path / "b.txt"
    second.write_bytes(b"into the second file.\n\xe3\x80\x80\nLast \xff\xfeone.")
    stats = pd.CorpusStats()
    docs = pd.read_documents([str(first), str(second)], tokenizer, stats)
    # TensorFlow's readline (used by the original) deletes carriage returns: "secondline".
    assert docs[0] == [
        tokenizer.tokenize("The first sentence."),
        tokenizer.tokenize("A secondline."),
    ]
    assert docs[1] == [tokenizer.tokenize("Alone here.")]
    # No blank line at the end of a.txt: the document runs on into b.txt, as in the original.
    assert docs[2] == [
        tokenizer.tokenize(t) for t in ("Next document", "runs on", "into the second file.")
    ]
    # A line of U+3000 (ideographic space) is blank once stripped: a document break.
    assert docs[3] == [tokenizer.tokenize("Last one.")]
    assert len(docs) == 4
    assert stats.lines_without_tokens == 1 and stats.invalid_utf8_lines == 1
    assert stats.invalid_utf8_where == [f"{second}:3"]
    assert stats.documents == 4 and stats.one_sentence_documents == 2 and stats.lines == 14


def test_plan_shards_cuts_after_blank_lines_and_covers_everything(tmp_path, corpus, tokenizer):
    text = open(corpus[0], "rb").read()
    half = len(text) // 2
    part_a, part_b = tmp_path / "a.txt", tmp_path / "b.txt"
    part_a.write_bytes(text[: text.index(b"\n\n", half) + 2])
    part_b.write_bytes(text[text.index(b"\n\n", half) + 2 :])
    files = [str(part_a), str(part_b)]
    for count in (1, 2, 3, 7):
        shards = pd.plan_shards(files, count)
        assert len(shards) == count
        flat = [segment for shard in shards for segment in shard]
        for path in files:  # Every byte of every file, in order, exactly once.
            pieces = [(s.start, s.end) for s in flat if s.path == path]
            assert pieces[0][0] == 0 and pieces[-1][1] == len(open(path, "rb").read())
            assert all(end == start for (_, end), (start, _) in zip(pieces, pieces[1:]))
        for segment in flat:  # Cuts fall right after a blank line (or at a file's edge).
            data = open(segment.path, "rb").read()
            assert segment.start == 0 or data[: segment.start].endswith(b"\n\n")
        sharded = [doc for shard in shards for doc in pd.read_documents(shard, tokenizer)]
        whole = pd.read_documents(files, tokenizer)
        assert sharded == whole  # No document is split by a cut.


def test_shards_of_a_crlf_file_read_through_gfile(tmp_path, corpus, tokenizer):
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(open(corpus[0], "rb").read()[:60000].replace(b"\n", b"\r\n"))
    whole = pd.read_documents([str(crlf)], tokenizer)
    # file:// goes through tf.io.gfile, whose readline drops "\r": shard ends must still hold.
    for path in (str(crlf), f"file://{crlf}"):
        shards = pd.plan_shards([path], 3)
        assert [doc for shard in shards for doc in pd.read_documents(shard, tokenizer)] == whole


def test_config_is_validated():
    with pytest.raises(ValueError, match="--max_seq_length=4"):
        pd.PretrainingDataConfig("v", max_seq_length=4).validate()
    with pytest.raises(ValueError, match="--masked_lm_prob=1.5"):
        pd.PretrainingDataConfig("v", masked_lm_prob=1.5).validate()
    with pytest.raises(ValueError, match="--dupe_factor=0"):
        pd.PretrainingDataConfig("v", dupe_factor=0).validate()
    with pytest.raises(ValueError, match="--max_predictions_per_seq=0"):
        pd.PretrainingDataConfig("v", max_predictions_per_seq=0).validate()


def test_vocabulary_without_special_tokens_is_refused(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\nhello\n")
    with pytest.raises(ValueError, match=r"lacks \[CLS\], \[SEP\], \[MASK\]"):
        pd.load_tokenizer(str(vocab), True)
    with pytest.raises(FileNotFoundError):
        pd.load_tokenizer(str(tmp_path / "missing.txt"), True)


# ----------------------------------------------------------------------------------------------
# Instances: the specification
# ----------------------------------------------------------------------------------------------


def test_instances_are_well_formed(instances, tokenizer):
    assert len(instances) > 2000
    for instance in instances:
        tokens = instance.tokens
        assert len(tokens) <= 128 and tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
        first_sep = restored(instance).index("[SEP]")
        assert instance.segment_ids == [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)
        assert 1 <= first_sep - 1 and first_sep + 2 < len(tokens)  # Both segments non-empty.
        assert all(token in tokenizer.vocab for token in tokens)


@pytest.mark.parametrize("whole_words", [False, True])
def test_masked_positions_are_sorted_and_never_special(instances, wwm_instances, whole_words):
    for instance in wwm_instances if whole_words else instances:
        positions = instance.masked_lm_positions
        assert positions == sorted(set(positions))
        original = restored(instance)
        assert all(original[p] not in ("[CLS]", "[SEP]") for p in positions)
        assert all(instance.tokens[p] not in ("[CLS]", "[SEP]") for p in positions)
        unmasked = set(range(len(original))) - set(positions)
        assert all(instance.tokens[p] == original[p] for p in unmasked)


def test_number_of_predictions_is_the_formula(instances, wwm_instances):
    def formula(instance):
        return min(20, max(1, int(round(len(instance.tokens) * 0.15))))

    assert all(len(i.masked_lm_positions) == formula(i) for i in instances)
    # Whole words that would overshoot are skipped, so at most the formula, and nearly always it.
    counts = [(len(i.masked_lm_positions), formula(i)) for i in wwm_instances]
    assert all(got <= wanted for got, wanted in counts)
    assert np.mean([got for got, _ in counts]) > 0.97 * np.mean([w for _, w in counts])


def test_replacements_are_80_percent_mask_10_keep_10_random(instances, tokenizer):
    kinds = collections.Counter()
    random_ids = []
    for instance in instances:
        for position, label in zip(instance.masked_lm_positions, instance.masked_lm_labels):
            token = instance.tokens[position]
            if token == "[MASK]":
                kinds["mask"] += 1
            elif token == label:
                kinds["keep"] += 1
            else:
                kinds["random"] += 1
                random_ids.append(tokenizer.vocab[token])
    total = sum(kinds.values())
    assert total > 30000
    sigma = np.sqrt(0.09 / total)  # Binomial standard deviation of a 10% share.
    assert abs(kinds["mask"] / total - 0.8) < 5 * np.sqrt(0.16 / total)
    # A random word equal to the original counts as kept: 1 in 30522 of the 10%, negligible.
    assert abs(kinds["keep"] / total - 0.1) < 5 * sigma
    assert abs(kinds["random"] / total - 0.1) < 5 * sigma
    # Random words are drawn uniformly from the whole vocabulary, [unused] entries included.
    vocab_size = len(tokenizer.vocab)
    share_low = np.mean(np.array(random_ids) < 1000)
    assert abs(share_low - 1000 / vocab_size) < 5 * np.sqrt(0.033 / len(random_ids))
    assert abs(np.mean(random_ids) / vocab_size - 0.5) < 0.03


def simulate_next_sentence_share(documents, passes, seed, room=125, short_seq_prob=0.1):
    """Share of random-next instances that the specification implies for these documents.

    The rule: sentences are gathered until the chunk reaches the target length (`room`, or with
    probability `short_seq_prob` a uniform length in [2, room]) or the document ends; a chunk of
    one sentence always takes a random next segment; a longer one takes A = a uniform number of
    its sentences (1 .. n-1) and a random next with probability 1/2, in which case the sentences
    after A are read again. Only sentence lengths matter for the share.
    """
    rng = random.Random(seed)
    lengths = [[len(sentence) for sentence in document] for document in documents]
    made = random_next = 0
    for _ in range(passes):
        for document in lengths:
            target = rng.randint(2, room) if rng.random() < short_seq_prob else room
            chunk, total, index = 0, 0, 0
            while index < len(document):
                chunk += 1
                total += document[index]
                if index == len(document) - 1 or total >= target:
                    made += 1
                    split = rng.randint(1, chunk - 1) if chunk > 1 else 1
                    if chunk == 1 or rng.random() < 0.5:
                        random_next += 1
                        index -= chunk - split
                    chunk, total = 0, 0
                index += 1
    return random_next / made, made / passes


def test_next_sentence_split_follows_the_rule(instances, documents):
    observed = np.mean([i.is_random_next for i in instances])
    expected, per_pass = simulate_next_sentence_share(documents, passes=40, seed=99)
    # One-sentence chunks (short documents, document ends) always take a random next, so the
    # share is well above 1/2 on short SQuAD paragraphs.
    assert expected > 0.56
    assert abs(observed - expected) < 4.5 * np.sqrt(0.25 / len(instances)) + 0.005
    assert abs(len(instances) / 2 - per_pass) < 0.03 * per_pass


def test_actual_next_pairs_are_continuations_and_random_ones_are_not(instances, documents):
    starts = collections.defaultdict(list)  # first 2 tokens of a sentence -> (document, index)
    for d, document in enumerate(documents):
        for s, sentence in enumerate(document):
            starts[tuple(sentence[:2])].append((d, s))

    def continuation(a, b) -> bool:
        """Whether A is whole sentences i..j-1 of a document and B its sentences j..k-1."""
        for d, s in starts.get(tuple(a[:2]), ()):
            document = documents[d]
            if document[s] != a[: len(document[s])]:
                continue
            covered, index = [], s
            while len(covered) < len(a) and index < len(document):
                covered += document[index]
                index += 1
            if covered != a:
                continue
            following = []
            while len(following) < len(b) and index < len(document):
                following += document[index]
                index += 1
            if following == b:
                return True
        return False

    checked = collections.Counter()
    for instance in instances:
        a, b = segments(instance)
        if len(a) + len(b) >= 125:
            continue  # May have been truncated.
        checked[instance.is_random_next, continuation(a, b)] += 1
    assert checked[False, False] == 0  # Every actual next is a true continuation.
    assert checked[False, True] > 300
    assert checked[True, True] < 0.01 * checked[True, False]


def test_whole_word_masking_never_splits_a_word(wwm_instances):
    for instance in wwm_instances:
        original = restored(instance)
        words = []  # By the rule: a "##" piece joins the word before it ([CLS]/[SEP] skipped).
        for position, token in enumerate(original):
            if token in ("[CLS]", "[SEP]"):
                continue
            if words and token.startswith("##"):
                words[-1].append(position)
            else:
                words.append([position])
        masked = set(instance.masked_lm_positions)
        for word in words:
            assert masked.issuperset(word) or masked.isdisjoint(word), (word, original)
    multi = sum(label.startswith("##") for i in wwm_instances for label in i.masked_lm_labels)
    assert multi > 1000  # Many masked words do have several pieces.


def test_one_sentence_documents_always_take_a_random_next(tokenizer):
    lonely = [
        [tokenizer.tokenize(f"Document number {k} has one sentence only.")] for k in range(30)
    ]
    config = pd.PretrainingDataConfig(vocab_file="", dupe_factor=3)
    result = pd.instances_from_documents(lonely, tokenizer, config, random.Random(1))
    assert len(result) == 90 and all(i.is_random_next for i in result)


def test_long_sentences_are_truncated_to_fit(tokenizer):
    long = tokenizer.tokenize(" ".join(["extraordinarily long sentence"] * 100))
    docs = [[long, long[:10]], [long]]
    config = pd.PretrainingDataConfig(vocab_file="", dupe_factor=5, max_seq_length=32)
    result = pd.instances_from_documents(docs, tokenizer, config, random.Random(3))
    assert result and all(len(i.tokens) <= 32 for i in result)
    assert pd._count_long_sentences(docs, 32) == 2


# ----------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------


def reference_truncate(a, b, max_tokens, rng):
    """The specification, step by step: drop one token of the longer (B if equal) at a time,
    from the front when `rng.random() < 0.5`, else from the back."""
    while len(a) + len(b) > max_tokens:
        longer = a if len(a) > len(b) else b
        from_front = rng.random() < 0.5
        longer.pop(0 if from_front else -1)


def test_truncate_seq_pair_matches_the_rule():
    cases = random.Random(5)
    ends = collections.Counter()
    for trial in range(300):
        a = [f"a{i}" for i in range(cases.randint(1, 90))]
        b = [f"b{i}" for i in range(cases.randint(1, 90))]
        limit = cases.randint(2, 130)
        ours, theirs = (list(a), list(b)), (list(a), list(b))
        rng_ours, rng_theirs = random.Random(trial), random.Random(trial)
        pd.truncate_seq_pair(*ours, limit, rng_ours)
        reference_truncate(*theirs, limit, rng_theirs)
        assert ours == theirs
        assert rng_ours.random() == rng_theirs.random()  # Same number of draws.
        assert len(ours[0]) + len(ours[1]) <= limit and ours[0] and ours[1]
        ends["front"] += ours[0][0] != a[0]
        ends["back"] += ours[0][-1] != a[-1]
    assert ends["front"] > 50 and ends["back"] > 50


def test_fast_shuffle_draws_like_random_shuffle():
    for size in list(range(0, 40)) + [127, 128, 129, 1000]:
        items = list(range(size))
        reference, ours = random.Random(size), random.Random(size)
        expected = list(items)
        reference.shuffle(expected)
        pd._shuffle(ours, items)
        assert items == expected and reference.random() == ours.random()


def test_same_seed_same_instances_other_seed_others(documents, tokenizer, instances):
    again = make(documents, tokenizer)
    assert [str(i) for i in again] == [str(i) for i in instances]
    other = make(documents, tokenizer, seed=SEED + 1)
    assert [str(i) for i in other] != [str(i) for i in instances]


def test_encoder_matches_generic_serialization(instances, tokenizer):
    encoder = pd.InstanceEncoder(tokenizer.vocab, 128, 20)
    for index, instance in enumerate(instances):
        features = pd.instance_to_features(instance, tokenizer.vocab, 128, 20)
        assert encoder.encode(instance) == records.serialize_example(features)
        if index < 25:
            proto = records.make_example(features).SerializeToString(deterministic=True)
            assert encoder.encode(instance) == proto


def test_written_records_have_googles_features(instances, tokenizer, tmp_path):
    path = str(tmp_path / "p.tfrecord")
    counts = pd.write_instance_to_example_files(instances[:200], tokenizer, 128, 20, [path])
    assert counts == [200]
    cls_id, sep_id = tokenizer.vocab["[CLS]"], tokenizer.vocab["[SEP]"]
    for raw, instance in zip(tf.data.TFRecordDataset([path]), instances):
        feature = tf.train.Example.FromString(raw.numpy()).features.feature
        assert set(feature) == set(records.PRETRAINING_FEATURES)
        ints = {name: list(feature[name].int64_list.value) for name in feature}
        assert list(feature["masked_lm_weights"].int64_list.value) == []
        weights = list(feature["masked_lm_weights"].float_list.value)
        for name in records.SEQUENCE_FEATURES:
            assert len(ints[name]) == 128
        for name in ("masked_lm_positions", "masked_lm_ids"):
            assert len(ints[name]) == 20
        assert len(weights) == 20 and len(ints["next_sentence_labels"]) == 1
        used = len(instance.tokens)
        assert ints["input_mask"] == [1] * used + [0] * (128 - used)
        assert ints["input_ids"][0] == cls_id and ints["input_ids"][used - 1] == sep_id
        assert ints["input_ids"][used:] == [0] * (128 - used)
        predicted = len(instance.masked_lm_positions)
        assert weights == [1.0] * predicted + [0.0] * (20 - predicted)
        assert ints["masked_lm_ids"][:predicted] == tokenizer.convert_tokens_to_ids(
            instance.masked_lm_labels
        )
        assert ints["next_sentence_labels"] == [int(instance.is_random_next)]


def test_round_robin_over_output_files(instances, tokenizer, tmp_path):
    single = str(tmp_path / "all.tfrecord")
    parts = [str(tmp_path / f"part{k}.tfrecord") for k in range(3)]
    pd.write_instance_to_example_files(instances[:100], tokenizer, 128, 20, [single])
    counts = pd.write_instance_to_example_files(instances[:100], tokenizer, 128, 20, parts)
    assert counts == [34, 33, 33]
    merged = [r.numpy() for r in tf.data.TFRecordDataset([single])]
    for k, part in enumerate(parts):
        assert [r.numpy() for r in tf.data.TFRecordDataset([part])] == merged[k::3]
