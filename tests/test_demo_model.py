"""The demo does not depend on the machine's load: a demo model below the dev F1 floor is not kept, and a
kept one that is unusable is trained again."""
import json

import pytest

from extractor.nightly import demo
from extractor.paths import REPO_ROOT


def fake_train(f1):
    def train(cfg, schema, train_docs, dev_docs, out_dir, progress=False):
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text("{}")
        (out_dir / "metrics.json").write_text(json.dumps({"dev": {"micro": {"f1": f1}}, "history": [{}]}))
        calls.append(cfg)
    calls = []
    train.calls = calls
    return train


@pytest.fixture(autouse=True)
def no_resolver(monkeypatch):
    monkeypatch.setattr(demo, "prepare_industry_resolver", lambda workdir: workdir / "industry")


def prepare(workdir):
    return demo.prepare_demo(workdir, REPO_ROOT / "schemas" / "resume.yaml", n_train=4, n_dev=2, n_nightly=3)


def test_a_demo_model_below_the_floor_is_refused_and_not_kept(monkeypatch, tmp_path):
    monkeypatch.setattr(demo, "train", fake_train(0.0))
    with pytest.raises(ValueError, match="demo model is unusable .*micro-F1 0.000.*--epochs"):
        prepare(tmp_path)
    assert not (tmp_path / "model").exists()


def test_an_unusable_kept_model_is_trained_again_and_a_usable_one_reused(monkeypatch, tmp_path):
    fake_train(0.0)(None, None, None, None, tmp_path / "model")  # what a busy machine left behind
    good = fake_train(0.9)
    monkeypatch.setattr(demo, "train", good)
    prepare(tmp_path)
    assert len(good.calls) == 1 and good.calls[0].epochs == 8 and good.calls[0].max_minutes >= 30
    prepare(tmp_path)
    assert len(good.calls) == 1  # reused
