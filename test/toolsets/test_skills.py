"""The log-analysis tool set's skills: saved code with metadata and a
SKILL.md, searched and run through execute_code's own execution path.

Run: /usr/bin/python3 -m pytest test/toolsets/test_skills.py
"""

import json
import os

import pytest

from toolcall import LOG_ANALYSIS, call, import_module

workspace = import_module(LOG_ANALYSIS, "workspace")
execute_code = import_module(LOG_ANALYSIS, "execute_code")
skills = import_module(LOG_ANALYSIS, "skills")
# skills imported its siblings by name; use the same objects it uses
workspace = skills.workspace
execute_code = skills.execute_code

TOP = '''
import collections

def main(lines, n=2):
    """The n most common lines."""
    return collections.Counter(lines).most_common(n)

def shout(text):
    """Upper case, printed too."""
    print("shouting")
    return text.upper()

def _helper():
    pass
'''


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.setattr(workspace, "ROOT", str(tmp_path))
    monkeypatch.setattr(skills, "PRELOAD", {"workspace": workspace, "skills": skills})
    return tmp_path


def test_save_writes_code_metadata_and_skill_md(ws):
    res = skills.save_skill("top-lines", TOP, "Most common lines.", tags=["Logs", "counting"],
                            parameters={"lines": "list of str"}, returns="[(line, count)]",
                            example="run_skill top-lines")
    assert res == {"name": "top-lines", "functions": ["main", "shout"], "version": "1.0.0",
                   "path": "skills/top-lines/"}
    d = ws / "skills" / "top-lines"
    assert sorted(os.listdir(d)) == ["SKILL.md", "implementation.py", "metadata.json"]
    assert (d / "implementation.py").read_text() == TOP
    meta = json.loads((d / "metadata.json").read_text())
    assert meta["tags"] == ["logs", "counting"]
    assert meta["functions"][0] == {"name": "main", "signature": "main(lines, n=2)",
                                    "doc": "The n most common lines."}
    md = (d / "SKILL.md").read_text()
    assert md.startswith("---\nname: top-lines\ndescription: \"Most common lines.\"\n"
                         "tags: [logs, counting]\n")
    assert "- `main(lines, n=2)`: The n most common lines." in md
    assert '"list of str"' in md and "run_skill" in md


def test_list_get_search_update_delete(ws):
    skills.save_skill("top-lines", TOP, "Most common lines.", tags=["logs"])
    skills.save_skill("error-rate", "def rate(errors, total):\n    return errors / total\n",
                      "Share of error lines.", tags=["logs", "errors"])
    skills.save_skill("cleanup", "def main():\n    return 1\n", "Tidy the workspace.")
    assert [s["name"] for s in skills.list_skills()] == ["cleanup", "error-rate", "top-lines"]
    assert [s["name"] for s in skills.list_skills(tag="errors")] == ["error-rate"]
    got = skills.get_skill("error-rate")
    assert got["code"].startswith("def rate") and got["metadata"]["tags"] == ["logs", "errors"]
    assert got["skill_md"].startswith("---\nname: error-rate")
    hits = skills.search_skills("error")
    assert [h["name"] for h in hits] == ["error-rate"]
    assert [h["name"] for h in skills.search_skills("logs")] == ["error-rate", "top-lines"] or \
        {h["name"] for h in skills.search_skills("logs")} == {"error-rate", "top-lines"}
    assert skills.search_skills("common lines")[0]["name"] == "top-lines"
    assert skills.search_skills("nothing-like-this") == []
    up = skills.update_skill("error-rate", description="Errors per line.", tags=["ratio"])
    assert up["version"] == "1.0.1"
    assert skills.get_skill("error-rate")["metadata"]["description"] == "Errors per line."
    assert skills.update_skill("error-rate", code="def rate2():\n    return 0\n")[
        "functions"] == ["rate2"]
    assert skills.delete_skill("cleanup") == {"name": "cleanup", "deleted": True}
    assert not (ws / "skills" / "cleanup").exists()
    with pytest.raises(LookupError, match="no skill named 'cleanup'"):
        skills.get_skill("cleanup")
    with pytest.raises(LookupError):
        skills.delete_skill("cleanup")


def test_save_refuses_existing_unless_overwrite(ws):
    skills.save_skill("x", "def f():\n    return 1\n", "one")
    with pytest.raises(FileExistsError, match="update_skill"):
        skills.save_skill("x", "def f():\n    return 2\n", "two")
    skills.save_skill("x", "def f():\n    return 2\n", "two", overwrite=True)
    assert skills.run_skill("x") == 2


@pytest.mark.parametrize("name", ["", "1abc", "has space", "../up", "a/b", "x" * 51,
                                  "setup", "__init__", "Test"])
def test_bad_names(ws, name):
    with pytest.raises(ValueError, match="skill name"):
        skills.save_skill(name, "def f():\n    pass\n", "d")


@pytest.mark.parametrize("code, message", [
    ("def f(:\n", "syntax error"),
    ("x = 1\n", "at least one top-level public function"),
    ("def _private():\n    pass\n", "at least one top-level public function"),
    ("class A:\n    def method(self):\n        pass\n", "at least one top-level"),
    ("def f():\n    pass\n" + "#" * 60000, "larger than"),
])
def test_bad_code(ws, code, message):
    with pytest.raises(ValueError, match=message):
        skills.save_skill("bad", code, "d")
    assert not (ws / "skills" / "bad").exists()


def test_bad_metadata(ws):
    code = "def f():\n    pass\n"
    with pytest.raises(ValueError, match="description must say"):
        skills.save_skill("a", code, "  ")
    with pytest.raises(TypeError, match="tags must be a list"):
        skills.save_skill("a", code, "d", tags="logs")
    with pytest.raises(ValueError, match="tag"):
        skills.save_skill("a", code, "d", tags=["no spaces"])
    with pytest.raises(ValueError, match="at most 10 tags"):
        skills.save_skill("a", code, "d", tags=[f"t{i}" for i in range(11)])
    with pytest.raises(TypeError, match="code must be a string"):
        skills.save_skill("a", 42, "d")


def test_skill_count_limit(ws, monkeypatch):
    monkeypatch.setattr(skills, "MAX_SKILLS", 2)
    skills.save_skill("a", "def f():\n    pass\n", "d")
    skills.save_skill("b", "def f():\n    pass\n", "d")
    with pytest.raises(ValueError, match="2 skills, the most allowed"):
        skills.save_skill("c", "def f():\n    pass\n", "d")


def test_run_skill(ws):
    skills.save_skill("top-lines", TOP, "Most common lines.")
    assert skills.run_skill("top-lines", arguments={"lines": ["a", "b", "a"]}) == [("a", 2),
                                                                                  ("b", 1)]
    assert skills.run_skill("top-lines", "main", {"lines": ["x"], "n": 1}) == [("x", 1)]
    assert skills.run_skill("top-lines", "shout", {"text": "hi"}) == "HI"
    with pytest.raises(ValueError, match="has no function 'nope'"):
        skills.run_skill("top-lines", "nope")
    with pytest.raises(ValueError, match="has no function '_helper'"):
        skills.run_skill("top-lines", "_helper")
    with pytest.raises(ValueError, match="unexpected keyword argument 'x'"):
        skills.run_skill("top-lines", arguments={"lines": [], "x": 1})
    with pytest.raises(ValueError, match="not a Python identifier"):
        skills.run_skill("top-lines", arguments={"a-b": 1})
    with pytest.raises(TypeError, match="arguments must be an object"):
        skills.run_skill("top-lines", arguments=[1, 2])
    with pytest.raises(LookupError):
        skills.run_skill("missing")


def test_run_skill_first_function_is_the_default_without_main(ws):
    skills.save_skill("adder", "def add(a=1, b=2):\n    return a + b\n\ndef other():\n"
                      "    return 0\n", "Adds.")
    assert skills.run_skill("adder") == 3


def test_run_skill_failure_shows_the_traceback(ws):
    skills.save_skill("broken", "def main():\n    return 1 / 0\n", "Fails.")
    with pytest.raises(ValueError) as e:
        skills.run_skill("broken")
    assert "skill 'broken' failed" in str(e.value)
    assert "ZeroDivisionError: division by zero" in str(e.value)


def test_run_skill_goes_through_execute_code(ws, monkeypatch):
    """run_skill is execute_code.run with the same preload, not an exec of
    its own with other rights."""
    calls = []
    real = execute_code.run

    def spy(code, preload):
        calls.append((code, dict(preload)))
        return real(code, preload)

    monkeypatch.setattr(execute_code, "run", spy)
    skills.save_skill("s", "def main():\n    return 7\n", "Seven.")
    assert skills.run_skill("s") == 7
    assert len(calls) == 1
    code, preload = calls[0]
    assert code.startswith("def main():")
    assert {k for k in preload if not k.startswith("__")} == {"workspace", "skills"}


def test_run_skill_reads_the_current_code(ws):
    """A skill edited through the workspace runs as edited (metadata is
    not trusted for what runs)."""
    skills.save_skill("s", "def main():\n    return 1\n", "One.")
    workspace.write_file("skills/s/implementation.py", "def main():\n    return 2\n")
    assert skills.run_skill("s") == 2


def test_skill_directory_planted_as_symlink_is_refused(ws, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "implementation.py").write_text("def main():\n    return 'outside'\n")
    (outside / "metadata.json").write_text('{"name": "evil"}')
    os.makedirs(ws / "skills")
    os.symlink(outside, ws / "skills" / "evil")
    with pytest.raises(PermissionError, match="symbolic link"):
        skills.run_skill("evil")
    with pytest.raises(PermissionError):
        skills.save_skill("evil", "def main():\n    pass\n", "d", overwrite=True)
    assert sorted(os.listdir(outside)) == ["implementation.py", "metadata.json"]


def test_load_skill_in_code(ws):
    skills.save_skill("top-lines", TOP, "Most common lines.")
    ns = skills.load_skill("top-lines")
    assert ns.main(["q", "q"]) == [("q", 2)]
    assert not hasattr(ns, "__builtins__")


# ---------------------------------------------------------------- the tools

def test_tools_through_the_runner(tmp_path):
    r = call(LOG_ANALYSIS, "skills", {"function": "save_skill", "name": "top-lines",
                                      "code": TOP, "description": "Most common lines.",
                                      "tags": ["logs"]}, tmp_path)
    assert r.result["functions"] == ["main", "shout"]
    r = call(LOG_ANALYSIS, "run_skill", {"name": "top-lines", "function": "shout",
                                         "arguments": {"text": "hey"}, "timeout": 5}, tmp_path)
    assert r.result == "HEY" and r.output == "shouting\n"
    assert [s["name"] for s in call(LOG_ANALYSIS, "list_skills", {}, tmp_path).result] == [
        "top-lines"]
    assert call(LOG_ANALYSIS, "skills", {}, tmp_path).result[0]["name"] == "top-lines"
    r = call(LOG_ANALYSIS, "skills", {"function": "search_skills", "query": "common"},
             tmp_path)
    assert r.result[0]["name"] == "top-lines"
    code = ("print(skills.run_skill('top-lines', arguments={'lines': ['z', 'z', 'y']}))\n"
            "s = skills.load_skill('top-lines')\n"
            "s.shout('x')")
    r = call(LOG_ANALYSIS, "execute_code", {"code": code}, tmp_path)
    assert r.ok and r.output == "[('z', 2), ('y', 1)]\nshouting\n'X'\n", r


def test_tool_errors_are_sentences(tmp_path):
    cases = [
        ("skills", {"function": "run_skill", "name": "x"}, "unknown skills function 'run_skill'"),
        ("skills", {"function": "get_skill"}, "get_skill: missing a required argument: 'name'"),
        ("skills", {"function": "save_skill", "name": "x", "code": "x = 1",
                    "description": "d"}, "at least one top-level public function"),
        ("skills", {"function": "get_skill", "name": "nope"}, "no skill named 'nope'"),
        ("run_skill", {"name": "nope"}, "no skill named 'nope'"),
        ("run_skill", {}, "run_skill: missing a required argument: 'name'"),
        ("run_skill", {"name": 5}, "name must be a string"),
    ]
    for tool, args, expected in cases:
        r = call(LOG_ANALYSIS, tool, args, tmp_path)
        assert not r.ok and expected in r.error, (tool, args, r)
