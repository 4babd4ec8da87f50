"""An evaluation's values as the engine hands them on (``to_values``): every number rounded to
9 decimals (a rounded zero is 0.0, NaN and the infinities kept for the suite to refuse), the
inputs plain JSON (sets sorted, tuples as lists, keys as text), at any depth."""

from __future__ import annotations

import datetime as dt
import math

from alignwatch.metrics.engine import to_values
from alignwatch.metrics.formulas import Evaluation

START = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)


def test_values_and_inputs_are_rounded_to_nine_decimals_and_made_plain_json_at_any_depth() -> None:
    evaluation = Evaluation(START, END)
    evaluation.add(
        "sai", {}, 62.1234567894,
        share=1 / 3, tiny=-1e-12, count=4, name="oven", missing=None, flag=True,
        nested={"ratio": 2 / 3, 7: (0.1 + 0.2, "x"), "ids": {"b", "a"}, "deeper": {"gap": -0.0}},
        series=[1 / 7, {"v": 1e-10}],
    )  # fmt: skip
    evaluation.add("kpi_value", {"kpi": "csat"}, math.nan, worst=math.inf, best=-math.inf)
    evaluation.add("kpi_value", {"kpi": "waste"}, None)

    sai, csat, waste = to_values(evaluation, "day")

    assert (sai.window, sai.window_start, sai.window_end) == ("day", START, END)
    assert sai.value == 62.123456789  # 62.1234567894 to 9 decimals
    assert sai.inputs == {
        "share": 0.333333333, "tiny": 0.0, "count": 4, "name": "oven", "missing": None, "flag": True,
        # 0.1 + 0.2 = 0.30000000000000004; -0.0 and 1e-10 round to zero: 0.0
        "nested": {"ratio": 0.666666667, "7": [0.3, "x"], "ids": ["a", "b"], "deeper": {"gap": 0.0}},
        "series": [0.142857143, {"v": 0.0}],
    }  # fmt: skip
    assert math.copysign(1.0, sai.inputs["tiny"]) == math.copysign(1.0, sai.inputs["nested"]["deeper"]["gap"]) == 1.0
    assert csat.labels == {"kpi": "csat"} and csat.value is not None and math.isnan(csat.value)
    assert csat.inputs == {"worst": math.inf, "best": -math.inf}
    assert waste.value is None and waste.inputs == {}
