"""Hostile clients: slowloris (headers and bodies trickled or stalled),
oversized bodies, truncated bodies.  nginx must cut them off within its
timeouts while other clients are served as usual."""

import json
import select
import socket
import time

from lib import (CLIENT_TIMEOUT_S, Client, Load, bearer, histogram, latency_ms,
                 parse_raw_response, raw_connect, read_until_close, rpc_body)

GW = "/mcp/log-analysis"


def normal_load(stack, key, rate=100, threads=4):
    def make(t, seq):
        method = ("ping", "tools/list")[seq % 2]
        return method, GW, rpc_body(method, t * 1_000_000 + seq), bearer(key)
    return Load(stack.ports["gateway"], make, threads=threads, rate=rate, timeout=15)


def whole_lines_end(path):
    """The offset just past the log's last whole line: the file's size may
    fall inside a record nginx is writing (a write longer than what is
    left of a page grows the file in steps)."""
    with open(path, "rb") as f:
        return f.read().rfind(b"\n") + 1


def request_head(stack, key, length, extra=""):
    return (f"POST {GW} HTTP/1.1\r\nHost: 127.0.0.1:{stack.ports['gateway']}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json, text/event-stream\r\n{extra}"
            f"Content-Length: {length}\r\n\r\n").encode()


class Slow:
    """A connection that sends `data` at `interval` seconds per step of
    `step` bytes, after sending `head` at once."""

    def __init__(self, kind, port, head, data, step, interval):
        self.kind = kind
        self.sock = raw_connect(port)
        self.sock.setblocking(False)
        self.sock.sendall(head) if head else None
        self.data = data
        self.step = step
        self.interval = interval
        self.opened = time.monotonic()
        self.last_sent = self.opened
        self.next_at = self.opened + interval if interval else float("inf")
        self.closed_at = None
        self.received = b""

    def tick(self, now):
        if self.closed_at is not None:
            return
        if now >= self.next_at and self.data:
            chunk, self.data = self.data[:self.step], self.data[self.step:]
            try:
                self.sock.send(chunk)
                self.last_sent = now
            except OSError:
                self.close(now)
                return
            self.next_at = now + self.interval

    def readable(self, now):
        try:
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            self.received += chunk
        else:
            self.close(now)

    def close(self, now):
        self.closed_at = now
        self.sock.close()


def test_slow_clients_are_cut_off_others_unaffected(stack, keys, figures):
    key = keys["analyst"]
    port = stack.ports["gateway"]
    body = rpc_body("ping", 1)
    full_head = request_head(stack, key, len(body))
    slow = []
    # slowloris: the request head one byte a second, never finished
    slow += [Slow("header trickle", port, b"", full_head, 1, 1.0) for _ in range(150)]
    # the head, then 10 bytes of the body, then nothing
    slow += [Slow("body stalled", port, full_head, body[:10], 10, 0.01) for _ in range(50)]
    # the body one byte every 2 x client_body_timeout
    slow += [Slow("body trickle", port, full_head, body, 1, 2.0 * CLIENT_TIMEOUT_S)
             for _ in range(50)]
    load = normal_load(stack, key).start()
    deadline = time.monotonic() + 3 * CLIENT_TIMEOUT_S + 5
    while time.monotonic() < deadline and any(s.closed_at is None for s in slow):
        now = time.monotonic()
        for s in slow:
            s.tick(now)
        open_ = [s for s in slow if s.closed_at is None]
        r, _, _ = select.select([s.sock for s in open_], [], [], 0.2)
        by_sock = {s.sock: s for s in open_}
        now = time.monotonic()
        for sock in r:
            by_sock[sock].readable(now)
    time.sleep(1)
    results = load.stop()
    still_open = [s for s in slow if s.closed_at is None]
    for s in still_open:
        s.sock.close()
    assert not still_open, f"{len(still_open)} slow connections were not cut off"
    out = {}
    for kind in ("header trickle", "body stalled", "body trickle"):
        group = [s for s in slow if s.kind == kind]
        # header: a total timeout from the first byte; body: per read
        since = [(s.closed_at - (s.opened if kind == "header trickle" else s.last_sent))
                 for s in group]
        statuses = sorted({parse_raw_response(s.received)[0] for s in group}, key=str)
        assert max(since) < CLIENT_TIMEOUT_S + 3, (kind, max(since))
        out[kind] = {"connections": len(group),
                     "cut_after_s": [round(min(since), 1), round(max(since), 1)],
                     "answer": [f"HTTP {x}" if x else "closed without an answer"
                                for x in statuses]}
    bad = [r for r in results if not r.ok]
    assert not bad, f"{len(bad)} normal requests failed: {bad[:5]}"
    lat = latency_ms(results)
    assert lat["p99"] < 500, lat
    figures.add("slow clients", client_timeouts_s=CLIENT_TIMEOUT_S, **out,
                other_clients=dict(lat, failures=0))


def test_oversized_bodies(stack, keys, figures):
    key = keys["analyst"]
    port = stack.ports["gateway"]
    c = Client(port)
    out = {}
    # over mcp_max_body_size (1m), under client_max_body_size (4m), all sent
    big = json.dumps({"jsonrpc": "2.0", "id": 77, "method": "tools/call",
                      "params": {"name": "execute_code",
                                 "arguments": {"code": "#" * (2 << 20)}}}).encode()
    r = c.request("2 MiB", GW, big, bearer(key), keep_body=True)
    assert r.status == 413 and r.code == -32600 and r.ctype == "application/json", r
    out["2 MiB body, Content-Length"] = f"{r.status} {r.code} in {r.elapsed * 1000:.0f} ms"

    # the same announced, only 64 KiB sent: refused on the length alone?
    s = raw_connect(port, timeout=10)
    t0 = time.monotonic()
    s.sendall(request_head(stack, key, len(big)) + big[:65536])
    first = []
    data, took, closed = read_until_close(s, 2 * CLIENT_TIMEOUT_S, first)
    s.close()
    status, headers, rbody = parse_raw_response(data)
    assert status == 413, data[:300]
    assert json.loads(rbody)["error"]["code"] == -32600
    assert first[0] < 1.0, first
    out["2 MiB announced, 64 KiB sent"] = (f"{status} JSON-RPC after "
                                           f"{first[0] * 1000:.0f} ms, connection closed "
                                           f"after {took * 1000:.0f} ms (lingering_close)")

    # chunked, no length known in advance
    s = raw_connect(port, timeout=10)
    head = request_head(stack, key, 0).replace(b"Content-Length: 0\r\n",
                                               b"Transfer-Encoding: chunked\r\n")
    s.sendall(head)
    t0 = time.monotonic()
    sent = 0
    try:
        for i in range(0, len(big), 65536):
            chunk = big[i:i + 65536]
            s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        s.sendall(b"0\r\n\r\n")
    except OSError:
        pass     # the server may answer and close before all is sent
    t_sent = time.monotonic()
    first = []
    data, took, closed = read_until_close(s, 2 * CLIENT_TIMEOUT_S, first)
    s.close()
    status, headers, rbody = parse_raw_response(data)
    assert status == 413, data[:300]
    assert json.loads(rbody)["error"]["code"] == -32600
    out["2 MiB chunked"] = (f"{status} JSON-RPC {(t_sent + first[0] - t0) * 1000:.0f} ms "
                            f"after the first chunk ({sent >> 10} KiB sent), connection "
                            f"closed after {(t_sent + took - t0) * 1000:.0f} ms")

    # over nginx's own client_max_body_size (4m): nginx's 413
    huge = b"x" * (5 << 20)
    r = c.request("5 MiB", GW, huge, bearer(key), keep_body=True)
    assert r.status == 413 or r.error, r
    out["5 MiB (over client_max_body_size)"] = (
        f"{r.status} {r.ctype} ({'JSON-RPC ' + str(r.code) if r.ctype == 'application/json' else 'nginx page'})"
        if r.status else f"connection closed ({r.error})")
    c.close()
    # and the gateway still serves
    assert Client(port).request("after", GW, rpc_body("ping", 1), bearer(key)).ok
    figures.add("oversized bodies", **out)


def test_truncated_bodies(stack, keys, figures):
    key = keys["analyst"]
    port = stack.ports["gateway"]
    audit = stack.path("logs", "audit.log")
    nginx_before = stack.nginx_pids()
    body = rpc_body("tools/call", 55, {"name": "execute_code",
                                       "arguments": {"code": "print('x' * 100)"}})
    load = normal_load(stack, key).start()
    start_size = whole_lines_end(audit)
    out = {}
    n = 100
    # announce the whole body, send half, close the connection
    t0 = time.monotonic()
    for _ in range(n):
        s = raw_connect(port)
        s.sendall(request_head(stack, key, len(body)) + body[:len(body) // 2])
        s.close()
    # the same, but half-closed: the client still reads the answer
    answers = {}
    longest = 0.0
    for _ in range(n):
        s = raw_connect(port)
        s.sendall(request_head(stack, key, len(body)) + body[:len(body) // 2])
        s.shutdown(socket.SHUT_WR)
        data, took, closed = read_until_close(s, 2 * CLIENT_TIMEOUT_S)
        s.close()
        assert closed, "a truncated request's connection was left open"
        longest = max(longest, took)
        status = parse_raw_response(data)[0]
        answers[str(status)] = answers.get(str(status), 0) + 1
    time.sleep(1.5)
    results = load.stop()
    bad = [r for r in results if not r.ok]
    assert not bad, f"{len(bad)} normal requests failed: {bad[:5]}"
    assert stack.nginx_pids() == nginx_before, "an nginx worker died"
    # none of them reached the sandbox
    records = []
    with open(audit, "rb") as f:
        f.seek(start_size)
        for line in f:
            if not line.endswith(b"\n"):
                break           # being written still
            rec = json.loads(line)
            if rec["rpc_id"] != "55" and rec["method"] in ("ping", "tools/list"):
                continue
            records.append(rec)
    upstream = [r for r in records if r["upstream_status"] not in ("", "-")]
    assert not upstream, f"a truncated body was sent to the sandbox: {upstream[:3]}"
    statuses = {}
    for r in records:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    out = {"closed after half the body": n,
           "half-closed after half the body": f"{n}, answered {answers}, "
                                              f"closed within {longest * 1000:.0f} ms",
           "audit records of them": {str(k): v for k, v in sorted(statuses.items())},
           "sent to the sandbox": 0,
           "other clients": dict(latency_ms(results), failures=0),
           "seconds": round(time.monotonic() - t0, 1)}
    figures.add("truncated bodies", **out)
