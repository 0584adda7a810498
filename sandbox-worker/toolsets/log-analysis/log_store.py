"""Search and summarise service logs in the read-only log directory.

A service's log is every file <service>.log or <service>.jsonl in the
directory, with its rotations (.1, .2.gz, ...; read oldest first, gzip too).
Lines may be plain text ("2025-01-15T10:00:01Z [ERROR] Type: message"),
syslog ("Jan 15 10:00:01 host app[42]: ERROR message") or JSON objects
("ts"/"timestamp"/"time" as ISO 8601 or epoch ms, "level" as a word or a
pino number). Everything streams line by line, so size does not matter.

Times (since, until) are ISO 8601 ("2025-01-15T10:00:00Z"), epoch seconds
or milliseconds, or an age before now: "90s", "15m", "1h", "2d", "1w".
"""

import collections
import gzip
import json
import os
import re
import time
from datetime import datetime, timezone

# Set by the runner for each call (the worker's --data-dir).
DATA_DIR = None

MAX_RESULTS = 1000          # most lines/rows one call returns
MAX_LINE_CHARS = 4000       # longer lines are cut (and end with "…")
MAX_PATTERN_CHARS = 500
LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
ERROR_LEVELS = ("ERROR", "FATAL")
ALL = "*"

_LEVEL_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL", "CRIT": "FATAL",
                  "ERR": "ERROR", "NOTICE": "INFO", "PANIC": "FATAL",
                  "EMERG": "FATAL", "ALERT": "FATAL", "INFORMATION": "INFO"}
_PINO_LEVELS = {10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN",
                50: "ERROR", 60: "FATAL"}
_SERVICE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_FILE_RE = re.compile(
    r"^(?P<svc>[A-Za-z0-9][A-Za-z0-9._-]*?)\.(?:log|jsonl)"
    r"(?:\.(?P<n>\d{1,4}))?(?P<gz>\.gz)?$")
_TEXT_RE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?"
    r"(?:Z|[+-]\d\d:?\d\d)?)\s+\[?(?P<level>[A-Za-z]+)\]?:?\s+(?P<msg>.*)$")
_SYSLOG_RE = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d) "
    r"(?P<host>\S+) (?P<app>[^:\[\s]+)(?:\[\d+\])?: (?P<msg>.*)$")
_TYPE_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_.$]{2,63}):\s")
_AGE_RE = re.compile(r"^\s*-?(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.I)
_KV_RE = re.compile(r"\b([A-Za-z_][\w.-]*)=(\"[^\"]*\"|[^\s,;]+)")
_TEMPLATE_SUBS = (
    (re.compile(r"\S+@\S+"), "<email>"),
    (re.compile(r"\b[0-9a-f]{8,}\b|\b[0-9a-f-]{36}\b", re.I), "<id>"),
    (re.compile(r"\d+"), "#"),
)
_AGE_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
     "Nov", "Dec"), 1)}
_JSON_TIME_KEYS = ("ts", "timestamp", "@timestamp", "time", "datetime")
_JSON_TYPE_KEYS = ("error_type", "exception", "exc_type", "error_class")
_JSON_TIME_RE = re.compile(
    r'"(?:ts|timestamp|@timestamp|time|datetime)"\s*:\s*'
    r'(?:"([^"]{19,40})"|(\d{10,13}(?:\.\d+)?)[,}\s])')
_ISO_RE = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)([.,]\d{1,9})?"
                     r"(Z|z|[+-]\d\d:?\d\d)?")
_MINUTE_CACHE = {}
_SYSLOG_CACHE = {}


# ----------------------------------------------------------------- errors

class LogStoreError(ValueError):
    """A call's arguments were wrong; the message says how."""


# --------------------------------------------------------------- services

def list_services():
    """Names of the services that have log files, sorted."""
    if DATA_DIR is None:
        return []
    return sorted({m.group("svc") for m in map(_FILE_RE.match,
                                                os.listdir(DATA_DIR)) if m})


def _files(service):
    """Log files of a service, oldest first: highest rotation number first,
    the current file last."""
    found = []
    for name in os.listdir(DATA_DIR):
        m = _FILE_RE.match(name)
        if m and m.group("svc") == service:
            n = int(m.group("n")) if m.group("n") else (1 if m.group("gz") else 0)
            found.append((-n, name))
    return [os.path.join(DATA_DIR, name) for _, name in sorted(found)]


def _services(service_name):
    """The service names a service_name argument selects ("*" = all)."""
    if DATA_DIR is None:
        raise RuntimeError("the log directory is not configured")
    if service_name == ALL:
        return list_services()
    if not isinstance(service_name, str) or not _SERVICE_RE.match(service_name):
        raise LogStoreError(
            f"invalid service name {service_name!r}: use letters, digits, "
            "'.', '_' and '-', or '*' for every service")
    if not _files(service_name):
        known = ", ".join(list_services()) or "none"
        raise LookupError(f"unknown service {service_name!r} (known: {known})")
    return [service_name]


# ------------------------------------------------------------------ times

def _utc_iso(t):
    if t is None:
        return None
    sec = int(t // 1)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
            + f".{int((t - sec) * 1000):03d}Z")


def _second(text):
    """Epoch seconds of "YYYY-MM-DDTHH:MM:SS" (UTC); minutes are cached."""
    base = _MINUTE_CACHE.get(text[:16])
    try:
        if base is None:
            base = datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]),
                            int(text[11:13]), int(text[14:16]),
                            tzinfo=timezone.utc).timestamp()
            if len(_MINUTE_CACHE) > 100000:
                _MINUTE_CACHE.clear()
            _MINUTE_CACHE[text[:16]] = base
        sec = int(text[17:19])
    except ValueError:
        return None
    return base + sec if sec < 61 else None


def _iso_match(m):
    """Epoch seconds of an _ISO_RE match (no zone = UTC), or None."""
    base = _second(m.group(1))
    if base is None:
        return None
    if m.group(2):
        base += float("0." + m.group(2)[1:])
    zone = m.group(3)
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "+" else 1
        base += sign * (int(zone[1:3]) * 3600 + int(zone[-2:]) * 60)
    return base


def _iso_seconds(text):
    """Epoch seconds of an ISO 8601 time (naive = UTC), or None."""
    m = _ISO_RE.match(text)
    return _iso_match(m) if m and m.end() == len(text) else None


def _epoch(value):
    """Epoch seconds of a number that is seconds or milliseconds."""
    value = float(value)
    return value / 1000.0 if value > 1e11 else value


def parse_time(value, now=None):
    """Epoch seconds of a since/until argument (see the module doc)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise LogStoreError(f"not a time: {value!r}")
    if isinstance(value, (int, float)):
        return _epoch(value)
    if not isinstance(value, str):
        raise LogStoreError(f"not a time: {value!r}")
    m = _AGE_RE.match(value)
    if m:
        now = time.time() if now is None else now
        return now - float(m.group(1)) * _AGE_SECONDS[m.group(2).lower()]
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return _epoch(text)
    t = _iso_seconds(text) if len(text) >= 19 else None
    if t is None and re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        t = _iso_seconds(text + "T00:00:00")
    if t is None:
        raise LogStoreError(
            f"not a time: {value!r} (use ISO 8601 like 2025-01-15T10:00:00Z, "
            "epoch seconds, or an age like 15m, 1h, 2d)")
    return t


def _window(since, until, hours=None):
    if hours is not None:
        if since is not None:
            raise LogStoreError("give since or hours, not both")
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) \
                or hours <= 0:
            raise LogStoreError("hours must be a positive number")
        since = time.time() - hours * 3600
    lo, hi = parse_time(since), parse_time(until)
    if lo is not None and hi is not None and lo > hi:
        raise LogStoreError("since is after until")
    return lo, hi


# ----------------------------------------------------------------- parsing

def _norm_level(level):
    if isinstance(level, bool):
        return None
    if isinstance(level, (int, float)):
        return _PINO_LEVELS.get(int(level) // 10 * 10)
    level = str(level).strip().upper()
    level = _LEVEL_ALIASES.get(level, level)
    return level if level in LEVELS else None


def _template(msg):
    for rx, repl in _TEMPLATE_SUBS:
        msg = rx.sub(repl, msg)
    return " ".join(msg.split()[:6]) or "unknown"


def _error_type(msg, obj=None):
    """The error's type: a JSON field, a "Type:" prefix, else the message
    with numbers and ids masked (first six words)."""
    if obj:
        for key in _JSON_TYPE_KEYS:
            if isinstance(obj.get(key), str) and obj[key]:
                return obj[key]
        for key in ("error", "err", "exc"):
            sub = obj.get(key)
            if isinstance(sub, dict) and isinstance(sub.get("type"), str):
                return sub["type"]
    m = _TYPE_RE.match(msg)
    return m.group(1) if m else _template(msg)


def _syslog_time(m, year):
    try:
        dt = datetime(year, _MONTHS[m.group("mon")], int(m.group("day")),
                      *map(int, m.group("hms").split(":")), tzinfo=timezone.utc)
    except (KeyError, ValueError):
        return None
    return dt.timestamp()


def _parse_json(line):
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    t = None
    for key in _JSON_TIME_KEYS:
        v = obj.get(key)
        if isinstance(v, str):
            t = _iso_seconds(v) if len(v) >= 19 else None
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            t = _epoch(v)
        if t is not None:
            break
    level = None
    for key in ("level", "severity", "lvl", "levelname"):
        if obj.get(key) is not None:
            level = _norm_level(obj[key])
            break
    msg = obj.get("msg", obj.get("message", ""))
    msg = msg if isinstance(msg, str) else json.dumps(msg)
    return t, level, msg, obj


def _parse_text(line, year):
    m = _TEXT_RE.match(line)
    if m:
        level = _norm_level(m.group("level"))
        msg = m.group("msg") if level else line[m.end("ts"):].strip()
        return _iso_seconds(m.group("ts")), level, msg
    m = _SYSLOG_RE.match(line)
    if m:
        msg = m.group("msg")
        word, _, rest = msg.partition(" ")
        level = _norm_level(word.strip("[]:<>"))
        return _syslog_time(m, year), level, (rest if level else msg)
    return None, None, line


def _parse(line, year):
    """(t, level, message, JSON object or None) of one line."""
    if line.startswith("{"):
        parsed = _parse_json(line)
        if parsed:
            return parsed
        return None, None, line, None
    return (*_parse_text(line, year), None)


def _record(service, t, level, msg, obj, line):
    """A record dict: service, time (ISO, UTC), t (epoch s), level,
    error_type (errors only), message, fields (JSON lines), line."""
    etype = _error_type(msg, obj) if level in ERROR_LEVELS else None
    return {"service": service, "time": _utc_iso(t), "t": t, "level": level,
            "error_type": etype, "message": msg, "fields": obj, "line": line}


def _quick_time(line, year):
    """The line's time, found cheaply (no full parse), or None."""
    if line.startswith("{"):
        m = _JSON_TIME_RE.search(line)
        if m is None:
            return None
        return _iso_seconds(m.group(1)) if m.group(1) else _epoch(m.group(2))
    if line[:1].isdigit():
        m = _ISO_RE.match(line)
        return _iso_match(m) if m else None
    key = (line[:15], year)
    if key not in _SYSLOG_CACHE:
        m = _SYSLOG_RE.match(line)
        if len(_SYSLOG_CACHE) > 200000:
            _SYSLOG_CACHE.clear()
        _SYSLOG_CACHE[key] = _syslog_time(m, year) if m else None
    return _SYSLOG_CACHE[key]


def parse_line(line, service=None, year=None):
    """Parse one log line; returns the record dict (see iter_records)."""
    return _record(service, *_parse(line, year or time.gmtime().tm_year), line)


# ----------------------------------------------------------------- reading

def _open(path):
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _clip(line):
    line = line.rstrip("\r\n")
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "…"


def _file_lines(path):
    with _open(path) as f:
        for line in f:
            if len(line) > MAX_LINE_CHARS or line.endswith("\r\n"):
                line = _clip(line)
            elif line.endswith("\n"):
                line = line[:-1]
            if line:
                yield line


def _year_of(path):
    """The year syslog lines (which have none) in this file belong to: the
    file's last write, the newest entry."""
    return time.gmtime(os.stat(path).st_mtime).tm_year


def _matcher(keyword, regex, case_sensitive):
    """A predicate on raw lines for keyword (substring) and regex."""
    if keyword is not None and not isinstance(keyword, str):
        raise LogStoreError("keyword must be a string")
    if regex is not None and not isinstance(regex, str):
        raise LogStoreError("regex must be a string")
    rx = None
    if regex:
        if len(regex) > MAX_PATTERN_CHARS:
            raise LogStoreError(f"regex is longer than {MAX_PATTERN_CHARS} characters")
        try:
            rx = re.compile(regex, 0 if case_sensitive else re.IGNORECASE)
        except re.error as e:
            raise LogStoreError(f"invalid regex {regex!r}: {e}") from None
    needle = keyword or None
    if needle is None and rx is None:
        return None
    if needle and not case_sensitive:
        needle = needle.lower()

    def match(line):
        if needle is not None:
            hay = line if case_sensitive else line.lower()
            if needle not in hay:
                return False
        return rx is None or rx.search(line) is not None
    return match


def _level_filter(log_level):
    if log_level is None:
        return None
    want = _norm_level(log_level) if isinstance(log_level, str) else None
    if want is None:
        raise LogStoreError(f"log_level must be one of {', '.join(LEVELS)}")
    return want


def _scan(service_name, since, until, log_level, keyword=None, regex=None,
          case_sensitive=False, hours=None):
    """Checks the arguments, then yields (service, t, level, message,
    object, line) of every matching line, oldest first per service."""
    services = _services(service_name)
    lo, hi = _window(since, until, hours)
    want = _level_filter(log_level)
    match = _matcher(keyword, regex, case_sensitive)
    for service in services:
        for path in _files(service):
            if lo is not None and os.stat(path).st_mtime < lo:
                continue        # a log file is written last by its newest entry
            year = _year_of(path)
            for line in _file_lines(path):
                if match is not None and not match(line):
                    continue
                if lo is not None or hi is not None:
                    t = _quick_time(line, year)
                    if t is not None and ((lo is not None and t < lo)
                                          or (hi is not None and t > hi)):
                        continue
                t, level, msg, obj = _parse(line, year)
                if want is not None and level != want:
                    continue
                if lo is not None and (t is None or t < lo):
                    continue
                if hi is not None and (t is None or t > hi):
                    continue
                yield service, t, level, msg, obj, line


def iter_records(service_name=ALL, since=None, until=None, log_level=None,
                 keyword=None, regex=None, case_sensitive=False, hours=None):
    """Yield matching records, oldest first per service (a generator: use it
    in execute_code for your own aggregations). A record is a dict with
    service, time (ISO UTC), t (epoch s), level, error_type, message,
    fields (the JSON object, for JSON lines) and line (raw)."""
    for item in _scan(service_name, since, until, log_level, keyword, regex,
                      case_sensitive, hours):
        yield _record(*item)


def _count(name, value, maximum=MAX_RESULTS):
    if isinstance(value, bool) or not isinstance(value, int):
        raise LogStoreError(f"{name} must be an integer")
    if not 1 <= value <= maximum:
        raise LogStoreError(f"{name} must be between 1 and {maximum}")
    return value


# ------------------------------------------------------------------- tools

def search_logs(service_name, keyword=None, log_level=None, limit=100,
                regex=None, since=None, until=None, hours=None,
                case_sensitive=False):
    """Lines that match every filter given, oldest first, at most limit.

    keyword: substring; regex: Python regular expression (both
    case-insensitive unless case_sensitive); log_level: TRACE, DEBUG, INFO,
    WARN, ERROR or FATAL; since/until: times (module doc); hours: the last
    N hours. service_name "*" searches every service and prefixes each line
    with "<service>: ".
    """
    limit = _count("limit", limit)
    lines, more = [], False
    for rec in iter_records(service_name, since, until, log_level, keyword,
                            regex, case_sensitive, hours):
        if len(lines) == limit:
            more = True
            break
        prefix = rec["service"] + ": " if service_name == ALL else ""
        lines.append(prefix + rec["line"])
    return {"service": service_name, "keyword": keyword, "regex": regex,
            "log_level": _level_filter(log_level), "count": len(lines),
            "more": more, "lines": lines}


def get_error_summary(service_name=ALL, since=None, until=None, hours=None,
                      top=10):
    """Counts of log lines by level and of errors (ERROR, FATAL) by type,
    computed from the data; the top error types, most frequent first.

    The type is a JSON field (error_type, err.type, ...), the "Type:" at
    the start of the message, or the message with numbers masked.
    """
    top = _count("top", top, 100)
    by_level, by_type = collections.Counter(), collections.Counter()
    by_service = collections.Counter()
    total, first, last = 0, None, None
    for service, t, level, msg, obj, _line in _scan(service_name, since,
                                                    until, None, hours=hours):
        total += 1
        by_level[level or "UNKNOWN"] += 1
        if level in ERROR_LEVELS:
            by_type[_error_type(msg, obj)] += 1
            by_service[service] += 1
            if t is not None:
                first = t if first is None else min(first, t)
                last = t if last is None else max(last, t)
    errors = sum(by_type.values())
    shown = by_type.most_common(top)
    lo, hi = _window(since, until, hours)
    return {"service": service_name, "since": _utc_iso(lo),
            "until": _utc_iso(hi), "total_lines": total,
            "by_level": dict(by_level), "total_errors": errors,
            "total_warnings": by_level["WARN"],
            "error_types": len(by_type),
            "errors_by_type": dict(shown),
            "other_errors": errors - sum(n for _, n in shown),
            "errors_by_service": dict(by_service.most_common()),
            "most_frequent_error": shown[0][0] if shown else None,
            "first_error_at": _utc_iso(first), "last_error_at": _utc_iso(last)}


def _reverse_lines(path, block=65536):
    """Lines of an uncompressed file, last first, reading from the end."""
    with open(path, "rb") as f:
        pos = f.seek(0, os.SEEK_END)
        rest = b""
        while pos > 0:
            step = min(block, pos)
            pos -= step
            f.seek(pos)
            chunk = f.read(step) + rest
            parts = chunk.split(b"\n")
            rest = parts[0]
            for raw in reversed(parts[1:]):
                line = _clip(raw.decode("utf-8", "replace"))
                if line:
                    yield line
        if rest:
            line = _clip(rest.decode("utf-8", "replace"))
            if line:
                yield line


def _last_matching(path, n, keep):
    """The last n lines of one file that keep() accepts, oldest first."""
    if path.endswith(".gz"):
        return list(collections.deque(filter(keep, _file_lines(path)), n))
    found = []
    for line in _reverse_lines(path):
        if keep(line):
            found.append(line)
            if len(found) == n:
                break
    return found[::-1]


def tail_logs(service_name, lines=50, log_level=None):
    """The last lines of a service's log (all its files), oldest first;
    with log_level, the last lines of that level."""
    lines = _count("lines", lines)
    service = _services(service_name)
    if len(service) != 1:
        raise LogStoreError("tail_logs needs one service name, not '*'")
    want = _level_filter(log_level)
    out = []
    for path in reversed(_files(service[0])):
        year = _year_of(path)

        def keep(line, year=year):
            return want is None or _parse(line, year)[1] == want
        out = _last_matching(path, lines - len(out), keep) + out
        if len(out) == lines:
            break
    return {"service": service_name, "log_level": want, "count": len(out),
            "lines": out}


def _field(rec, name, regex_groups):
    if name in regex_groups:
        return regex_groups[name]
    if name in ("time", "level", "service", "error_type", "message"):
        return rec[name]
    obj = rec["fields"]
    if obj is not None:
        for part in name.split("."):
            obj = obj.get(part) if isinstance(obj, dict) else None
        return obj
    for key, value in _KV_RE.findall(rec["message"]):
        if key == name:
            return value.strip('"')
    return None


def extract_fields(service_name, fields=None, pattern=None, keyword=None,
                   log_level=None, since=None, until=None, hours=None,
                   limit=100):
    """Rows of named fields from matching lines, oldest first.

    fields: names to take from JSON lines (dotted paths like err.type),
    from key=value pairs in text lines, or the record's time, level,
    service, error_type, message. pattern: a regular expression whose named
    groups (?P<name>...) become fields too; lines it does not match are
    skipped. Rows without any wanted field are skipped.
    """
    limit = _count("limit", limit)
    if fields is not None and (not isinstance(fields, list) or not all(
            isinstance(f, str) and f for f in fields)):
        raise LogStoreError("fields must be a list of field names")
    rx = None
    if pattern is not None:
        if not isinstance(pattern, str):
            raise LogStoreError("pattern must be a string")
        _matcher(None, pattern, True)           # checks and reports it
        rx = re.compile(pattern)
        if not rx.groupindex:
            raise LogStoreError("pattern needs named groups, like (?P<status>\\d{3})")
    names = list(fields or []) + [g for g in (rx.groupindex if rx else ())
                                  if g not in (fields or [])]
    if not names:
        raise LogStoreError("give fields, a pattern with named groups, or both")
    rows, more = [], False
    for rec in iter_records(service_name, since, until, log_level, keyword,
                            hours=hours):
        groups = {}
        if rx is not None:
            m = rx.search(rec["line"])
            if m is None:
                continue
            groups = m.groupdict()
        row = {n: _field(rec, n, groups) for n in names}
        if all(v is None for v in row.values()):
            continue
        if len(rows) == limit:
            more = True
            break
        row.setdefault("time", rec["time"])
        if service_name == ALL:
            row.setdefault("service", rec["service"])
        rows.append(row)
    return {"service": service_name, "fields": names, "count": len(rows),
            "more": more, "rows": rows}
