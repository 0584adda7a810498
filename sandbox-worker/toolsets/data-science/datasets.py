"""CSV data sets: load, describe and group, with the standard library only
(csv, statistics).

Data sets are the read-only <name>.csv files of the worker's data
directory. In execute_code, read_csv() also reads CSV files of your
workspace (the current directory).
"""

import csv
import math
import os
import re
import statistics

__all__ = ["list_datasets", "load_csv", "describe", "group_by", "read_csv"]

# Set by the runner for each call (the worker's --data-dir).
DATA_DIR = None

MAX_ROWS = 1_000_000          # rows read from one file
MAX_RETURN_ROWS = 500         # rows one tool call returns
AGGREGATES = ("count", "sum", "mean", "median", "min", "max", "stdev")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class DatasetError(ValueError):
    """A data set request that cannot be done; the message says why."""


def _number(text):
    """int or float of a CSV cell, or None when it is not a number."""
    t = text.strip()
    if not t:
        return None
    try:
        return int(t)
    except ValueError:
        pass
    try:
        v = float(t)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _path(name):
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, not {type(name).__name__}")
    base = name[:-4] if name.endswith(".csv") else name
    if not _NAME_RE.match(base):
        raise DatasetError(f"invalid data set name {name!r}: use letters, "
                           "digits, '.', '_' and '-'")
    if DATA_DIR is None:
        raise RuntimeError("the data directory is not configured")
    path = os.path.join(DATA_DIR, base + ".csv")
    if not os.path.isfile(path):
        known = ", ".join(d["name"] for d in list_datasets()) or "none"
        raise LookupError(f"unknown data set {name!r} (known: {known})")
    return path


def read_csv(source):
    """Rows of a CSV file as (columns, [dict, ...]); source is a data set
    name, a path of your workspace, or an open text file. Cells stay
    strings."""
    if hasattr(source, "read"):
        return _read(source)
    if not isinstance(source, str):
        raise TypeError("source must be a data set name, a path or a file")
    if "/" in source or not _NAME_RE.match(source[:-4] if
                                          source.endswith(".csv")
                                          else source):
        path = source                     # a workspace path
    else:
        try:
            path = _path(source)
        except LookupError:
            if not os.path.isfile(source):
                raise
            path = source
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        return _read(f)


def _read(f):
    reader = csv.reader(f)
    try:
        header = next(reader)
    except StopIteration:
        return [], []
    columns = [h.strip() or f"column_{i + 1}" for i, h in enumerate(header)]
    rows = []
    for i, rec in enumerate(reader):
        if i >= MAX_ROWS:
            raise DatasetError(f"more than {MAX_ROWS} rows; use execute_code "
                               "and read the file in chunks")
        if not rec:
            continue
        rows.append({c: (rec[j] if j < len(rec) else "")
                     for j, c in enumerate(columns)})
    return columns, rows


def _types(columns, rows):
    out = {}
    for c in columns:
        vals = [r[c] for r in rows if r[c].strip()]
        nums = [_number(v) for v in vals]
        if vals and all(n is not None for n in nums):
            out[c] = ("integer" if all(isinstance(n, int) for n in nums)
                      else "number")
        else:
            out[c] = "text"
    return out


def _check_columns(name, columns, wanted, what="column"):
    for w in wanted:
        if not isinstance(w, str):
            raise TypeError(f"{what} names must be strings")
        if w not in columns:
            raise LookupError(f"data set {name!r} has no {what} {w!r} "
                              f"(columns: {', '.join(columns)})")


def _check_int(what, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an integer, not "
                        f"{type(value).__name__}")
    if not low <= value <= high:
        raise DatasetError(f"{what} must be between {low} and {high}")
    return value


def list_datasets():
    """The data sets: [{name, columns, rows, bytes}]."""
    if DATA_DIR is None:
        raise RuntimeError("the data directory is not configured")
    out = []
    for f in sorted(os.listdir(DATA_DIR)):
        path = os.path.join(DATA_DIR, f)
        if not f.endswith(".csv") or not os.path.isfile(path):
            continue
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            n = sum(1 for rec in reader if rec)
        out.append({"name": f[:-4], "columns": header, "rows": n,
                    "bytes": os.path.getsize(path)})
    return out


def load_csv(name, limit=20, offset=0, columns=None):
    """Rows of a data set: {name, columns, types, row_count, offset, rows}
    with at most limit rows from offset; columns keeps only those."""
    _check_int("limit", limit, 0, MAX_RETURN_ROWS)
    _check_int("offset", offset, 0, MAX_ROWS)
    cols, rows = read_csv(_path(name))
    if columns is not None:
        if isinstance(columns, str) or not isinstance(columns, list):
            raise TypeError("columns must be a list of column names")
        _check_columns(name, cols, columns)
        cols = list(columns)
    types = _types(cols, rows)
    picked = []
    for r in rows[offset:offset + limit]:
        picked.append({c: (_number(r[c]) if types[c] != "text" else r[c])
                       for c in cols})
    return {"name": name, "columns": cols, "types": types,
            "row_count": len(rows), "offset": offset, "rows": picked}


def _stats(values):
    n = len(values)
    out = {"count": n}
    if not n:
        return out
    out.update(mean=statistics.fmean(values), median=statistics.median(values),
               min=min(values), max=max(values), sum=math.fsum(values))
    out["stdev"] = statistics.stdev(values) if n > 1 else 0.0
    if n > 1:
        q = statistics.quantiles(values, n=4, method="inclusive")
        out.update(q1=q[0], q3=q[2])
    for k, v in out.items():
        if isinstance(v, float):
            out[k] = round(v, 6)
    return out


def describe(name, columns=None):
    """Summary statistics per column: numbers get count, missing, mean,
    median, stdev, min, max, q1, q3, sum; text gets count, missing,
    distinct and the 5 most common values."""
    cols, rows = read_csv(_path(name))
    if columns is not None:
        if isinstance(columns, str) or not isinstance(columns, list):
            raise TypeError("columns must be a list of column names")
        _check_columns(name, cols, columns)
        cols = list(columns)
    types = _types(cols, rows)
    out = {}
    for c in cols:
        cells = [r[c] for r in rows]
        missing = sum(1 for v in cells if not v.strip())
        if types[c] != "text":
            s = _stats([_number(v) for v in cells if v.strip()])
        else:
            counts = {}
            for v in cells:
                if v.strip():
                    counts[v] = counts.get(v, 0) + 1
            top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
            s = {"count": len(cells) - missing, "distinct": len(counts),
                 "top": [{"value": k, "count": n} for k, n in top]}
        s["type"] = types[c]
        s["missing"] = missing
        out[c] = s
    return {"name": name, "rows": len(rows), "columns": out}


def group_by(name, by, column=None, agg="count", limit=50, order="desc"):
    """Group rows by one or more columns and aggregate column (count, sum,
    mean, median, min, max, stdev): {name, by, agg, column, groups:
    [{key, value, rows}]} sorted by value (order desc or asc)."""
    if isinstance(by, str):
        by = [by]
    if not isinstance(by, list) or not by or len(by) > 5:
        raise TypeError("by must be a column name or a list of 1-5 names")
    if agg not in AGGREGATES:
        raise DatasetError(f"agg must be one of {', '.join(AGGREGATES)}")
    if order not in ("desc", "asc"):
        raise DatasetError("order must be 'desc' or 'asc'")
    _check_int("limit", limit, 1, MAX_RETURN_ROWS)
    cols, rows = read_csv(_path(name))
    _check_columns(name, cols, by)
    if agg != "count":
        if column is None:
            raise DatasetError(f"agg {agg!r} needs a column to aggregate")
        _check_columns(name, cols, [column])
        if _types([column], rows)[column] == "text":
            raise DatasetError(f"column {column!r} is not numeric; only "
                               "count works on it")
    groups = {}
    for r in rows:
        key = tuple(r[b] for b in by)
        g = groups.setdefault(key, [])
        if agg == "count":
            g.append(1)
        else:
            v = _number(r[column])
            if v is not None:
                g.append(v)
    result = []
    for key, vals in groups.items():
        if agg == "count":
            value = len(vals)
        elif not vals:
            value = None
        elif agg == "sum":
            value = math.fsum(vals)
        elif agg == "mean":
            value = statistics.fmean(vals)
        elif agg == "median":
            value = statistics.median(vals)
        elif agg == "min":
            value = min(vals)
        elif agg == "max":
            value = max(vals)
        else:
            value = statistics.stdev(vals) if len(vals) > 1 else 0.0
        if isinstance(value, float):
            value = round(value, 6)
        result.append({"key": dict(zip(by, key)), "value": value,
                       "rows": len(vals)})
    result.sort(key=lambda g: (g["value"] is None,
                               -(g["value"] or 0) if order == "desc"
                               else (g["value"] or 0),
                               tuple(g["key"].values())))
    return {"name": name, "by": by, "agg": agg, "column": column,
            "group_count": len(result), "groups": result[:limit]}

