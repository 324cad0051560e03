"""The hashed n-gram classifier: learns a toy table, calibrated probabilities, safetensors + JSON only."""

import numpy as np
import pandas as pd
import pytest

from extractor.rules.industry.classifier import (
    ClassifierConfig,
    SectionClassifier,
    expected_calibration_error,
    feature_ids,
    fit_classifier,
    fit_temperature,
)
from extractor.rules.industry.table import ColumnMapping, CompanyTable

WORDS = {"C": ["制药", "钢铁", "机械", "化工"], "J": ["银行", "证券", "保险", "信托"], "K": ["置业", "地产", "房产", "物业"]}
CORES = ["宏远", "金达", "华信", "新元", "天成", "永安", "盛和", "龙腾", "瑞丰", "恒通", "立华", "广泰"]
SMALL = ClassifierConfig(buckets=1 << 12, epochs=30, learning_rate=0.1, calibration_fraction=0.2)


def toy_table() -> CompanyTable:
    rows = [(f"{core}{word}有限公司", section) for section, words in WORDS.items() for word in words for core in CORES]
    frame = pd.DataFrame(rows, columns=["name", "section"])
    return CompanyTable.from_frame(frame, ColumnMapping.of({"name": "full_name"}, "section"))


@pytest.fixture(scope="module")
def classifier() -> SectionClassifier:
    return fit_classifier(toy_table(), SMALL)


def test_features_use_a_stable_hash_not_pythons_salted_hash():
    # crc32 values are fixed: the same name gives the same bucket ids in every process.
    ids = feature_ids("宏远制药", ClassifierConfig(buckets=1 << 12))
    assert ids.dtype == np.int64 and ids.max() < 1 << 12
    assert feature_ids("宏远制药", SMALL).tolist() == feature_ids("宏远制药", SMALL).tolist()


def test_learns_a_separable_toy_table(classifier):
    assert classifier.sections == ("C", "J", "K")
    assert classifier.predict("宏远制药有限公司")[0] == "C"
    # Unseen companies: only the industry word tells the section.
    unseen = {"佳和银行": "J", "北辰化工": "C", "东湖置业": "K", "南山证券": "J"}
    assert [s for s, _ in classifier.predict_batch(list(unseen))] == list(unseen.values())


def test_probabilities_sum_to_one_and_are_high_on_training_names(classifier):
    probabilities = classifier.predict_proba(["宏远银行有限公司", "金达地产有限公司", "完全无关"])
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert probabilities[0, 1] > 0.8 and probabilities[1, 2] > 0.8
    assert probabilities[2].max() < probabilities[0].max()  # no industry word: less sure


def test_temperature_scaling_fixes_overconfident_logits():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 2000)
    logits = rng.normal(size=(2000, 3))
    logits[np.arange(2000), labels] += 1.0
    overconfident = logits * 5
    calibration = fit_temperature(overconfident, labels)
    assert 3.0 < calibration.temperature < 7.0
    assert calibration.nll_after < calibration.nll_before
    assert calibration.ece_after < calibration.ece_before


def test_ece_is_zero_for_perfect_confident_predictions():
    assert expected_calibration_error(np.eye(3), np.arange(3)) == 0.0


def test_save_writes_safetensors_and_json_only_and_loads_identically(tmp_path, classifier):
    classifier.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classifier.json", "classifier.safetensors"]
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.pt"))
    loaded = SectionClassifier.load(tmp_path)
    names = ["宏远制药", "佳和银行", "东湖置业"]
    assert np.array_equal(loaded.predict_proba(names), classifier.predict_proba(names))
    assert loaded.temperature == classifier.temperature and loaded.config == classifier.config


NAMES = ["宏远制药有限公司", "佳和银行", "東湖置業（集团）有限公司", "完全无关", "上海金达地产股份有限公司北京分公司",
         "某某", "x", "ABC科技", "宏远制药有限公司"]


def test_cached_bucket_ids_are_the_feature_ids(classifier):
    from extractor.rules.industry.names import name_keys

    for name in NAMES * 2:  # the second round reads the cache
        assert classifier.bucket_cache.ids(name_keys(name)) == feature_ids(name, SMALL).tolist()


def test_a_full_bucket_cache_is_cleared_and_still_gives_the_same_ids():
    from extractor.rules.industry.classifier import BucketCache
    from extractor.rules.industry.names import name_keys

    cache = BucketCache(SMALL, max_ngrams=8)
    for name in NAMES:
        assert cache.ids(name_keys(name)) == feature_ids(name, SMALL).tolist()
        assert len(cache.buckets) <= 8 + len(feature_ids(name, SMALL))


def test_single_name_and_batch_give_identical_probabilities(classifier):
    rows = classifier.predict_proba(NAMES)
    batch = classifier.predict_batch(NAMES)
    for name, row, (section, probability) in zip(NAMES, rows, batch):
        best = int(row.argmax())
        assert classifier.predict(name) == (classifier.sections[best], float(row[best])) == (section, probability)
        assert np.array_equal(classifier.predict_proba([name])[0], row)


def test_logits_are_the_mean_of_the_feature_rows_plus_bias(classifier):
    for name in NAMES:
        ids = feature_ids(name, SMALL)
        assert np.array_equal(classifier.logits(name), classifier.weight[ids].mean(axis=0) + classifier.bias)
