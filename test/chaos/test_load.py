"""Load: every request sent under concurrency has exactly one valid audit
record; a soak at a steady rate shows no memory growth."""

import json
import os
import time

import pytest

from lib import Client, Load, bearer, histogram, latency_ms, rpc_body
from memory import Sampler, stack_processes

GW = "/mcp/log-analysis"


def mixed(stack, keys, token, exec_every=50):
    """A mix of what clients send: allowed calls (API key, JWT, aggregate),
    code execution, refusals (no credentials, unknown key, tool not
    allowed) and a malformed body.  Every JSON body has a unique id.
    token is a JWT, or a function giving the current one (a long run
    outlives a token, and a client refreshes it as real ones do)."""
    key, viewer = bearer(keys["analyst"]), bearer(keys["viewer"])
    unknown = bearer("mcp_" + "0" * 16 + "_" + "1" * 64)
    jwt = None if callable(token) else bearer(token)
    kinds = [
        ("ping/key", GW, "ping", None, key),
        ("tools/list/key", GW, "tools/list", None, key),
        ("ping/jwt", GW, "ping", None, jwt),
        ("ping/aggregate", "/mcp", "ping", None, key),
        ("denied tool", GW, "tools/call",
         {"name": "execute_code", "arguments": {"code": "print(1)"}}, viewer),
        ("no credentials", GW, "ping", None, {}),
        ("unknown key", GW, "ping", None, unknown),
        ("tools/list/viewer", GW, "tools/list", None, viewer),
        ("bad json", GW, None, None, key),
    ]

    def make(t, seq):
        rpc_id = t * 1_000_000 + seq
        if exec_every and seq % exec_every == exec_every - 1:
            return "execute_code", GW, rpc_body(
                "tools/call", rpc_id, {"name": "execute_code",
                                       "arguments": {"code": f"print({rpc_id})"}}), key
        tag, path, method, params, h = kinds[(seq + t) % len(kinds)]
        if h is None:
            h = bearer(token())
        if method is None:
            return tag, path, b'{"jsonrpc": "2.0", "id": ' + str(rpc_id).encode() + b', "me', h
        return tag, path, rpc_body(method, rpc_id, params), h
    return make


EXPECT = {"ping/key": 200, "tools/list/key": 200, "ping/jwt": 200, "ping/aggregate": 200,
          "denied tool": 200, "no credentials": 401, "unknown key": 401,
          "tools/list/viewer": 200, "bad json": 400, "execute_code": 200}


def settled_size(path):
    size = -1
    while True:
        now = os.path.getsize(path)
        if now == size:
            return size
        size = now
        time.sleep(0.5)


def test_audit_records_equal_requests(stack, keys, token, figures, opts):
    total = opts["audit_requests"]
    threads = 16
    audit = stack.path("logs", "audit.log")
    warm = Client(stack.ports["gateway"])
    for h in (bearer(keys["analyst"]), bearer(keys["viewer"]), bearer(token)):
        warm.request("warm", GW, rpc_body("ping", 0), h)
    warm.close()
    start = settled_size(audit)
    t0 = time.monotonic()
    results = Load(stack.ports["gateway"], mixed(stack, keys, token), threads=threads,
                   per_thread=total // threads, timeout=30).start().join(600)
    took = time.monotonic() - t0
    assert len(results) == total // threads * threads
    errors = [r for r in results if r.error]
    assert not errors, f"{len(errors)} requests got no answer: {errors[:5]}"
    wrong = [r for r in results if r.status != EXPECT[r.tag]]
    assert not wrong, f"{len(wrong)} unexpected answers: {wrong[:5]}"

    settled_size(audit)
    with open(audit, "rb") as f:
        f.seek(start)
        lines = f.read().splitlines()
    records = [json.loads(line) for line in lines]     # every record is valid JSON
    assert len(records) == len(results), (len(records), len(results))
    sent = {}
    for r in results:
        sent[r.status] = sent.get(r.status, 0) + 1
    logged = {}
    for rec in records:
        logged[rec["status"]] = logged.get(rec["status"], 0) + 1
    assert logged == sent
    # each JSON-RPC id sent is in exactly one record
    ids = sorted(int(rec["rpc_id"]) for rec in records if rec["rpc_id"] not in ("", "-"))
    want = sorted(r.rpc_id for r in results if r.rpc_id is not None)
    assert ids == want, "the ids logged are not the ids answered"
    assert len(ids) == len(set(ids)), "an id was logged twice"
    figures.add("audit under load", requests=len(results), threads=threads,
                seconds=round(took, 1), rate_per_s=round(len(results) / took),
                audit_records=len(records), invalid_json_records=0,
                records_by_status={str(k): v for k, v in sorted(logged.items())},
                ids_matched=len(ids), latency=latency_ms(results),
                by_kind=histogram(results))


def growth_check(samples, warmup_s):
    """Per process group: the mean RSS of the last third of the samples after
    warm-up against the first third.  Sustained growth: the last third is
    more than max(1 MiB, 5 %) above the first."""
    t_first = samples[0][0]
    kept = [(t, snap) for t, snap in samples if t - t_first >= warmup_s]
    third = max(1, len(kept) // 3)
    out = {}
    for group in kept[0][1]:
        first = [snap[group]["VmRSS"] for _, snap in kept[:third] if group in snap]
        last = [snap[group]["VmRSS"] for _, snap in kept[-third:] if group in snap]
        if not first or not last:
            continue
        a, b = sum(first) / len(first), sum(last) / len(last)
        allowed = max(1024, 0.05 * a)
        out[group] = {"first_third_kib": round(a), "last_third_kib": round(b),
                      "growth_kib": round(b - a), "allowed_kib": round(allowed),
                      "ok": b - a <= allowed}
    return out, len(kept)


@pytest.mark.soak
def test_soak_steady_rate_no_memory_growth(stack, keys, refreshed_token, figures, opts):
    seconds = opts["soak_seconds"]
    rate = float(os.environ.get("CHAOS_SOAK_RATE", "200"))
    warmup = max(10.0, seconds * 0.15)
    load = Load(stack.ports["gateway"], mixed(stack, keys, refreshed_token, exec_every=100),
                threads=8, rate=rate, timeout=30)
    with Sampler(lambda: {g: p for g, p in stack_processes(stack).items()
                          if g != "sandbox pool"}, interval=2.0) as sampler:
        load.start()
        time.sleep(seconds)
        results = load.stop()
    errors = [r for r in results if r.error]
    wrong = [r for r in results if r.status != EXPECT[r.tag]]
    growth, n = growth_check(sampler.samples, warmup)
    halves = len(results) // 2
    figures.add("soak", seconds=seconds, target_rate_per_s=rate,
                achieved_rate_per_s=round(len(results) / seconds, 1), requests=len(results),
                failures=len(errors) + len(wrong), samples_after_warmup=n, warmup_s=warmup,
                latency_first_half=latency_ms(results[:halves]),
                latency_second_half=latency_ms(results[halves:]),
                rss=growth)
    assert not errors, f"{len(errors)} requests got no answer: {errors[:5]}"
    assert not wrong, f"{len(wrong)} unexpected answers: {wrong[:5]}"
    grown = {g: v for g, v in growth.items() if not v["ok"]}
    assert not grown, f"sustained memory growth: {grown}"
