"""bench/intent.py's model selection refuses what would make a reported number dishonest: test
data before selection, a configuration not chosen on validation, validation examples that are
also test examples, and a subsampled run passed off as comparable (fast: no training)."""

import json
from pathlib import Path

import pytest

from bench import selection as rule
from bench.datasets import (
    CARVED_VALIDATION_FRACTION,
    carve_validation,
    development,
    load_test,
)
from components.evaluation.runner import Example

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "banking77" / "train.csv").exists(), reason="the Banking77 benchmark data is not in ../shared/data (it is not part of the repository, so a clone elsewhere has none)")


def scored(name: str, correct: int, cost: int = 0, total: int = 10) -> rule.Scored:
    return rule.Scored(rule.Candidate(name, {"fusion": name}, cost), correct, total)


def finished(system: str = "fusion", chosen_on: str = rule.VALIDATION) -> rule.Selection:
    selection = rule.select(system, [scored("concat", 8, 3)], {"split": "official dev", "examples": 10},
                            ["dev:0", "dev:1"], {"concat": Path("model.tar.gz")})
    return rule.Selection(selection.system, selection.chosen, selection.scored, chosen_on,
                          selection.validation_source, selection.validation_ids, selection.model)


def test_the_most_correct_candidate_wins_and_ties_go_to_the_cheaper_then_the_first() -> None:
    assert rule.choose([scored("a", 7, 2), scored("b", 9, 5)]).candidate.name == "b"
    assert rule.choose([scored("a", 9, 5), scored("b", 9, 2)]).candidate.name == "b"
    assert rule.choose([scored("a", 9, 3), scored("b", 9, 3)]).candidate.name == "a"
    with pytest.raises(ValueError):
        rule.choose([])


def test_the_chosen_model_is_the_one_trained_for_the_winning_candidate() -> None:
    models = {"concat": Path("c.tar.gz"), "attention": Path("a.tar.gz")}
    selection = rule.select("fusion_finetuned", [scored("concat", 5, 3), scored("attention", 6, 3)],
                            {"split": "x", "examples": 10}, ["val:1"], models)
    assert selection.model == Path("a.tar.gz")
    record = selection.record()
    assert record["chosen"] == "attention" and record["chosen_on"] == "validation"
    assert record["selected_on_validation"] == {"fusion": "attention"}
    assert [c["validation_correct"] for c in record["candidates"]] == [5, 6]


def test_the_test_split_is_refused_without_finished_validation_selections() -> None:
    with pytest.raises(ValueError, match="after model selection"):
        load_test("smp2017", DATA, [])
    with pytest.raises(ValueError, match="not on validation"):
        load_test("smp2017", DATA, [finished(chosen_on="test")])
    with pytest.raises(ValueError, match="not a Selection"):
        load_test("smp2017", DATA, [{"chosen_on": "validation"}])


def test_a_report_of_a_configuration_tuned_on_test_is_refused() -> None:
    result = {"accuracy": 0.9, "selection": {"chosen_on": "validation"}}
    report = {"comparable": True, "systems": {"fusion": result}}
    rule.require_reportable(report, {"fusion": finished()})
    with pytest.raises(ValueError, match="not on validation"):
        rule.require_reportable(report, {"fusion": finished(chosen_on="test")})
    with pytest.raises(ValueError, match="no validation selection"):
        rule.require_reportable(report, {})
    with pytest.raises(ValueError, match="does not carry"):
        rule.require_reportable({"comparable": True, "systems": {"fusion": {"accuracy": 0.9}}},
                                {"fusion": finished()})
    with pytest.raises(ValueError, match="comparable"):
        rule.require_reportable({"systems": {"fusion": result}}, {"fusion": finished()})


def test_validation_and_test_sharing_an_example_is_refused_and_repeated_texts_are_recorded() -> None:
    a, b = Example("block my card", "card"), Example("where is my refund", "refund")
    record = rule.check_disjoint([("train:0", a), ("train:1", b)], [("test:0", Example("block my card", "card"))])
    assert record["disjoint_ids"] and record["same_text_in_validation_and_test"] == 1
    assert record["validation_ids_sha256"] != record["test_ids_sha256"]
    with pytest.raises(ValueError, match="both validation and test"):
        rule.check_disjoint([("test:0", a)], [("test:0", a), ("test:1", b)])


def test_a_subsampled_run_is_marked_not_comparable() -> None:
    assert rule.comparability(1.0) == {"comparable": True}
    marked = rule.comparability(0.1)
    assert marked["comparable"] is False and "0.1" in marked["why_not"]


def test_the_carved_validation_split_is_stratified_fixed_and_apart_from_training() -> None:
    train = [Example(f"{intent} message {i}", intent) for intent in ("a", "b") for i in range(30)]
    train.append(Example("lonely", "c"))
    rest, validation = carve_validation(train)
    assert carve_validation(train) == (rest, validation)
    assert sorted(e.intent for e in validation) == ["a"] * 3 + ["b"] * 3  # 10 % per intent; "c" kept to train
    assert not {e.text for e in rest} & {e.text for e in validation}
    assert len(rest) + len(validation) == len(train)


def test_the_oos_threshold_maximises_in_scope_accuracy_and_oos_recall_together() -> None:
    confidences = [0.9, 0.8, 0.3, 0.2]
    predicted = ["card", "refund", "card", "refund"]
    truth = ["card", "refund", "oos", "oos"]
    threshold = rule.choose_threshold(confidences, predicted, truth, "oos")
    assert 0.3 < threshold <= 0.8
    assert rule.threshold_scores(confidences, predicted, truth, threshold, "oos") == (1.0, 1.0)


@needs_data
def test_banking77_development_holds_no_test_example_and_records_its_seed() -> None:
    dev = development("banking77", DATA)
    assert dev.validation_source["seed"] is not None
    assert len(dev.validation) == pytest.approx(CARVED_VALIDATION_FRACTION * (len(dev.train) + len(dev.validation)), rel=0.05)
    assert all(i.startswith("train:") for i, _ in dev.train + dev.validation)
    assert not {i for i, _ in dev.train} & {i for i, _ in dev.validation}
    test = load_test("banking77", DATA, [finished()])
    assert len(test) == 3080 and rule.check_disjoint(dev.validation, test)["disjoint_ids"]


def test_spoken_validation_must_be_validation_sentences_with_their_labels(tmp_path: Path) -> None:
    from bench.datasets import Development
    from bench.intent import read_spoken_validation

    validation = [Example("杭州到上海", "map"), Example("明天天气怎么样", "weather"), Example("打开音乐", "app")]
    dev = Development("smp2017", [("train:0", Example("你好", "chat"))],
                      [(f"dev:{i}", e) for i, e in enumerate(validation)], {"split": "official dev"})
    good = {"text": "杭州到上海", "label": "map", "transcript": "杭州道上海"}
    assert rule.check_spoken_validation([good], validation) == [good]

    test_sentence = {"text": "播放周杰伦的歌", "label": "music", "transcript": "播放周杰伦的歌"}
    with pytest.raises(ValueError, match="not a validation sentence"):
        rule.check_spoken_validation([good, test_sentence], validation)
    with pytest.raises(ValueError, match="not a validation sentence"):
        rule.check_spoken_validation([{**good, "label": "weather"}], validation)
    with pytest.raises(ValueError, match="no transcript"):
        rule.check_spoken_validation([{"text": "杭州到上海", "label": "map"}], validation)
    with pytest.raises(ValueError, match="no rows"):
        rule.check_spoken_validation([], validation)
    with pytest.raises(ValueError, match="not an object"):
        rule.check_spoken_validation([good, "杭州到上海"], validation)

    path = tmp_path / "spoken.json"
    path.write_text(json.dumps({"dataset": "smp2017", "split": "dev", "rows": [good]}), encoding="utf-8")
    assert read_spoken_validation(path, "smp2017", dev)["rows"] == [good]
    path.write_text('{"dataset": "smp2017", "split": "test", "rows": []}', encoding="utf-8")
    with pytest.raises(ValueError, match="not 'smp2017' dev"):
        read_spoken_validation(path, "smp2017", dev)
    for body in ('[1, 2]', '{"dataset": "smp2017", "split": "dev", "rows": "x"}'):
        path.write_text(body, encoding="utf-8")
        with pytest.raises(ValueError, match="not a spoken validation file"):
            read_spoken_validation(path, "smp2017", dev)


def test_spoken_validation_counts_in_the_choice_and_the_record_says_how_much() -> None:
    typed_better = rule.Scored(rule.Candidate("sentence_only", {"fusion": "concat"}, 1), 700 + 290, 770 + 400,
                               spoken_correct=290, spoken_total=400)
    heard_better = rule.Scored(rule.Candidate("pinyin", {"fusion": "attention"}, 1), 695 + 330, 770 + 400,
                               spoken_correct=330, spoken_total=400)
    selection = rule.select("fusion_zh", [typed_better, heard_better], {"split": "dev"}, ["dev:0"])
    record = selection.record()
    assert record["chosen"] == "pinyin"
    assert [c["spoken_validation_correct"] for c in record["candidates"]] == [290, 330]
    assert all(c["spoken_validation_examples"] == 400 for c in record["candidates"])
    # the rule compares typed + spoken; the accuracy it reports is the typed one
    assert [c["validation_correct"] for c in record["candidates"]] == [990, 1025]
    assert [c["validation_accuracy"] for c in record["candidates"]] == [round(700 / 770, 4), round(695 / 770, 4)]


def test_spoken_training_rows_must_be_training_sentences_with_their_labels(tmp_path: Path) -> None:
    from bench.datasets import Development
    from bench.intent import read_spoken_training

    train = [Example("杭州到上海", "map"), Example("打开音乐", "app")]
    dev = Development("smp2017", [(f"train:{i}", e) for i, e in enumerate(train)],
                      [("dev:0", Example("明天天气怎么样", "weather"))], {"split": "official dev"})
    heard = {"text": "杭州到上海", "label": "map", "transcript": "杭州道上海"}
    assert rule.check_spoken_training([heard], train) == [heard]
    # a validation sentence, as heard, must not reach training; nor a training sentence relabelled
    with pytest.raises(ValueError, match="not a training sentence"):
        rule.check_spoken_training([heard, {"text": "明天天气怎么样", "label": "weather", "transcript": "x"}], train)
    with pytest.raises(ValueError, match="not a training sentence"):
        rule.check_spoken_training([{**heard, "label": "app"}], train)

    path = tmp_path / "spoken_train.json"
    path.write_text(json.dumps({"dataset": "smp2017", "split": "train", "rows": [heard]}), encoding="utf-8")
    assert read_spoken_training(path, "smp2017", dev)["rows"] == [heard]
    path.write_text(json.dumps({"dataset": "smp2017", "split": "dev", "rows": [heard]}), encoding="utf-8")
    with pytest.raises(ValueError, match="not 'smp2017' train"):
        read_spoken_training(path, "smp2017", dev)


def test_transcripts_that_add_nothing_are_not_training_examples() -> None:
    from bench.intent import spoken_training_examples

    rows = [{"text": "杭州到上海", "label": "map", "transcript": "杭州道上海"},
            {"text": "打开音乐。", "label": "app", "transcript": " 打开音乐 "},  # heard exactly, but the stop
            {"text": "你好", "label": "chat", "transcript": "  "}]  # nothing heard
    assert spoken_training_examples(rows) == [Example("杭州道上海", "map")]


def test_spoken_training_is_a_grid_dimension_left_out_without_the_file() -> None:
    declared = rule.GRIDS["fusion_zh"]
    twins = [c for c in declared if c.spoken_train]
    assert twins and len(twins) * 2 == len(declared)
    assert {c.name + rule.SPOKEN_TRAIN_SUFFIX for c in declared if not c.spoken_train} == {c.name for c in twins}
    assert not any(c.spoken_train for c in rule.candidates("fusion_zh"))
    assert rule.candidates("fusion_zh", spoken_train=True) == declared
    assert rule.candidates("stock_zh", spoken_train=True) == [rule.AS_CONFIGURED]

    # every declared candidate trained: the better one with the transcripts wins, nothing left out
    scored = [rule.Scored(c, 1100 if c == twins[0] else 1000, 1517) for c in declared]
    record = rule.select("fusion_zh", scored, {"split": "official dev"}, ["dev:0"]).record()
    assert record["chosen"] == twins[0].name
    assert record["selected_on_validation"]["spoken_train"] is True
    assert [c["spoken_train"] for c in record["candidates"]] == [c.spoken_train for c in declared]
    assert "left_out" not in record

    # without the file only the others train, and the record names the ones left out
    typed = [rule.Scored(c, 1000, 1517) for c in rule.candidates("fusion_zh")]
    without = rule.select("fusion_zh", typed, {"split": "official dev"}, ["dev:0"]).record()
    assert without["left_out"]["candidates"] == [c.name for c in twins]
    assert "spoken_train" not in without["selected_on_validation"]
