"""Every failure ends in one line naming the file, key or record, with its documented exit code: 1 nothing
written (bad input, a broken model directory), 3 the database refused the first batch, 5 the run failed after
committing batches (a sink or report that cannot be written, a later batch refused): rerun to finish."""
import errno
import json
import shutil

import pytest
from click.testing import CliRunner
from conftest import ROOT
from safetensors.torch import load_file, save_file
from sqlalchemy import exc as sa_exc
from test_nightly import Setup, nightly_docs, tiny_model  # noqa: F401 (fixture)

from extractor.cli import EXIT_AFTER_COMMIT, EXIT_BAD_INPUT, EXIT_DATABASE, main
from extractor.nightly import ledger, sinks

N_DOCS = 12  # two batches of 8 and 4: "after committing" has batches before the failure


@pytest.fixture
def setup(tmp_path, tiny_model):  # noqa: F811 (the fixture)
    s = Setup("parquet", "sqlite", tmp_path, tiny_model)
    s.settings["predict.runtime"] = "torch"  # no ONNX export: these tests are about failures, not runtimes
    s.write_source(nightly_docs(N_DOCS))
    return s


def invoke(s, *extra, **overrides):
    return CliRunner().invoke(main, s.args(*extra, **overrides), env={"EXTRACTOR_WORKDIR": str(s.workdir)})


def one_error_line(result, exit_code, *names):
    """The one ``error:`` line of ``result``, which exited ``exit_code`` and names each of ``names``."""
    assert result.exit_code == exit_code, (result.output, result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    for name in names:
        assert str(name) in errors[0], errors[0]
    return errors[0]


def blocker(tmp_path):
    """A regular file where a directory must be: no directory can be made under it, even by root."""
    path = tmp_path / "blocker"
    path.write_text("a file, not a directory", encoding="utf-8")
    return path


def test_a_sink_under_a_regular_file_exits_5_naming_the_sink_and_the_rerun_finishes(setup, tmp_path):
    sink = blocker(tmp_path) / "out" / "fields.csv"
    line = one_error_line(invoke(setup, sinks=f"[{{type: csv, path: {sink}}}]"), EXIT_AFTER_COMMIT, sink)
    assert f"{N_DOCS} documents processed" in line and "rerun to finish" in line
    assert len(setup.ledger()) == N_DOCS  # the batches stay committed
    good = tmp_path / "good.csv"
    again = setup.run(sinks=f"[{{type: csv, path: {good}}}]")
    assert (again["n_processed"], again["n_skipped"]) == (0, N_DOCS) and good.exists()


def test_a_full_disk_while_writing_sinks_exits_5_naming_them(setup, monkeypatch):
    def no_space(self, row):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sinks._WideTableFiles, "write_row", no_space)
    line = one_error_line(invoke(setup), EXIT_AFTER_COMMIT, "fields.csv", "fields.parquet", "No space left on device")
    assert "rerun to finish" in line


def test_a_report_directory_under_a_regular_file(setup, tmp_path):
    reports = blocker(tmp_path) / "reports"
    one_error_line(invoke(setup, **{"report.directory": str(reports)}), EXIT_AFTER_COMMIT, reports, "rerun to finish")
    # `report` commits nothing: a directory it cannot write is bad configuration (1)
    result = CliRunner().invoke(main, ["report", str(ROOT / "pipelines" / "parquet.yaml"), "--set",
                                       f"report.directory={reports}",
                                       *[x for k, v in setup.settings.items() if k != "database"
                                         for x in ("--set", f"{k}={v}")]],
                                env={"EXTRACTOR_WORKDIR": str(setup.workdir)})
    one_error_line(result, EXIT_BAD_INPUT, reports)


def test_an_unforeseen_failure_after_commits_is_one_line_and_exit_5(setup, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("something nobody foresaw\nsecond line")

    monkeypatch.setattr("extractor.nightly.runner.export_sinks", broken)
    line = one_error_line(invoke(setup), EXIT_AFTER_COMMIT, "RuntimeError: something nobody foresaw")
    assert "second line" not in line


def refuse_batch(monkeypatch, number):
    """Make the database refuse the ``number``-th batch (1-based) as PostgreSQL refuses a value too long."""
    replace_results, calls = ledger._replace_results, []

    def refusing(conn, run, processed):
        calls.append(1)
        if len(calls) == number:
            raise sa_exc.DataError("INSERT INTO field_values ...", {},
                                   Exception("value too long for type character varying(64)\nDETAIL: ..."))
        return replace_results(conn, run, processed)

    monkeypatch.setattr(ledger, "_replace_results", refusing)


def test_a_refused_first_batch_exits_3_naming_its_first_document(setup, monkeypatch):
    refuse_batch(monkeypatch, 1)
    line = one_error_line(invoke(setup), EXIT_DATABASE, "'cv-0001'", "value too long for type character varying(64)")
    assert "DETAIL" not in line and "rerun to finish" not in line
    assert setup.ledger() == {}


def test_a_refused_later_batch_exits_5_naming_its_first_document(setup, monkeypatch):
    refuse_batch(monkeypatch, 2)
    line = one_error_line(invoke(setup), EXIT_AFTER_COMMIT, "'cv-0009'", "value too long")
    assert "8 documents processed" in line and "rerun to finish" in line
    assert len(setup.ledger()) == 8
    monkeypatch.undo()
    assert setup.run()["n_processed"] == N_DOCS - 8  # the rerun finishes


def test_an_integrity_error_is_named_too(setup, monkeypatch):
    def violating(conn, run, processed):
        raise sa_exc.IntegrityError("INSERT ...", {}, Exception("UNIQUE constraint failed: field_values.doc_id"))

    monkeypatch.setattr(ledger, "_replace_results", violating)
    one_error_line(invoke(setup), EXIT_DATABASE, "'cv-0001'", "IntegrityError", "UNIQUE constraint failed")


def test_a_database_lost_after_commits_stays_exit_3(setup, monkeypatch):
    replace_results, calls = ledger._replace_results, []

    def lost(conn, run, processed):
        calls.append(1)
        if len(calls) == 2:
            raise sa_exc.OperationalError("INSERT ...", {}, Exception("server closed the connection unexpectedly"))
        return replace_results(conn, run, processed)

    monkeypatch.setattr(ledger, "_replace_results", lost)
    one_error_line(invoke(setup), EXIT_DATABASE, "server closed the connection", "8 documents processed",
                   "rerun to finish")


# ---------------------------------------------------------------- broken model directories

@pytest.fixture
def model_copy(tiny_model, tmp_path):  # noqa: F811 (the fixture)
    return shutil.copytree(tiny_model, tmp_path / "model-copy")


def test_a_truncated_model_safetensors_exits_1_naming_the_directory(setup, model_copy):
    weights = model_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    one_error_line(invoke(setup, model=str(model_copy)), EXIT_BAD_INPUT, model_copy, "model.safetensors",
                   "truncated")
    assert not (setup.workdir / "extracted.db").exists()  # nothing written


def test_a_config_json_that_does_not_fit_the_weights_exits_1(setup, model_copy):
    config = json.loads((model_copy / "config.json").read_text(encoding="utf-8"))
    config["encoder"]["hidden_size"] *= 2
    (model_copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
    one_error_line(invoke(setup, model=str(model_copy)), EXIT_BAD_INPUT, model_copy,
                   "does not fit config.json", "size mismatch")


def test_a_missing_tensor_exits_1_naming_it(setup, model_copy):
    weights = model_copy / "model.safetensors"
    state = load_file(str(weights))
    dropped = min(state)
    del state[dropped]
    save_file(state, str(weights), metadata={"format": "pt"})
    one_error_line(invoke(setup, model=str(model_copy)), EXIT_BAD_INPUT, model_copy, "does not fit config.json",
                   dropped)


@pytest.mark.parametrize("content, message", [
    ('{"labels": ["EDU"], "tokenizer": "char",', "not valid JSON"),
    ("", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"labels": ["EDU"]}', "missing tokenizer, encoder, head"),
])
def test_an_unreadable_config_json_exits_1_naming_it(setup, model_copy, content, message):
    (model_copy / "config.json").write_text(content, encoding="utf-8")
    one_error_line(invoke(setup, model=str(model_copy)), EXIT_BAD_INPUT, model_copy / "config.json", message)
    assert not (setup.workdir / "extracted.db").exists()  # nothing written


def test_a_config_json_that_is_not_utf8_exits_1_naming_it(setup, model_copy):
    (model_copy / "config.json").write_bytes(b'{"labels": "\xff\xfe"}')
    one_error_line(invoke(setup, model=str(model_copy)), EXIT_BAD_INPUT, model_copy / "config.json", "not UTF-8")


def test_predict_names_a_truncated_model_too(model_copy, tmp_path):
    weights = model_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"doc_id": "a", "text": "本科"}) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["predict", "--model", str(model_copy), "--input", str(docs),
                                       "--output", str(tmp_path / "out.jsonl")])
    one_error_line(result, EXIT_BAD_INPUT, model_copy, "truncated")


# ---------------------------------------------------------------- --set values

@pytest.mark.parametrize("setting, message", [
    ("predict.window_tokens=5", "predict.window_tokens"),
    ("predict.window_stride=64", "predict.window_stride"),
    ("predict.threshold=[1]", "predict.threshold must be a number"),
    ("ray.concurrency=x", "ray.concurrency must be"),
])
def test_set_values_of_the_wrong_type_or_range_exit_1(setup, setting, message):
    one_error_line(invoke(setup, "--set", setting), EXIT_BAD_INPUT, message)
