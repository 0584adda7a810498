"""Faults during load: Redis killed (and hung), the sandbox worker killed,
the identity provider unreachable.  Each asserts what every client saw,
that no request hung, and recovery without reloading nginx."""

import signal
import time

from lib import (Client, Load, bearer, between, histogram, latency_ms, rpc_body,
                 unsigned_jwt, wait_until)

GW = "/mcp/log-analysis"
BOUND_S = 5.0          # no request may take longer than this in a fault


def cached_load(stack, key, rate=300, threads=6, methods=("ping", "tools/list")):
    """Requests with a key the gateway has cached; ids are unique."""
    def make(t, seq):
        method = methods[seq % len(methods)]
        return method, GW, rpc_body(method, t * 1_000_000 + seq), bearer(key)
    return Load(stack.ports["gateway"], make, threads=threads, rate=rate, timeout=15)


def assert_fail_closed(r, rpc_id):
    assert r.error is None, r
    assert r.status == 503, r
    assert r.code == -32004, r
    assert r.rpc_id == rpc_id, r
    assert r.retry_after == "1", r
    assert r.ctype == "application/json", r


def test_redis_killed_during_load(stack, keys, figures):
    c = Client(stack.ports["gateway"])
    key = keys["analyst"]
    assert c.request("warm", GW, rpc_body("ping", 1), bearer(key)).ok     # now cached
    uncached = [stack.create_key(f"chaos-uncached-{i}", "mcp-log-analyst")["key"]
                for i in range(3)]
    stack.redis_cli("SAVE")     # a restarted Redis has every key, as in production
    nginx_before = stack.nginx_pids()

    load = cached_load(stack, key).start()
    time.sleep(2)
    t_kill = time.monotonic()
    stack.kill("redis")
    probes = []
    rpc_id = 100
    while time.monotonic() - t_kill < 4:
        rpc_id += 1
        r = c.request("uncached", GW, rpc_body("ping", rpc_id), bearer(uncached[0]))
        assert_fail_closed(r, rpc_id)
        probes.append(r)
        time.sleep(0.1)
    t_restart = time.monotonic()
    stack.start_redis()
    t_up = time.monotonic()

    def uncached_ok():
        r = c.request("uncached", GW, rpc_body("ping", 7), bearer(uncached[0]))
        return r if r.ok else None
    first_ok, recovery = wait_until(uncached_ok, 15)
    assert first_ok, "an uncached key still fails after Redis came back"
    # a key the gateway never tried works at once
    never_tried = c.request("uncached", GW, rpc_body("ping", 8), bearer(uncached[1]))
    assert never_tried.ok, never_tried
    time.sleep(2)
    results = load.stop()
    c.close()

    bad = [r for r in results if not r.ok]
    assert not bad, f"{len(bad)} cached-key requests failed: {bad[:5]}"
    assert stack.nginx_pids() == nginx_before, "nginx was restarted or reloaded"
    outage = between(results, t_kill, t_up)
    figures.add("redis killed", load_requests=len(results),
                load_rate_per_s=round(len(results) / (time.monotonic() - load.started), 1),
                cached_key_failures=len(bad),
                cached_key_during_outage=dict(latency_ms(outage), seconds=round(t_up - t_kill, 1)),
                cached_key_before=latency_ms(between(results, 0, t_kill)),
                uncached_key_during_outage=dict(latency_ms(probes),
                                                answer="503 -32004 Retry-After: 1"),
                redis_restart_s=round(t_up - t_restart, 2),
                uncached_recovered_after_redis_listens_s=round(recovery, 2),
                nginx_reloaded=False)


def test_redis_hung_fails_closed_within_timeout(stack, keys, figures):
    """SIGSTOP: Redis accepts nothing and answers nothing; a lookup ends at
    mcp_redis_timeout (500 ms in the demo) with 503."""
    c = Client(stack.ports["gateway"])
    key = keys["analyst"]
    assert c.request("warm", GW, rpc_body("ping", 1), bearer(key)).ok
    uncached = stack.create_key("chaos-hung", "mcp-log-analyst")["key"]
    load = cached_load(stack, key, rate=200).start()
    time.sleep(1)
    redis = stack.procs["redis"]
    redis.send_signal(signal.SIGSTOP)
    t_stop = time.monotonic()
    try:
        probes = []
        for i in range(6):
            r = c.request("uncached", GW, rpc_body("ping", 200 + i), bearer(uncached))
            assert_fail_closed(r, 200 + i)
            assert r.elapsed < 1.5, r
            probes.append(r)
    finally:
        redis.send_signal(signal.SIGCONT)
    t_cont = time.monotonic()

    def ok():
        r = c.request("uncached", GW, rpc_body("ping", 9), bearer(uncached))
        return r if r.ok else None
    first_ok, recovery = wait_until(ok, 15)
    assert first_ok, "no recovery after SIGCONT"
    time.sleep(1)
    results = load.stop()
    c.close()
    bad = [r for r in results if not r.ok]
    assert not bad, f"{len(bad)} cached-key requests failed: {bad[:5]}"
    figures.add("redis hung (SIGSTOP)", uncached_key=dict(latency_ms(probes),
                                                          answer="503 -32004 Retry-After: 1"),
                cached_key_during=latency_ms(between(results, t_stop, t_cont)),
                cached_key_failures=0, load_requests=len(results),
                recovered_after_sigcont_s=round(recovery, 2))


def test_sandbox_worker_killed_during_load(stack, keys, figures):
    key = keys["analyst"]
    calls = {"ping": None, "tools/list": None,
             "tools/call": {"name": "execute_code", "arguments": {"code": "print(6 * 7)"}}}
    methods = ["ping", "tools/list", "ping", "tools/call"]

    def make(t, seq):
        method = methods[seq % len(methods)]
        return method, GW, rpc_body(method, t * 1_000_000 + seq, calls[method]), bearer(key)

    nginx_before = stack.nginx_pids()
    load = Load(stack.ports["gateway"], make, threads=6, rate=150, timeout=30).start()
    # and one long call that is running when the worker dies
    long_call = Client(stack.ports["gateway"], timeout=30)
    import threading
    long_result = []
    spin = {"name": "execute_code", "arguments": {"code": "import time\nt=time.time()\n"
                                                  "while time.time() - t < 20: pass"}}
    th = threading.Thread(target=lambda: long_result.append(long_call.request(
        "long", GW, rpc_body("tools/call", 4242, spin), bearer(key))))
    time.sleep(2)
    th.start()
    time.sleep(1)
    t_kill = time.monotonic()
    pid = stack.kill("worker")
    th.join(BOUND_S)
    assert not th.is_alive(), "the call running in the killed worker hung"
    time.sleep(3)
    t_restart = time.monotonic()
    stack.start_worker()
    t_ready = time.monotonic()
    probe = Client(stack.ports["gateway"])

    def ok():
        r = probe.request("probe", GW, rpc_body("tools/call", 5, calls["tools/call"]),
                          bearer(key))
        return r if r.ok else None
    first_ok, recovery = wait_until(ok, 15)
    assert first_ok, "no execute_code succeeds after the worker restarted"
    time.sleep(3)
    results = load.stop()
    probe.close()
    long_call.close()

    hung = [r for r in results if r.error or r.elapsed > BOUND_S]
    assert not hung, f"{len(hung)} requests hung or lost their connection: {hung[:5]}"
    failed = [r for r in results if not r.ok]
    for r in failed:     # every failure is a clean JSON-RPC error with the id
        assert r.status in (502, 503, 504) and r.code == -32004, r
        assert r.ctype == "application/json" and r.rpc_id is not None, r
    lr = long_result[0]
    assert lr.status in (502, 503, 504) and lr.code == -32004 and lr.rpc_id == 4242, lr
    # answered before the kill (one still in flight at the kill may fail)
    before = [r for r in between(results, 0, t_kill) if r.start + r.elapsed < t_kill]
    after = between(results, t_ready + recovery + 0.5, float("inf"))
    assert before and all(r.ok for r in before), histogram(before)
    assert after and all(r.ok for r in after), histogram(after)
    assert stack.nginx_pids() == nginx_before, "nginx was restarted or reloaded"
    figures.add("sandbox worker killed", killed_pid=pid, load_requests=len(results),
                answers=histogram(results),
                during_outage=latency_ms(between(results, t_kill, t_ready)),
                longest_request_ms=round(max(r.elapsed for r in results) * 1000, 1),
                running_call_answer=f"{lr.status} {lr.code} in "
                                    f"{(lr.start + lr.elapsed - t_kill) * 1000:.0f} ms "
                                    "after the kill",
                worker_restart_s=round(t_ready - t_restart, 2),
                first_success_after_ready_s=round(recovery, 2),
                failures_after_recovery=0, nginx_reloaded=False)


def test_idp_unreachable(stack, keys, token, figures):
    c = Client(stack.ports["gateway"])
    jwt_h = bearer(token)
    assert c.request("warm", GW, rpc_body("ping", 1), jwt_h).ok      # verified, cached
    assert c.request("warm", GW, rpc_body("ping", 1), bearer(keys["analyst"])).ok
    # a second token the gateway has never seen: verified with the JWKS it holds
    fresh = stack.token("demo-analyst", stack.secrets["DEMO_ANALYST_PASSWORD"])
    stack.kill("idp")
    t_kill = time.monotonic()
    try:
        # a token with an unknown kid makes the gateway try the IdP: refused
        # (401) or fail closed (503), within the JWKS location's timeouts
        bogus = unsigned_jwt({"iss": stack.issuer, "aud": stack.gateway_url,
                              "sub": "x", "exp": int(time.time()) + 300})
        unknown = c.request("unknown-kid", GW, rpc_body("ping", 30), bearer(bogus))
        assert unknown.status in (401, 503) and unknown.code in (-32001, -32004), unknown
        assert unknown.elapsed < 3, unknown

        def make(t, seq):
            h = [jwt_h, bearer(keys["analyst"]), bearer(fresh)][seq % 3]
            return ["jwt cached", "api key", "jwt new"][seq % 3], GW, \
                rpc_body("ping", t * 1_000_000 + seq), h
        results = Load(stack.ports["gateway"], make, threads=4, per_thread=150,
                       rate=300, timeout=15).start().join(60)
    finally:
        stack.start_idp()
    bad = [r for r in results if not r.ok]
    assert not bad, f"{len(bad)} requests failed with the IdP down: {bad[:5]}"
    # and the IdP is usable again
    again = stack.token("demo-analyst", stack.secrets["DEMO_ANALYST_PASSWORD"])
    assert c.request("after", GW, rpc_body("ping", 2), bearer(again)).ok
    c.close()
    figures.add("IdP unreachable", requests=len(results), failures=0,
                by_credential=histogram(results), latency=latency_ms(results),
                unknown_kid_token=f"{unknown.status} {unknown.code} in "
                                  f"{unknown.elapsed * 1000:.0f} ms",
                seconds_down=round(time.monotonic() - t_kill, 1))
