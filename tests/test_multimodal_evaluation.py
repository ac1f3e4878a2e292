"""Held-out multimodal evaluation of the reference assistant's trained model.

tests/data/heldout_multimodal.yml holds photos, screenshots and voice clips never used in
training (data/media/heldout/). The session's trained assistant parses each example with its
media and without (text-only ablation); voice examples also voice-only (empty text + the clip).
The pictures must carry information the short texts ("what is this?", "help") do not.
"""

import json
from pathlib import Path
from typing import Dict

import pytest

from components.evaluation.experiment import evaluate_model, load_nlu
from components.evaluation.report import build_report

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "tests" / "data" / "heldout_multimodal.yml"
ARTIFACTS = ROOT / "test-artifacts" / "multimodal-evaluation"


@pytest.fixture(scope="module")
def heldout_report(trained_assistant: Path) -> Dict:
    """One pass over the held-out set with the session's model (no extra training)."""
    test_data = load_nlu(HELDOUT)
    rows = evaluate_model(trained_assistant, test_data)
    report = build_report(rows, ARTIFACTS, {"model": str(trained_assistant), "test_nlu": str(HELDOUT)})
    print(json.dumps({k: report[k] for k in ("modality_subsets", "text_only_ablation")}, indent=2))
    voice = report["voice_vs_text"]
    print(f"voice held-out: {voice['accuracy_voice_only']} voice only, {voice['accuracy_text_only']} as text")
    return report


def test_heldout_media_were_never_used_in_training() -> None:
    training = "\n".join(p.read_text() for p in (ROOT / "data").glob("*.yml"))
    assert "path: data/media/heldout/" not in training
    heldout = HELDOUT.read_text()
    assert heldout.count("path: data/media/heldout/") >= 30


def test_images_beat_the_text_only_ablation_on_heldout_photos(heldout_report: Dict) -> None:
    subsets = heldout_report["modality_subsets"]
    with_image = subsets["with_image"]
    assert with_image["examples"] >= 20
    ablation = heldout_report["text_only_ablation"]["by_subset"]["with_image"]
    assert ablation["examples"] == with_image["examples"]
    assert ablation["accuracy_with_media"] >= 0.75, (ablation, heldout_report["errors"])
    # The same short texts without their pictures: the picture must be what decides.
    assert ablation["accuracy_with_media"] >= ablation["accuracy_without_media"] + 0.2, ablation


def test_voice_heldout_accuracy_is_reported_next_to_the_text(heldout_report: Dict) -> None:
    voice = heldout_report["voice_vs_text"]
    assert voice["examples"] >= 10
    # Every clip was heard (the transcriber produced words for it).
    assert all(t["heard"] for t in voice["transcripts"]), voice["transcripts"]
    assert voice["accuracy_text_only"] >= 0.8, voice
    # Recognition errors of synthetic voices may cost a little, not most of it.
    assert voice["accuracy_voice_only"] >= voice["accuracy_text_only"] - 0.25, voice
    assert (ARTIFACTS / "report.json").is_file()
