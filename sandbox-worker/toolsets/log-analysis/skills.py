"""Skills: reusable Python saved in your workspace, with metadata and a
SKILL.md, run later by name.

A skill is skills/<name>/ holding implementation.py (top-level functions),
metadata.json and SKILL.md. run_skill runs it exactly like execute_code: in
the same confined, throw-away sandbox process, with the same modules and
limits, never with more rights.
"""

import ast
import datetime
import hashlib
import json
import linecache
import re

import execute_code
import workspace

__all__ = ["save_skill", "update_skill", "get_skill", "list_skills",
           "search_skills", "delete_skill", "run_skill", "load_skill"]

SKILLS_DIR = "skills"
MAX_SKILLS = 100
MAX_CODE_BYTES = 50 * 1024
MAX_TAGS = 10
MAX_DESCRIPTION = 1000
RESERVED = {"__init__", "__main__", "setup", "test", "config"}

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,49}$")
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Names pre-bound when a skill runs; the runner sets the approved modules,
# the same as execute_code's.
PRELOAD = {}


class SkillError(ValueError):
    """A skill request that cannot be done; the message says why."""


# ---------------------------------------------------------------- checks

def _check_name(name):
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, not {type(name).__name__}")
    if not _NAME_RE.match(name) or name.lower() in RESERVED:
        raise SkillError(f"skill name {name!r} must be 1-50 letters, digits, "
                         "'_' or '-', start with a letter, and not be one of "
                         f"{', '.join(sorted(RESERVED))}")
    return name


def _check_text(what, value, limit):
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    if len(value) > limit:
        raise SkillError(f"{what} is longer than {limit} characters")
    return value


def _check_tags(tags):
    if tags is None:
        return []
    if isinstance(tags, str) or not isinstance(tags, (list, tuple)):
        raise TypeError("tags must be a list of strings")
    out = []
    for t in tags:
        if not isinstance(t, str) or not _TAG_RE.match(t.lower()):
            raise SkillError(f"tag {t!r} must be 1-32 lower-case letters, "
                             "digits, '.', '_' or '-'")
        if t.lower() not in out:
            out.append(t.lower())
    if len(out) > MAX_TAGS:
        raise SkillError(f"a skill has at most {MAX_TAGS} tags")
    return out


def _functions(code, name="<skill>"):
    """Top-level functions of code (parsed, never run): [{name, signature,
    doc}]. Raises SkillError on a syntax error or no function."""
    if not isinstance(code, str):
        raise TypeError(f"code must be a string, not {type(code).__name__}")
    if len(code.encode("utf-8")) > MAX_CODE_BYTES:
        raise SkillError(f"code is larger than {MAX_CODE_BYTES} bytes")
    try:
        tree = ast.parse(code, f"<skill {name}>")
    except SyntaxError as e:
        raise SkillError(f"code has a syntax error: {e.msg} (line "
                         f"{e.lineno})") from None
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                and not node.name.startswith("_"):
            doc = ast.get_docstring(node) or ""
            out.append({"name": node.name,
                        "signature": f"{node.name}({ast.unparse(node.args)})",
                        "doc": doc.split("\n\n")[0].replace("\n", " ")})
    if not out:
        raise SkillError("code must define at least one top-level public "
                         "function (def name(...): ...)")
    return out


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _path(name, leaf):
    return f"{SKILLS_DIR}/{name}/{leaf}"


def _skill_md(meta):
    tags = ", ".join(meta["tags"])
    lines = ["---", f"name: {meta['name']}",
             f"description: {json.dumps(meta['description'])}",
             f"tags: [{tags}]", f"version: {meta['version']}", "---", "",
             f"# {meta['name']}", "", meta["description"], "",
             "## Functions", ""]
    for f in meta["functions"]:
        lines.append(f"- `{f['signature']}`" + (f": {f['doc']}" if f["doc"]
                                                 else ""))
    if meta.get("parameters"):
        lines += ["", "## Parameters", "", "```json",
                  json.dumps(meta["parameters"], indent=2), "```"]
    if meta.get("returns"):
        lines += ["", "## Returns", "", meta["returns"]]
    first = meta["functions"][0]["name"]
    lines += ["", "## Usage", "",
              "As a tool:", "",
              f'    run_skill {{"name": "{meta["name"]}", "function": '
              f'"{first}", "arguments": {{...}}}}', "",
              "In execute_code:", "",
              f'    skills.run_skill("{meta["name"]}", "{first}", '
              "{...})", ""]
    if meta.get("example"):
        lines += ["## Example", "", "```python", meta["example"], "```", ""]
    lines.append(f"Created {meta['created']}, updated {meta['updated']}.")
    return "\n".join(lines) + "\n"


def _read_meta(name):
    try:
        meta = json.loads(workspace.read_file(_path(name, "metadata.json")))
    except FileNotFoundError:
        raise LookupError(f"no skill named {name!r}") from None
    except ValueError:
        raise SkillError(f"metadata of skill {name!r} is damaged") from None
    if not isinstance(meta, dict):
        raise SkillError(f"metadata of skill {name!r} is damaged")
    return meta


def _names():
    try:
        entries = workspace.list_files(SKILLS_DIR)
    except FileNotFoundError:
        return []
    out = []
    for e in entries:
        name = e["name"].rsplit("/", 1)[-1]
        if e["type"] == "directory" and _NAME_RE.match(name):
            out.append(name)
    return out


def _write(meta, code):
    workspace.write_file(_path(meta["name"], "implementation.py"), code)
    workspace.write_file(_path(meta["name"], "metadata.json"),
                         json.dumps(meta, indent=2, ensure_ascii=False))
    workspace.write_file(_path(meta["name"], "SKILL.md"), _skill_md(meta))


def _summary(meta):
    return {"name": meta.get("name"), "description": meta.get("description"),
            "tags": meta.get("tags", []), "version": meta.get("version"),
            "functions": [f.get("name") for f in meta.get("functions", [])],
            "updated": meta.get("updated")}


# ---------------------------------------------------------------- public

def save_skill(name, code, description, tags=None, parameters=None,
               returns="", example="", overwrite=False):
    """Save reusable code as a skill: code must define top-level functions;
    description says what it does; tags help search_skills find it.

    Writes skills/<name>/{implementation.py, metadata.json, SKILL.md} in
    your workspace. Returns {name, functions, version, path}."""
    _check_name(name)
    functions = _functions(code, name)
    _check_text("description", description, MAX_DESCRIPTION)
    if not description.strip():
        raise SkillError("description must say what the skill does")
    tags = _check_tags(tags)
    _check_text("returns", returns, MAX_DESCRIPTION)
    _check_text("example", example, MAX_CODE_BYTES)
    if parameters is not None and not isinstance(parameters, dict):
        raise TypeError("parameters must be an object (name -> description)")
    workspace._check_bool("overwrite", overwrite)
    existing = _names()
    created = _now()
    if name in existing:
        if not overwrite:
            raise FileExistsError(f"skill {name!r} exists: use update_skill, "
                                  "or save_skill with overwrite=true")
        try:
            created = _read_meta(name).get("created", created)
        except (LookupError, SkillError):
            pass
    elif len(existing) >= MAX_SKILLS:
        raise SkillError(f"you have {MAX_SKILLS} skills, the most allowed; "
                         "delete one first")
    meta = {"name": name, "description": description.strip(), "tags": tags,
            "functions": functions, "parameters": parameters or {},
            "returns": returns, "example": example, "version": "1.0.0",
            "created": created, "updated": _now(),
            "sha256": hashlib.sha256(code.encode("utf-8")).hexdigest()}
    _write(meta, code)
    return {"name": name, "functions": [f["name"] for f in functions],
            "version": meta["version"], "path": f"{SKILLS_DIR}/{name}/"}


def update_skill(name, code=None, description=None, tags=None,
                 parameters=None, returns=None, example=None):
    """Change parts of a saved skill; the version's last number goes up.
    Returns {name, functions, version, path}."""
    _check_name(name)
    meta = _read_meta(name)
    if code is None:
        code = get_skill(name)["code"]
    else:
        meta["functions"] = _functions(code, name)
        meta["sha256"] = hashlib.sha256(code.encode("utf-8")).hexdigest()
    if description is not None:
        meta["description"] = _check_text("description", description,
                                          MAX_DESCRIPTION).strip()
    if tags is not None:
        meta["tags"] = _check_tags(tags)
    if parameters is not None:
        if not isinstance(parameters, dict):
            raise TypeError("parameters must be an object")
        meta["parameters"] = parameters
    if returns is not None:
        meta["returns"] = _check_text("returns", returns, MAX_DESCRIPTION)
    if example is not None:
        meta["example"] = _check_text("example", example, MAX_CODE_BYTES)
    try:
        major, minor, patch = (int(x) for x in
                               str(meta.get("version", "1.0.0")).split("."))
    except ValueError:
        major, minor, patch = 1, 0, 0
    meta["version"] = f"{major}.{minor}.{patch + 1}"
    meta["updated"] = _now()
    _write(meta, code)
    return {"name": name, "functions": [f["name"] for f in meta["functions"]],
            "version": meta["version"], "path": f"{SKILLS_DIR}/{name}/"}


def get_skill(name):
    """A skill's code, metadata and SKILL.md: {name, code, metadata,
    skill_md}."""
    _check_name(name)
    meta = _read_meta(name)
    try:
        code = workspace.read_file(_path(name, "implementation.py"))
    except FileNotFoundError:
        raise LookupError(f"skill {name!r} has no implementation.py") from None
    try:
        md = workspace.read_file(_path(name, "SKILL.md"))
    except FileNotFoundError:
        md = ""
    return {"name": name, "code": code, "metadata": meta, "skill_md": md}


def list_skills(tag=None):
    """Your skills: [{name, description, tags, version, functions,
    updated}], by name; tag keeps those with that tag."""
    if tag is not None:
        tag = _check_tags([tag])[0]
    out = []
    for name in sorted(_names()):
        try:
            meta = _read_meta(name)
        except (LookupError, SkillError):
            continue
        if tag is None or tag in meta.get("tags", []):
            out.append(_summary(meta))
    return out


def search_skills(query, limit=20):
    """Skills whose name, description, tags or functions match the words of
    query (case-insensitive), best first: [{name, description, tags,
    version, functions, updated, score}]."""
    _check_text("query", query, 200)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise SkillError("limit must be a positive integer")
    words = [w for w in re.split(r"\W+", query.lower()) if w]
    if not words:
        raise SkillError("query must contain a word to search for")
    hits = []
    for name in _names():
        try:
            meta = _read_meta(name)
        except (LookupError, SkillError):
            continue
        fields = [(name.lower(), 5), (" ".join(meta.get("tags", [])), 4),
                  (" ".join(f.get("name", "") for f in
                            meta.get("functions", [])).lower(), 3),
                  (str(meta.get("description", "")).lower(), 2),
                  (" ".join(f.get("doc", "") for f in
                            meta.get("functions", [])).lower(), 1)]
        score = 0
        for w in words:
            s = sum(weight for text, weight in fields if w in text)
            if s == 0:
                score = 0
                break
            score += s
        if score:
            hits.append(dict(_summary(meta), score=score))
    hits.sort(key=lambda h: (-h["score"], h["name"]))
    return hits[:limit]


def delete_skill(name):
    """Delete a skill and its files. Returns {name, deleted}."""
    _check_name(name)
    if name not in _names():
        raise LookupError(f"no skill named {name!r}")
    for e in sorted(workspace.list_files(f"{SKILLS_DIR}/{name}",
                                         recursive=True),
                    key=lambda e: e["name"].count("/"), reverse=True):
        workspace.delete_file(e["name"])
    workspace.delete_file(f"{SKILLS_DIR}/{name}")
    return {"name": name, "deleted": True}


def _execute(name, tail, extra):
    """Runs the skill's code plus tail through execute_code.run, the same
    path and the same process as execute_code. Returns the namespace box
    the tail fills."""
    code = get_skill(name)["code"]
    box = {}
    preload = dict(PRELOAD)
    preload.update(extra)
    preload["__skill_box__"] = box
    saved = linecache.cache.get(execute_code.FILENAME)
    try:
        execute_code.run(code + "\n" + tail, preload)
    except execute_code.CodeError as e:
        raise SkillError(f"skill {name!r} failed:\n{e}") from None
    finally:
        if saved is not None:
            linecache.cache[execute_code.FILENAME] = saved
    return box


def run_skill(name, function=None, arguments=None):
    """Run a function of a saved skill with keyword arguments, in the same
    sandbox as execute_code; returns what the function returns. function
    defaults to main, else the skill's first function."""
    _check_name(name)
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise TypeError("arguments must be an object (keyword -> value)")
    for k in arguments:
        if not isinstance(k, str) or not _IDENT_RE.match(k):
            raise SkillError(f"argument name {k!r} is not a Python "
                             "identifier")
    functions = [f["name"] for f in _functions(get_skill(name)["code"], name)]
    if function is None:
        function = "main" if "main" in functions else functions[0]
    if not isinstance(function, str):
        raise TypeError("function must be a string")
    if function not in functions:
        raise SkillError(f"skill {name!r} has no function {function!r} "
                         f"(it has: {', '.join(functions)})")
    box = _execute(name, f"__skill_box__['result'] = {function}("
                         "**__skill_args__)\n",
                   {"__skill_args__": dict(arguments)})
    return box.get("result")


def load_skill(name):
    """In execute_code: the skill's top-level names as an object, so its
    functions can be called directly (s = skills.load_skill("x");
    s.f(...))."""
    import types
    _check_name(name)
    box = _execute(name, "__skill_box__['ns'] = dict(globals())\n", {})
    ns = {k: v for k, v in box.get("ns", {}).items()
          if not k.startswith("__")}
    return types.SimpleNamespace(**ns)
