"""The character error rate bench/speech.py --language zh reports: what counts as the same
character, so that the Mandarin recogniser is scored on what it heard, not on how it wrote it."""

from pathlib import Path

import pytest

from bench.speech import cer, char_errors, normalise_chinese

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("written, normalised", [
    ("我的訂單在哪裡？", "我的订单在哪里"),  # Traditional -> Simplified, punctuation dropped
    ("播放 周杰伦的歌，谢谢！", "播放周杰伦的歌谢谢"),  # spaces and full-width punctuation dropped
    ("打开ＱＱ音乐", "打开qq音乐"),  # full-width Latin folded and lower-cased
    ("明天三点的闹钟", "明天3点的闹钟"),
    ("订单一二三四五", "订单12345"),  # read digit by digit
    ("幺二三", "123"),
    ("两千零一十二年", "2012年"),  # read as a number
    ("二零一二年", "2012年"),
    ("十五号", "15号"),
    ("一百零五", "105"),
    ("三万五千", "35000"),
    ("百度", "百度"),  # unit characters without a digit are words, not numbers
    ("\ufeff春饼哪家好", "春饼哪家好"),  # a byte-order mark inside the data
])
def test_what_the_score_treats_as_the_same_text(written: str, normalised: str) -> None:
    assert normalise_chinese(written) == normalised


def test_the_same_sentence_written_differently_scores_no_error() -> None:
    assert cer(["明天3点的闹钟。", "我的订单一二三四五在哪里？"],
               ["明天三点的闹钟", "我的訂單12345在哪裡"]) == 0.0


def test_errors_are_counted_per_character_over_the_reference() -> None:
    assert char_errors("火车南京到衡水", "我车难经到横水") == (4, 7)  # four substitutions
    assert char_errors("今天天气怎么样", "今天天气怎样") == (1, 7)  # a deletion
    assert char_errors("查火车", "查一下火车") == (2, 3)  # insertions can exceed the reference
    # corpus rate: all edits over all reference characters, not a mean of sentence rates
    assert cer(["今天天气怎么样", "查火车"], ["今天天气怎么样", "查一下火车"]) == pytest.approx(2 / 10)


def test_references_and_hypotheses_must_pair_up() -> None:
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        cer(["你好", "再见"], ["你好"])


def test_the_speech_bench_measures_the_recognisers_the_assistant_runs() -> None:
    """Without flags, bench/speech.py decodes as config.yml's SpeechTranscriber does: English with
    the main recogniser's settings, Mandarin with its `language_models` entry's; flags override."""
    import yaml

    from bench.speech import parse_args, reference_recogniser
    from components.speech_transcriber import SpeechTranscriber, language_model_spec

    pipeline = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]
    entry = next(c for c in pipeline if c["name"].endswith("SpeechTranscriber"))
    config = {**SpeechTranscriber.get_default_config(), **entry}
    zh = language_model_spec(config["language_models"]["zh"])
    assert reference_recogniser("zh") == {k: zh.get(k, config[k]) for k in ("compute_type", "beam_size", "short_window")}
    args = parse_args(["--language", "en", "--split", "dev"])
    assert (args.compute_type, args.beam_size, args.short_window) == (
        config["compute_type"], config["beam_size"], config["short_window"])
    args = parse_args(["--beam-size", "2", "--compute-type", "int8", "--short-window"])
    assert (args.compute_type, args.beam_size, args.short_window) == ("int8", 2, True)
    assert parse_args(["--full-window"]).short_window is False
    with pytest.raises(SystemExit):
        parse_args(["--full-window", "--short-window"])
    # spoken training sentences are heard as customers are: never with themselves as the prompt
    assert parse_args(["--language", "en", "--split", "train"]).initial_prompt is None
    with pytest.raises(SystemExit):
        parse_args(["--language", "en", "--split", "train", "--prompt-from-train"])
