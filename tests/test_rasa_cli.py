"""The project works with Rasa's own tooling: data validation, story tests and NLU tests."""

import json
import subprocess
import sys
from pathlib import Path

from bench.servers import ROOT, service_env


def rasa(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rasa", *args], cwd=cwd, env=service_env(), capture_output=True, text=True, timeout=1200
    )


def test_rasa_data_validate_reports_no_errors():
    result = rasa("data", "validate")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_rasa_test_core_passes_every_test_story(trained_assistant, tmp_path):
    out = tmp_path / "results"
    result = rasa("test", "core", "--stories", "tests/stories", "--model", str(trained_assistant), "--out", str(out), "--fail-on-prediction-errors")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert not (out / "failed_test_stories.yml").exists() or "none" in (out / "failed_test_stories.yml").read_text().lower()


def test_rasa_test_nlu_runs_with_the_fusion_classifier(trained_assistant, tmp_path):
    out = tmp_path / "nlu-results"
    result = rasa("test", "nlu", "--nlu", "data/nlu.yml", "--model", str(trained_assistant), "--out", str(out))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads((out / "intent_report.json").read_text())
    assert report["accuracy"] > 0.9  # the training data itself: a sanity floor, not a benchmark
    assert "order_status" in report
