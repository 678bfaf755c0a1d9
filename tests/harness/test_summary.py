from ebmbench.records import Record
from ebmbench.summary import summary_table


def test_summary_shows_value_interval_direction_and_settings() -> None:
    records = [Record("ood", "1", "ebm", "digits", "uniform", "auroc", 0.98765, 0.9, 1.0, 100, 0, True,
                      {"score": "-E(x)", "unit": "u"}),
               Record("ood", "1", "ebm", "digits", "uniform", "auroc", 0.1, None, None, 100, 0, True,
                      {"score": "-|grad E|"})]
    lines = summary_table(records).splitlines()
    assert lines[0].split() == ["model", "eval_set", "metric", "value", "95%", "CI", "setting"]
    assert "0.9877" in lines[1] and "[0.9, 1]" in lines[1] and "auroc ↑" in lines[1] and "score=-E(x)" in lines[1]
    assert "score=-|grad E|" in lines[2] and "unit" not in lines[1]
    assert summary_table([]) == "(no results)"
