"""Read-only access to service logs in the worker's data directory.

Each service has one file, <data_dir>/<service>.log. A line is either plain
text with a level in brackets ("2025-01-15T10:00:01Z [ERROR] ...") or a JSON
object with a "level" field.
"""

import collections
import json
import os
import re

# Set by the runner for each call (the worker's --data-dir).
DATA_DIR = None

_SERVICE_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_LEVEL_RE = re.compile(
    r"\[(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL)\]", re.I)
_TYPE_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_.]{2,63}):\s")
_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_ERROR_LEVELS = ("ERROR", "FATAL")
_MAX_LINES = 1000
_MAX_LINE_CHARS = 4000


def _norm_level(level):
    level = str(level).upper()
    return {"WARNING": "WARN", "CRITICAL": "FATAL"}.get(level, level)


def _check_count(name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    if not 1 <= value <= _MAX_LINES:
        raise ValueError(f"{name} must be between 1 and {_MAX_LINES}")
    return value


def _log_path(service_name):
    if not isinstance(service_name, str) or not service_name:
        raise ValueError("service_name must be a non-empty string")
    if (len(service_name) > 128 or not _SERVICE_RE.match(service_name)
            or service_name.startswith(".")):
        raise ValueError(f"invalid service name {service_name!r}: use letters,"
                         " digits, '.', '_' and '-'")
    if DATA_DIR is None:
        raise RuntimeError("log data directory is not configured")
    path = os.path.join(DATA_DIR, service_name + ".log")
    if not os.path.isfile(path):
        known = ", ".join(list_services()) or "none"
        raise LookupError(f"unknown service {service_name!r} (known: {known})")
    return path


def _lines(service_name):
    with open(_log_path(service_name), encoding="utf-8",
              errors="replace") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line:
                yield line[:_MAX_LINE_CHARS]


def parse_line(line):
    """Return (timestamp, level, message, error_type) for one log line."""
    ts = level = etype = None
    msg = line
    if line.startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            ts = obj.get("timestamp") or obj.get("ts") or obj.get("time")
            if obj.get("level") is not None:
                level = _norm_level(obj["level"])
            msg = str(obj.get("message") or obj.get("msg") or "")
            etype = obj.get("error_type")
            if level in _ERROR_LEVELS and not etype:
                etype = _error_type(msg)
            return ts, level, msg, etype
    m = _LEVEL_RE.search(line)
    if m:
        level = _norm_level(m.group(1))
        head = line[:m.start()].strip()
        ts = head.split()[0] if head else None
        msg = line[m.end():].strip()
    if level in _ERROR_LEVELS:
        etype = _error_type(msg)
    return ts, level, msg, etype


def _error_type(msg):
    m = _TYPE_RE.match(msg)
    if m:
        return m.group(1)
    words = re.sub(r"\d+", "#", msg).split()[:5]
    return " ".join(words) or "unknown"


def list_services():
    """Names of the services that have a log file."""
    if DATA_DIR is None:
        return []
    return sorted(n[:-4] for n in os.listdir(DATA_DIR)
                  if n.endswith(".log") and _SERVICE_RE.match(n[:-4]))


def search_logs(service_name, keyword=None, log_level=None, limit=100):
    """Lines of a service's log that match a level and/or a keyword.

    keyword is a case-insensitive substring; log_level one of DEBUG, INFO,
    WARN, ERROR, FATAL. Returns at most limit lines, oldest first.
    """
    limit = _check_count("limit", limit)
    want = None
    if log_level is not None:
        want = _norm_level(log_level)
        if want not in _LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(_LEVELS)}")
    if keyword is not None and not isinstance(keyword, str):
        raise ValueError("keyword must be a string")
    needle = keyword.lower() if keyword else None
    matches, more = [], False
    for line in _lines(service_name):
        if needle is not None and needle not in line.lower():
            continue
        if want is not None and parse_line(line)[1] != want:
            continue
        if len(matches) == limit:
            more = True
            break
        matches.append(line)
    return {"service": service_name, "keyword": keyword,
            "log_level": want, "count": len(matches), "more": more,
            "lines": matches}


def get_error_summary(service_name):
    """Counts of a service's log lines by level and of errors by type."""
    by_level = collections.Counter()
    by_type = collections.Counter()
    first = last = None
    total = 0
    for line in _lines(service_name):
        total += 1
        ts, level, _msg, etype = parse_line(line)
        by_level[level or "UNKNOWN"] += 1
        if level in _ERROR_LEVELS:
            by_type[etype] += 1
            first = first or ts
            last = ts or last
    errors = sum(by_level[lv] for lv in _ERROR_LEVELS)
    top = by_type.most_common(1)
    return {"service": service_name, "total_lines": total,
            "by_level": dict(by_level), "total_errors": errors,
            "total_warnings": by_level["WARN"],
            "errors_by_type": dict(by_type.most_common()),
            "most_frequent_error": top[0][0] if top else None,
            "first_error_at": first, "last_error_at": last}


def tail_logs(service_name, lines=50):
    """The last lines of a service's log, oldest first."""
    lines = _check_count("lines", lines)
    tail = collections.deque(_lines(service_name), maxlen=lines)
    return {"service": service_name, "count": len(tail), "lines": list(tail)}
