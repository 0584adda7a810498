"""The data-science tool set (the second tenant): CSV loading, statistics,
grouping, its execute_code, and that it is self-contained.

Run: /usr/bin/python3 -m pytest test/toolsets/test_data_science.py
"""

import csv
import json
import statistics

import pytest

from toolcall import DATA_SCIENCE, call, import_module

DATA = DATA_SCIENCE / "demo-data"
datasets = import_module(DATA_SCIENCE, "datasets", alias="ds_datasets")
ds_runner = import_module(DATA_SCIENCE, "runner", alias="ds_runner")
TOOLS = {t["name"]: t for t in json.loads((DATA_SCIENCE / "tools.json").read_text())}


@pytest.fixture(autouse=True)
def data_dir(monkeypatch):
    monkeypatch.setattr(datasets, "DATA_DIR", str(DATA))


def sales():
    with open(DATA / "sales.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_list_datasets():
    got = {d["name"]: d for d in datasets.list_datasets()}
    assert set(got) == {"sales", "experiments"}
    assert got["sales"]["rows"] == len(sales())
    assert got["sales"]["columns"][:3] == ["date", "region", "product"]


def test_load_csv_types_and_paging():
    res = datasets.load_csv("sales", limit=3, offset=2)
    assert res["row_count"] == len(sales()) and res["offset"] == 2
    assert res["types"]["units"] == "integer" and res["types"]["revenue"] == "number"
    assert res["types"]["region"] == "text"
    first = sales()[2]
    assert res["rows"][0]["units"] == int(first["units"])
    assert res["rows"][0]["region"] == first["region"]
    assert len(res["rows"]) == 3
    only = datasets.load_csv("sales.csv", limit=1, columns=["region"])
    assert only["columns"] == ["region"] and list(only["rows"][0]) == ["region"]


def test_describe_matches_statistics():
    res = datasets.describe("sales", columns=["units", "region"])
    units = [int(r["units"]) for r in sales()]
    u = res["columns"]["units"]
    assert u["count"] == len(units) and u["missing"] == 0
    assert u["mean"] == round(statistics.fmean(units), 6)
    assert u["median"] == statistics.median(units)
    assert u["stdev"] == round(statistics.stdev(units), 6)
    assert (u["min"], u["max"]) == (min(units), max(units))
    r = res["columns"]["region"]
    assert r["type"] == "text" and r["distinct"] == 4
    assert sum(t["count"] for t in r["top"]) == len(units)


def test_group_by_matches_a_manual_sum():
    res = datasets.group_by("sales", "region", column="revenue", agg="sum")
    manual = {}
    for row in sales():
        manual[row["region"]] = manual.get(row["region"], 0) + float(row["revenue"])
    got = {g["key"]["region"]: g["value"] for g in res["groups"]}
    assert got.keys() == manual.keys()
    for k in manual:
        assert got[k] == pytest.approx(manual[k], abs=1e-4)
    values = [g["value"] for g in res["groups"]]
    assert values == sorted(values, reverse=True)
    counts = datasets.group_by("sales", ["region", "channel"], order="asc", limit=3)
    assert counts["group_count"] == 12 and len(counts["groups"]) == 3
    assert counts["groups"][0]["value"] <= counts["groups"][1]["value"]


@pytest.mark.parametrize("call_, message", [
    (lambda: datasets.load_csv("nope"), "unknown data set 'nope'"),
    (lambda: datasets.load_csv("../../etc/passwd"), "invalid data set name"),
    (lambda: datasets.load_csv("sales", limit=100000), "limit must be between"),
    (lambda: datasets.load_csv("sales", limit="5"), "limit must be an integer"),
    (lambda: datasets.load_csv("sales", columns="region"), "columns must be a list"),
    (lambda: datasets.describe("sales", columns=["height"]), "no column 'height'"),
    (lambda: datasets.group_by("sales", "region", agg="mode"), "agg must be one of"),
    (lambda: datasets.group_by("sales", "region", agg="sum"), "needs a column"),
    (lambda: datasets.group_by("sales", "region", column="product", agg="mean"),
     "not numeric"),
    (lambda: datasets.group_by("sales", [], agg="count"), "by must be"),
])
def test_errors_are_sentences(call_, message):
    with pytest.raises((ValueError, LookupError, TypeError), match=message):
        call_()


# ---------------------------------------------------------------- the tools

def test_tools_through_the_runner(tmp_path):
    r = call(DATA_SCIENCE, "group_by", {"name": "experiments", "by": ["variant"],
                                        "column": "conversions", "agg": "mean"},
             tmp_path, data_dir=DATA, warm=True)
    assert {g["key"]["variant"] for g in r.result["groups"]} == {"control", "treatment"}
    r = call(DATA_SCIENCE, "list_datasets", {}, tmp_path, data_dir=DATA)
    assert [d["name"] for d in r.result] == ["experiments", "sales"]
    r = call(DATA_SCIENCE, "get_available_tools", {}, tmp_path, data_dir=DATA)
    assert r.result["datasets"] == ["experiments", "sales"]
    assert "datasets" in r.result["execute_code"]["preloaded"]
    for tool, args, expected in [
        ("load_csv", {}, "missing a required argument: 'name'"),
        ("load_csv", {"name": "x", "rows": 1}, "unexpected keyword argument 'rows'"),
        ("describe", {"name": "nope"}, "unknown data set 'nope'"),
        ("log_store", {"function": "tail_logs"}, "unknown tool 'log_store'"),
    ]:
        r = call(DATA_SCIENCE, tool, args, tmp_path, data_dir=DATA)
        assert not r.ok and expected in r.error, (tool, r)


def test_execute_code(tmp_path):
    (tmp_path / "mine.csv").write_text("k,v\na,1\nb,3\n")
    code = '''
import statistics
cols, rows = datasets.read_csv("sales")
by_product = {}
for r in rows:
    by_product.setdefault(r["product"], []).append(float(r["revenue"]))
best = max(by_product, key=lambda p: statistics.fmean(by_product[p]))
_, mine = datasets.read_csv("mine.csv")
class Box:
    def __init__(self, v):
        self.v = v
print(best, sum(int(r["v"]) for r in mine), Box(5).v)
'''
    r = call(DATA_SCIENCE, "execute_code", {"code": code}, tmp_path, data_dir=DATA)
    assert r.ok, r
    assert r.output.split() == ["gizmo", "4", "5"]
    r = call(DATA_SCIENCE, "execute_code", {"code": "1/0"}, tmp_path, data_dir=DATA)
    assert not r.ok and "ZeroDivisionError" in r.error and "<code>" in r.error
    r = call(DATA_SCIENCE, "execute_code", {"code": "def f(:"}, tmp_path, data_dir=DATA)
    assert not r.ok and r.error.startswith("SyntaxError")


def test_warm_up_calls_succeed(tmp_path):
    # the worker's spares make these; one that failed would end a spare's
    # warm-up early without a word
    assert len(ds_runner.REHEARSALS) >= 2
    for tool, args in ds_runner.REHEARSALS:
        r = call(DATA_SCIENCE, tool, json.loads(args), tmp_path, data_dir=DATA,
                 warm=True)
        assert r.ok and r.output.strip(), (tool, r)


def test_the_tool_set_is_self_contained():
    """A tool set directory is all its worker can read (Landlock): nothing
    of log-analysis may be needed."""
    names = {p.name for p in DATA_SCIENCE.iterdir()}
    assert {"tools.json", "runner.py", "datasets.py", "demo-data"} <= names
    for py in DATA_SCIENCE.glob("*.py"):
        text = py.read_text()
        for other in ("log_store", "privacy", "workspace", "skills", "execute_code"):
            assert f"import {other}" not in text, (py.name, other)


def test_tool_definitions_are_precise():
    dispatched = set(ds_runner.FUNCTION_TOOLS) | {"execute_code", "get_available_tools",
                                                  "sandbox_status"}
    assert set(TOOLS) == dispatched
    for name, t in TOOLS.items():
        s = t["inputSchema"]
        assert s["type"] == "object" and s["additionalProperties"] is False
        assert t["description"] and t["annotations"]["openWorldHint"] is False
        for prop, spec in s["properties"].items():
            assert spec.get("type") and spec.get("description"), (name, prop)
        if name in ds_runner.FUNCTION_TOOLS:
            import inspect
            params = set(inspect.signature(
                getattr(datasets, ds_runner.FUNCTION_TOOLS[name])).parameters)
            assert set(s["properties"]) == params, name
            assert t["annotations"]["readOnlyHint"] is True
