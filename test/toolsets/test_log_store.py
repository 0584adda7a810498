"""The log_store module and tool: services and rotated/gzip files, the
three line formats, filters (service, level, keyword, regex, time), limits,
error summary from the data, tail, field extraction, and clear errors.
Also the demo data generator (generate_logs.py): deterministic, all formats.

Run: /usr/bin/python3 -m pytest test/toolsets/test_log_store.py
"""

import gzip
import json
import os
import time

import pytest

from toolcall import LOG_ANALYSIS, call, import_module

log_store = import_module(LOG_ANALYSIS, "log_store")
gen = import_module(LOG_ANALYSIS, "generate_logs")

T0 = 1736935200.0            # 2025-01-15T10:00:00Z

WEB_OLD = ["2025-01-15T09:00:00Z [INFO] old start",
           "2025-01-15T09:30:00Z [ERROR] ConnectionTimeout: db slow"]
WEB_MID = ["2025-01-15T09:45:00.500Z [WARN] retrying"]
WEB_NEW = ["2025-01-15T10:00:00.250Z [INFO] GET /a 200 status=200 user=u1",
           "2025-01-15T10:05:00+01:00 [ERROR] ConnectionTimeout: db slow again",
           "2025-01-15T10:10:00Z [ERROR] disk 93% full on vol-12",
           "2025-01-15T10:20:00Z [FATAL] OutOfMemoryError: heap",
           "2025-01-15T10:30:00Z [INFO] GET /b 500 status=500 user=u2"]
API = [{"ts": "2025-01-15T10:01:00Z", "level": "error", "msg": "declined",
        "error_type": "PaymentDeclined", "amount": 12, "user": {"id": "u7"}},
       {"time": 1736935500123, "level": 50, "msg": "boom",
        "err": {"type": "SMTPError"}},
       {"timestamp": "2025-01-15T10:06:00Z", "level": "WARNING", "msg": "slow"},
       {"ts": "2025-01-15T10:07:00Z", "level": "info", "msg": "ok"}]
CRON = ["Jan 15 10:02:00 host cron[42]: ERROR JobFailed: nightly",
        "Jan 15 10:03:00 host cron[42]: INFO done"]


def write(path, lines, mtime, gz=False):
    data = ("\n".join(lines) + "\n").encode()
    if gz:
        data = gzip.compress(data)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


@pytest.fixture
def logs(tmp_path, monkeypatch):
    write(tmp_path / "web.log.2.gz", WEB_OLD, T0 - 1800, gz=True)
    write(tmp_path / "web.log.1", WEB_MID, T0 - 900)
    write(tmp_path / "web.log", WEB_NEW, T0 + 1800)
    write(tmp_path / "api.jsonl", [json.dumps(r) for r in API], T0 + 600)
    write(tmp_path / "cron.log", CRON, T0 + 200)
    (tmp_path / "notes.txt").write_text("not a log\n")
    monkeypatch.setattr(log_store, "DATA_DIR", str(tmp_path))
    return tmp_path


# ------------------------------------------------------------- services

def test_services_and_file_order(logs):
    assert log_store.list_services() == ["api", "cron", "web"]
    names = [os.path.basename(p) for p in log_store._files("web")]
    assert names == ["web.log.2.gz", "web.log.1", "web.log"]


@pytest.mark.parametrize("bad", ["../etc/passwd", "", ".hidden", "a/b", 5, None])
def test_invalid_service_names(logs, bad):
    with pytest.raises(ValueError, match="invalid service name"):
        log_store.search_logs(bad)


def test_unknown_service(logs):
    with pytest.raises(LookupError, match=r"unknown service 'nope' \(known: api, cron, web\)"):
        log_store.search_logs("nope")


# --------------------------------------------------------------- parsing

def test_parse_formats():
    rec = log_store.parse_line("2025-01-15T10:00:00.5Z [ERROR] Boom: x", "s")
    assert (rec["time"], rec["level"], rec["error_type"], rec["message"]) == \
        ("2025-01-15T10:00:00.500Z", "ERROR", "Boom", "Boom: x")
    rec = log_store.parse_line("2025-01-15 11:00:00,250+01:00 WARNING slow")
    assert rec["t"] == T0 + 0.25 and rec["level"] == "WARN"
    rec = log_store.parse_line('{"time": 1736935200000, "level": 60, "msg": "m"}')
    assert rec["t"] == T0 and rec["level"] == "FATAL" and rec["fields"]["msg"] == "m"
    rec = log_store.parse_line("Jan 15 10:00:00 h app[1]: CRITICAL disk gone", year=2025)
    assert rec["t"] == T0 and rec["level"] == "FATAL" and rec["message"] == "disk gone"
    rec = log_store.parse_line("free text without a level")
    assert rec["level"] is None and rec["t"] is None


def test_error_type_fallback_masks_numbers():
    rec = log_store.parse_line("2025-01-15T10:00:00Z [ERROR] disk 93% full on vol-12")
    assert rec["error_type"] == "disk #% full on vol-#"


@pytest.mark.parametrize("value,expected", [
    ("2025-01-15T10:00:00Z", T0), ("2025-01-15T11:00:00+01:00", T0),
    ("2025-01-15 10:00:00", T0), ("2025-01-15", T0 - 36000),
    (T0, T0), (T0 * 1000, T0), ("1736935200", T0)])
def test_parse_time(value, expected):
    assert log_store.parse_time(value) == expected


def test_parse_time_ages():
    assert log_store.parse_time("1h", now=T0) == T0 - 3600
    assert log_store.parse_time("-15m", now=T0) == T0 - 900
    assert log_store.parse_time("2d", now=T0) == T0 - 172800
    for bad in ("yesterday", "1y", True, [1]):
        with pytest.raises(ValueError, match="not a time"):
            log_store.parse_time(bad)


# ----------------------------------------------------------- search_logs

def test_search_reads_rotations_and_gzip_oldest_first(logs):
    res = log_store.search_logs("web")
    assert res["lines"] == WEB_OLD + WEB_MID + WEB_NEW
    assert res["count"] == 8 and res["more"] is False


def test_search_filters(logs):
    assert log_store.search_logs("web", log_level="error")["lines"] == \
        [WEB_OLD[1], WEB_NEW[1], WEB_NEW[2]]
    assert log_store.search_logs("web", keyword="DB SLOW")["count"] == 2
    assert log_store.search_logs("web", keyword="DB SLOW", case_sensitive=True)["count"] == 0
    assert log_store.search_logs("web", regex=r"GET /[ab] (5\d\d)")["lines"] == [WEB_NEW[4]]
    res = log_store.search_logs("web", since="2025-01-15T09:40:00Z",
                                until="2025-01-15T10:04:00Z")
    # 10:05+01:00 is 09:05Z: out of the window
    assert res["lines"] == [WEB_MID[0], WEB_NEW[0]]
    assert log_store.search_logs("api", log_level="WARN")["lines"] == [json.dumps(API[2])]


def test_search_all_services_prefixes(logs):
    res = log_store.search_logs("*", log_level="ERROR", since=T0)
    assert sorted(res["lines"]) == sorted([
        "api: " + json.dumps(API[0]), "api: " + json.dumps(API[1]),
        "cron: " + CRON[0], "web: " + WEB_NEW[2]])


def test_search_limit_and_more(logs):
    res = log_store.search_logs("web", limit=3)
    assert res["count"] == 3 and res["more"] is True
    for bad in (0, 1001, "3", 2.5, True):
        with pytest.raises(ValueError, match="limit must be"):
            log_store.search_logs("web", limit=bad)


def test_search_bad_regex_is_a_clear_error(logs):
    with pytest.raises(ValueError, match=r"invalid regex '\(unclosed': missing \)"):
        log_store.search_logs("web", regex="(unclosed")
    with pytest.raises(ValueError, match="longer than 500"):
        log_store.search_logs("web", regex="a" * 501)


def test_search_bad_arguments(logs):
    with pytest.raises(ValueError, match="log_level must be one of"):
        log_store.search_logs("web", log_level="LOUD")
    with pytest.raises(ValueError, match="keyword must be a string"):
        log_store.search_logs("web", keyword=5)
    with pytest.raises(ValueError, match="since is after until"):
        log_store.search_logs("web", since=T0, until=T0 - 1)
    with pytest.raises(ValueError, match="since or hours"):
        log_store.search_logs("web", since=T0, hours=1)


def test_long_lines_are_cut(logs):
    write(logs / "long.log", ["2025-01-15T10:00:00Z [INFO] " + "x" * 10000], T0)
    line = log_store.search_logs("long")["lines"][0]
    assert len(line) == log_store.MAX_LINE_CHARS + 1 and line.endswith("…")


# -------------------------------------------------------- error summary

def test_error_summary_counts_from_the_data(logs):
    s = log_store.get_error_summary("*")
    assert s["total_lines"] == 8 + 4 + 2
    assert s["total_errors"] == 7 and s["by_level"]["FATAL"] == 1
    assert s["errors_by_type"] == {"ConnectionTimeout": 2, "disk #% full on vol-#": 1,
                                   "OutOfMemoryError": 1, "PaymentDeclined": 1,
                                   "SMTPError": 1, "JobFailed": 1}
    assert s["most_frequent_error"] == "ConnectionTimeout"
    assert s["errors_by_service"] == {"web": 4, "api": 2, "cron": 1}
    assert s["first_error_at"] == "2025-01-15T09:05:00.000Z"


def test_error_summary_window_and_top(logs):
    s = log_store.get_error_summary("web", since=T0, top=1)
    assert s["total_errors"] == 2 and s["error_types"] == 2
    assert len(s["errors_by_type"]) == 1 and s["other_errors"] == 1
    assert s["since"] == "2025-01-15T10:00:00.000Z"


def test_error_summary_hours_skips_old_files(logs, monkeypatch):
    opened = []
    real = log_store._open
    monkeypatch.setattr(log_store, "_open", lambda p: opened.append(p) or real(p))
    monkeypatch.setattr(log_store.time, "time", lambda: T0 + 3600)
    s = log_store.get_error_summary("web", hours=1.4)     # since 09:36Z
    assert s["total_errors"] == 2                # 10:10Z, 10:20Z (not 09:05Z)
    # web.log.2.gz was last written at 09:30Z: not even opened
    assert [os.path.basename(p) for p in opened] == ["web.log.1", "web.log"]


# ----------------------------------------------------------------- tail

def test_tail_spans_files(logs):
    assert log_store.tail_logs("web", lines=2)["lines"] == WEB_NEW[-2:]
    assert log_store.tail_logs("web", lines=7)["lines"] == (WEB_OLD + WEB_MID + WEB_NEW)[-7:]
    res = log_store.tail_logs("web", lines=1000)
    assert res["count"] == 8
    assert log_store.tail_logs("web", lines=2, log_level="ERROR")["lines"] == WEB_NEW[1:3]
    with pytest.raises(ValueError, match="one service"):
        log_store.tail_logs("*")


def test_tail_reads_backwards_in_blocks(logs):
    lines = [f"2025-01-15T10:00:00Z [INFO] line {i}" for i in range(5000)]
    write(logs / "big.log", lines, T0)
    assert list(log_store._reverse_lines(str(logs / "big.log"), block=100))[:3] == \
        lines[::-1][:3]
    assert log_store.tail_logs("big", lines=1000)["lines"] == lines[-1000:]


# ------------------------------------------------------- extract_fields

def test_extract_json_and_key_value_fields(logs):
    res = log_store.extract_fields("api", fields=["amount", "user.id", "level"])
    assert res["rows"][0] == {"amount": 12, "user.id": "u7", "level": "ERROR",
                              "time": "2025-01-15T10:01:00.000Z"}
    res = log_store.extract_fields("web", fields=["status", "user"])
    assert [(r["status"], r["user"]) for r in res["rows"]] == [("200", "u1"), ("500", "u2")]


def test_extract_with_pattern(logs):
    res = log_store.extract_fields("web", pattern=r"GET (?P<path>/\w+) (?P<code>\d+)",
                                   limit=1)
    assert res["rows"] == [{"path": "/a", "code": "200", "time": "2025-01-15T10:00:00.250Z"}]
    assert res["more"] is True
    with pytest.raises(ValueError, match="named groups"):
        log_store.extract_fields("web", pattern=r"GET (\w+)")
    with pytest.raises(ValueError, match="invalid regex"):
        log_store.extract_fields("web", pattern=r"(?P<x>")
    with pytest.raises(ValueError, match="give fields"):
        log_store.extract_fields("web")
    with pytest.raises(ValueError, match="fields must be a list"):
        log_store.extract_fields("web", fields="status")


def test_iter_records_is_a_generator(logs):
    it = log_store.iter_records("web", log_level="FATAL")
    rec = next(it)
    assert rec["error_type"] == "OutOfMemoryError" and rec["service"] == "web"


# ------------------------------------------------------------- the tool

def test_tool_calls_and_errors(logs, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    r = call(LOG_ANALYSIS, "log_store", {"function": "list_services"}, ws, data_dir=logs)
    assert r.result == ["api", "cron", "web"]
    r = call(LOG_ANALYSIS, "log_store", {"function": "search_logs", "service_name": "web",
                                         "regex": "(unclosed"}, ws, data_dir=logs)
    assert r.error.startswith("search_logs: invalid regex '(unclosed'")
    r = call(LOG_ANALYSIS, "log_store", {"function": "_files", "service_name": "web"}, ws,
             data_dir=logs)
    assert "unknown log_store function '_files'" in r.error
    r = call(LOG_ANALYSIS, "log_store", {"function": "tail_logs", "service_name": "web",
                                         "regex": "x"}, ws, data_dir=logs)
    assert "unexpected keyword argument 'regex'" in r.error
    r = call(LOG_ANALYSIS, "log_store", {"function": "search_logs", "service_name": "web",
                                         "limit": "ten"}, ws, data_dir=logs)
    assert r.error == "search_logs: limit must be an integer"


# ------------------------------------------------------------ generator

def test_generator_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    ra = gen.generate(str(a), seed=3, size_mb=0.3)
    gen.generate(str(b), seed=3, size_mb=0.3)
    assert sorted(os.listdir(a)) == sorted(os.listdir(b))
    for name in os.listdir(a):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert abs(ra["bytes"] - 0.3 * 1024 * 1024) < 0.05 * 1024 * 1024
    gen.generate(str(tmp_path / "c"), seed=4, size_mb=0.3)
    assert (tmp_path / "c" / "api-gateway.log").read_bytes() != (a / "api-gateway.log").read_bytes()


def test_generated_logs_parse(tmp_path, monkeypatch):
    res = gen.generate(str(tmp_path), seed=1, size_mb=0.5, end="2025-01-15T12:00:00Z")
    monkeypatch.setattr(log_store, "DATA_DIR", str(tmp_path))
    assert log_store.list_services() == sorted(gen.SERVICES)
    assert any(n.endswith(".gz") for n in os.listdir(tmp_path))
    s = log_store.get_error_summary("*", top=30)
    assert s["total_lines"] > 2000 and s["by_level"].get("UNKNOWN", 0) == 0
    expected_types = {e for spec in gen.SERVICES.values() for e, _, _ in spec[2]}
    assert set(s["errors_by_type"]) == expected_types
    # every line has a time inside the span, and files end at their mtime
    for svc in gen.SERVICES:
        for path in log_store._files(svc):
            recs = [log_store.parse_line(ln, year=2025) for ln in log_store._file_lines(path)]
            assert all(res["end"] - 86400 <= r["t"] <= res["end"] for r in recs)
            assert abs(os.stat(path).st_mtime - recs[-1]["t"]) < 1
    # the incident: the last hour's top error
    last_hour = log_store.get_error_summary("*", since=res["end"] - 3600, top=1)
    assert last_hour["most_frequent_error"] == "DatabaseConnectionRefused"


def test_generator_cli(tmp_path):
    assert gen.main(["--out", str(tmp_path), "--size-mb", "0.05", "--end", "now"]) == 0
    newest = max(os.stat(tmp_path / n).st_mtime for n in os.listdir(tmp_path))
    assert time.time() - newest < 600
