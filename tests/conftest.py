import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from extractor.data.sample import generate_documents
from extractor.paths import REPO_ROOT
from extractor.rules.schema import Schema

ROOT = REPO_ROOT
SHARED_DATA = ROOT.parent / "shared" / "data" / "resume_ner"
SHARED_TOOLS = ROOT.parent / "shared" / "tools"


@pytest.fixture(scope="session")
def resume_schema() -> Schema:
    return Schema.load(ROOT / "schemas" / "resume.yaml")


@pytest.fixture(scope="session")
def sample_docs():
    return list(generate_documents(48, seed=7))


def invoke(*args, env=None):
    """Run the ``extractor`` CLI in-process; arguments may be paths or numbers."""
    from click.testing import CliRunner

    from extractor.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, env=env)


def options(encoder_options: dict) -> list[str]:
    """``{"hidden_size": 16}`` -> ``["--encoder-option", "hidden_size=16"]``."""
    return [x for k, v in encoder_options.items() for x in ("--encoder-option", f"{k}={v}")]


# Small enough to train a few epochs in seconds on two cores.
TINY_BILSTM = {"embed_dim": 16, "hidden_size": 16, "num_layers": 1, "bigram_buckets": 512, "dropout": 0.0}


def make_tiny_hf_checkpoint(directory: Path, texts) -> Path:
    """A random-weight BERT and a character vocabulary, saved in Hugging Face layout."""
    from extractor.bench.speed import random_hf_checkpoint

    return random_hf_checkpoint(directory, texts, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=128)


@pytest.fixture(scope="session")
def tiny_hf_dir(tmp_path_factory, sample_docs) -> Path:
    return make_tiny_hf_checkpoint(tmp_path_factory.mktemp("tiny-bert"), [d.text for d in sample_docs])


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, sample_docs) -> Path:
    """A one-epoch tiny BiLSTM for the product schema (the nightly tests train the same one per module)."""
    from extractor.model.train import TrainConfig, train

    out = tmp_path_factory.mktemp("tiny-model") / "model"
    cfg = TrainConfig(epochs=1, seed=1, max_tokens=64, stride=48, patience=2, encoder_options=TINY_BILSTM)
    train(cfg, Schema.load(ROOT / "schemas" / "resume.yaml"), sample_docs[:36], sample_docs[36:40], out)
    return out


@contextmanager
def fresh_postgres_database(prefix: str):
    """A new database on the test PostgreSQL server (EXTRACTOR_TEST_POSTGRES_URL), its URL yielded and the
    database dropped afterwards: tests never see each other's tables."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = os.environ["EXTRACTOR_TEST_POSTGRES_URL"]
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
