"""Tool discovery of the log-analysis tool set, what execute_code exposes,
and the tool definitions (tools.json) the worker serves.

Run: /usr/bin/python3 -m pytest test/toolsets/test_discovery.py
"""

import ast
import inspect
import json

import pytest

from toolcall import LOG_ANALYSIS, call, import_module

runner = import_module(LOG_ANALYSIS, "runner", alias="la_runner")
tool_discovery = runner.tool_discovery
TOOLS = {t["name"]: t for t in json.loads((LOG_ANALYSIS / "tools.json").read_text())}
MINE = ("workspace", "get_workspace_info", "skills", "list_skills", "run_skill",
        "tool_discovery", "list_available_tools", "search_tools")


@pytest.fixture(scope="module", autouse=True)
def catalog():
    return tool_discovery.build()


def test_catalog_is_generated_from_the_code():
    listing = tool_discovery.list_available_tools()
    mods = listing["modules"]
    assert {"log_store", "workspace", "skills"} <= set(mods)
    assert "tool_discovery" not in mods
    assert mods["workspace"]["functions"] == sorted(runner.workspace.__all__)
    assert mods["skills"]["functions"] == sorted(runner.skills.__all__)
    assert listing["total_functions"] == sum(len(m["functions"]) for m in mods.values())
    assert "json" in listing["stdlib"] and "statistics" in listing["stdlib"]
    for name, mod in runner.APPROVED_MODULES.items():
        if name == "tool_discovery":
            continue
        for f in tool_discovery.list_available_tools(name)["functions"]:
            fn = getattr(mod, f["name"])
            assert f["signature"] == f["name"] + str(inspect.signature(fn))
            assert not f["name"].startswith("_")


def test_private_helpers_are_not_listed():
    names = {f for m in tool_discovery.list_available_tools()["modules"].values()
             for f in m["functions"]}
    assert not any(n.startswith("_") for n in names)
    assert "build" not in names


def test_search_ranks_name_matches_first():
    hits = tool_discovery.search_tools("checkpoint")
    assert hits and all("checkpoint" in (h["name"] + h["description"]).lower() for h in hits)
    assert hits[0]["module"] == "workspace"
    assert tool_discovery.search_tools("run skill")[0]["name"] == "run_skill"
    assert tool_discovery.search_tools("save skill", limit=1) == [
        {"module": "skills", "name": "save_skill",
         "signature": tool_discovery.get_tool_info("skills", "save_skill")["signature"],
         "description": tool_discovery.get_tool_info("skills", "save_skill")["doc"]
         .split("\n\n")[0].replace("\n", " ")}]
    assert tool_discovery.search_tools("zebra unicorn") == []


def test_search_errors():
    with pytest.raises(ValueError, match="word"):
        tool_discovery.search_tools("  --  ")
    with pytest.raises(TypeError, match="query must be a string"):
        tool_discovery.search_tools(3)
    with pytest.raises(ValueError, match="between 1 and 100"):
        tool_discovery.search_tools("x", limit=0)


def test_tool_info_and_stub():
    info = tool_discovery.get_tool_info("workspace", "write_file")
    assert info["doc"] == inspect.getdoc(runner.workspace.write_file)
    tree = ast.parse(info["stub"])
    fn = tree.body[0]
    assert fn.name == "write_file" and ast.get_docstring(fn) == info["doc"]
    whole = tool_discovery.get_tool_info("skills")
    assert {f["name"] for f in whole["functions"]} == set(runner.skills.__all__)
    with pytest.raises(LookupError, match="unknown module 'os'"):
        tool_discovery.get_tool_info("os")
    with pytest.raises(LookupError, match="has no function '_split'"):
        tool_discovery.get_tool_info("workspace", "_split")


def test_results_are_copies():
    info = tool_discovery.get_tool_info("workspace", "read_file")
    info["doc"] = "poisoned"
    assert tool_discovery.get_tool_info("workspace", "read_file")["doc"] != "poisoned"


# ---------------------------------------------------------------- the tools

def test_discovery_tools_through_the_runner(tmp_path):
    r = call(LOG_ANALYSIS, "list_available_tools", {}, tmp_path, warm=True)
    assert "workspace" in r.result["modules"]
    r = call(LOG_ANALYSIS, "list_available_tools", {"module": "skills"}, tmp_path)
    assert {f["name"] for f in r.result["functions"]} >= {"save_skill", "run_skill"}
    r = call(LOG_ANALYSIS, "search_tools", {"query": "checkpoint", "limit": 2}, tmp_path)
    assert len(r.result) == 2
    r = call(LOG_ANALYSIS, "tool_discovery", {"function": "get_tool_info",
                                              "module": "workspace", "name": "read_file"},
             tmp_path)
    assert r.result["stub"].startswith("# workspace.read_file")
    assert call(LOG_ANALYSIS, "tool_discovery", {}, tmp_path).result["total_functions"] > 10
    for tool, args, expected in [
        ("search_tools", {}, "missing a required argument: 'query'"),
        ("search_tools", {"query": 5}, "query must be a string"),
        ("list_available_tools", {"module": "subprocess"}, "unknown module 'subprocess'"),
        ("tool_discovery", {"function": "build"}, "unknown tool_discovery function 'build'"),
    ]:
        r = call(LOG_ANALYSIS, tool, args, tmp_path)
        assert not r.ok and expected in r.error, (tool, r)


def test_get_available_tools_lists_every_approved_module(tmp_path):
    r = call(LOG_ANALYSIS, "get_available_tools", {}, tmp_path)
    ec = r.result["execute_code"]
    assert {"log_store", "workspace", "skills", "tool_discovery"} <= set(ec["preloaded"])
    assert ec["stdlib"] == list(runner.STDLIB)
    assert {"workspace", "skills"} <= set(r.result["modules"])


# ---------------------------------------------------------------- execute_code

def test_execute_code_exposes_the_approved_modules(tmp_path):
    code = "print(sorted(k for k in globals() if not k.startswith('_')))"
    r = call(LOG_ANALYSIS, "execute_code", {"code": code}, tmp_path)
    names = ast.literal_eval(r.output.strip())
    assert {"log_store", "workspace", "skills", "tool_discovery"} <= set(names)
    if runner.privacy is not None:
        assert "privacy" in names


def test_execute_code_is_ordinary_python_with_the_stdlib(tmp_path):
    code = '''
import collections, json, statistics, re, datetime, csv, io
class Counter2(collections.Counter):
    def top(self):
        return self.most_common(1)[0]
def make_adder(n):
    def add(x):
        return x + n
    return add
class Oops(Exception):
    pass
try:
    raise Oops("caught")
except Oops as e:
    msg = str(e)
rows = list(csv.reader(io.StringIO("a,b\\n1,2\\n")))
found = tool_discovery.search_tools("tail logs")
print(Counter2("aab").top(), make_adder(2)(3), msg, statistics.mean([1, 2, 3]),
      json.dumps(rows), found[0]["module"])
'''
    r = call(LOG_ANALYSIS, "execute_code", {"code": code}, tmp_path, warm=True)
    assert r.ok, r
    assert r.output == "('a', 2) 5 caught 2 [[\"a\", \"b\"], [\"1\", \"2\"]] log_store\n"


def test_every_stdlib_module_documented_imports():
    for name in runner.STDLIB:
        __import__(name)


# ---------------------------------------------------------------- tools.json

def test_tool_definitions_are_precise():
    for name in MINE:
        t = TOOLS[name]
        s = t["inputSchema"]
        assert s["type"] == "object" and s["additionalProperties"] is False, name
        assert 0 < len(t["description"]) <= 260, name
        a = t["annotations"]
        assert a["openWorldHint"] is False and "readOnlyHint" in a, name
        for prop, spec in s["properties"].items():
            assert spec.get("description"), (name, prop)
            assert "type" in spec or prop == "data", (name, prop)
        for req in s.get("required", []):
            assert req in s["properties"]
    for ro in ("get_workspace_info", "list_skills", "tool_discovery", "list_available_tools",
               "search_tools"):
        assert TOOLS[ro]["annotations"]["readOnlyHint"] is True, ro
    for rw in ("workspace", "skills", "run_skill"):
        assert TOOLS[rw]["annotations"]["readOnlyHint"] is False, rw


def test_function_enums_match_the_dispatch():
    for tool, (mod, allowed, default) in runner.SELECTOR_TOOLS.items():
        enum = TOOLS[tool]["inputSchema"]["properties"]["function"]["enum"]
        assert sorted(enum) == sorted(allowed), tool
        assert default in enum
        # every argument a function takes has a schema property
        props = set(TOOLS[tool]["inputSchema"]["properties"])
        for fname in allowed:
            params = set(inspect.signature(getattr(mod, fname)).parameters)
            assert params <= props, (tool, fname, params - props)
    for tool, (mod, fname) in runner.DIRECT_TOOLS.items():
        props = set(TOOLS[tool]["inputSchema"]["properties"]) - {"timeout"}
        params = set(inspect.signature(getattr(mod, fname)).parameters)
        assert props == params, (tool, props ^ params)
