"""Progressive discovery of the functions execute_code can use: module
names first, then signatures, then full documentation and stubs.

The catalog is generated from the code itself (signatures and docstrings)
once, when the sandbox starts, and served read-only: nothing a call does
changes what the next call, or another user, reads.
"""

import copy
import inspect
import re

__all__ = ["list_available_tools", "search_tools", "get_tool_info"]

# name -> module; the runner sets the approved modules before build().
MODULES = {}

# The standard library part documented for execute_code (pre-imported in
# the sandbox, so importing it is fast); the runner sets it.
STDLIB = ()

_CATALOG = None


def _first_paragraph(doc):
    return " ".join(doc.split("\n\n")[0].split())


def _public(mod):
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n, f in inspect.getmembers(mod, inspect.isfunction)
                 if not n.startswith("_") and f.__module__ == mod.__name__]
    return [n for n in names if inspect.isfunction(getattr(mod, n, None))]


def _stub(mod_name, fname, sig, doc):
    body = doc.replace('"""', '\\"\\"\\"')
    lines = [f"# {mod_name}.{fname} (pre-imported in execute_code)",
             f"def {fname}{sig}:"]
    if body:
        lines.append('    """' + body.replace("\n", "\n    ") + '"""')
    lines.append("    ...")
    return "\n".join(lines) + "\n"


def build(modules=None):
    """(Re)builds the catalog from modules (default MODULES)."""
    global _CATALOG
    cat = {}
    for mname, mod in sorted((modules or MODULES).items()):
        funcs = {}
        for fname in _public(mod):
            fn = getattr(mod, fname)
            try:
                sig = str(inspect.signature(fn))
            except (TypeError, ValueError):
                sig = "(...)"
            doc = inspect.getdoc(fn) or ""
            funcs[fname] = {"name": fname, "signature": f"{fname}{sig}",
                            "description": _first_paragraph(doc),
                            "doc": doc, "stub": _stub(mname, fname, sig, doc)}
        cat[mname] = {"description": _first_paragraph(inspect.getdoc(mod)
                                                      or ""),
                      "functions": funcs}
    _CATALOG = cat
    return cat


def _catalog():
    return _CATALOG if _CATALOG is not None else build()


def _module(name):
    if not isinstance(name, str):
        raise TypeError(f"module must be a string, not {type(name).__name__}")
    cat = _catalog()
    if name not in cat:
        raise LookupError(f"unknown module {name!r} (modules: "
                          f"{', '.join(cat)})")
    return cat[name]


def list_available_tools(module=None):
    """Without module: each module's one-line description and function
    names. With module: each function's signature and description."""
    if module is None:
        cat = _catalog()
        return {"modules": {m: {"description": v["description"],
                                "functions": sorted(v["functions"])}
                            for m, v in cat.items()},
                "total_functions": sum(len(v["functions"])
                                       for v in cat.values()),
                "stdlib": list(STDLIB),
                "next": "list_available_tools(module) for signatures, "
                        "search_tools(query), get_tool_info(module, name) "
                        "for the full documentation"}
    mod = _module(module)
    return {"module": module, "description": mod["description"],
            "functions": [{"name": f["name"], "signature": f["signature"],
                           "description": f["description"]}
                          for _, f in sorted(mod["functions"].items())]}


def search_tools(query, limit=10):
    """Functions whose name or documentation matches every word of query
    (case-insensitive), best first: [{module, name, signature,
    description}]."""
    if not isinstance(query, str):
        raise TypeError(f"query must be a string, not {type(query).__name__}")
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError("limit must be an integer")
    if not 1 <= limit <= 100:
        raise ValueError("limit must be between 1 and 100")
    words = [w for w in re.split(r"[^a-z0-9]+", query.lower()) if w]
    if not words:
        raise ValueError("query must contain a word to search for")
    hits = []
    for mname, mod in _catalog().items():
        for fname, f in mod["functions"].items():
            fields = ((fname.lower(), 8), (mname.lower(), 4),
                      (f["description"].lower(), 3), (f["doc"].lower(), 1))
            score = 0
            for w in words:
                s = sum(weight for text, weight in fields if w in text)
                if fname.lower() == w:
                    s += 8
                if s == 0:
                    score = 0
                    break
                score += s
            if score:
                hits.append((-score, mname, fname, f))
    hits.sort(key=lambda h: h[:3])
    return [{"module": m, "name": n, "signature": f["signature"],
             "description": f["description"]}
            for _, m, n, f in hits[:limit]]


def get_tool_info(module, name=None):
    """Full documentation: of the function name ({module, name, signature,
    doc, stub}), or of every function of module."""
    mod = _module(module)
    if name is None:
        return {"module": module, "description": mod["description"],
                "functions": [{"name": f["name"], "signature": f["signature"],
                               "doc": f["doc"]}
                              for _, f in sorted(mod["functions"].items())]}
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, not {type(name).__name__}")
    f = mod["functions"].get(name)
    if f is None:
        raise LookupError(f"module {module!r} has no function {name!r} "
                          f"(it has: {', '.join(sorted(mod['functions']))})")
    return copy.deepcopy({"module": module, "name": f["name"],
                          "signature": f["signature"], "doc": f["doc"],
                          "stub": f["stub"]})
