#!/usr/bin/python3
"""Deterministic demo logs for the log-analysis tool set.

    generate_logs.py --out DIR [--seed 42] [--size-mb 2] [--hours 24]
                     [--end 2025-01-15T12:00:00Z | --end now]

Writes realistic logs of six services over the --hours before --end,
about --size-mb MiB in all (uncompressed), in four formats:

  api-gateway, auth-service   text:   2025-01-15T10:00:01.123Z [ERROR] ...
  payment-service,
  order-service               JSON lines ("ts" ISO 8601, "level" words)
  notification-service        JSON lines, pino style (epoch ms, levels 10-60)
  scheduler                   syslog: Jan 15 10:00:01 host scheduler[pid]: ...

Each service's log is rotated like logrotate with delaycompress:
<svc>.log (newest quarter), <svc>.log.1, <svc>.log.2.gz, <svc>.log.3.gz
(.jsonl for JSON services); every file's mtime is its last entry's time.
Errors follow a skewed distribution of types per service, with an incident
burst in the last hour, and messages embed PII (e-mail addresses, phone
numbers, card numbers, IP addresses, tokens, names) as real logs do.

The same arguments give the same bytes (random.Random(seed); gzip headers
without names or times). --end now is the current minute, for demos where
"the last hour" should mean the last hour.
"""

import argparse
import gzip
import json
import os
import random
import sys
import time
from datetime import datetime, timezone

DEFAULT_END = "2025-01-15T12:00:00Z"

FIRST = ("Alice", "Bob", "Maria", "James", "Priya", "Chen", "Fatima", "Lukas",
         "Sofia", "David", "Amara", "Hiroshi", "Olga", "Carlos", "Emma",
         "Noah", "Aisha", "Mateo", "Ingrid", "Kwame")
LAST = ("Smith", "Garcia", "Müller", "Nguyen", "Okafor", "Rossi", "Kowalski",
        "Tanaka", "Johnson", "Silva", "Dubois", "Haddad", "Larsen", "Patel")
DOMAINS = ("example.com", "example.org", "mail.example.net", "corp.example")
# Luhn-valid test numbers of several networks, in several spellings
CARDS = ("4111111111111111", "4532 0151 1283 0366", "5555-5555-5555-4444",
         "378282246310005", "6011 1111 1111 1117", "3530111333300000",
         "5105 1051 0510 5100", "4012-8888-8888-1881")
PATHS = ("/api/v1/orders", "/api/v1/payments", "/api/v1/users/me",
         "/api/v1/inventory", "/api/v1/cart", "/healthz", "/api/v2/search")

# service -> (format, share of the volume, [(error type, weight, message)])
SERVICES = {
    "api-gateway": ("text", 30, [
        ("UpstreamTimeout", 30, "upstream {svc} timed out after {ms}ms request_id={rid} client={ip}"),
        ("HTTP503", 14, "{path} returned 503 from {svc} request_id={rid}"),
        ("RateLimitExceeded", 9, "client {ip} exceeded 100 req/s on {path}"),
        ("TLSHandshakeFailed", 4, "handshake with {ip6} failed: certificate expired"),
        ("InvalidToken", 3, "rejected Authorization: Bearer {jwt} for {path}"),
    ]),
    "auth-service": ("text", 12, [
        ("InvalidCredentials", 25, "login failed for {email} from {ip}"),
        ("TokenExpired", 12, "token {jwt} expired for {name}"),
        ("AccountLocked", 5, "account of {name} ({email}) locked after 5 failures"),
        ("APIKeyRevoked", 3, "revoked key used: {apikey} from {ip}"),
    ]),
    "payment-service": ("json", 15, [
        ("PaymentDeclined", 24, "card declined for {email}"),
        ("DatabaseConnectionRefused", 10, "postgres at db-1:5432 refused connection"),
        ("NullPointerException", 7, "customer profile missing for {name}"),
        ("FraudCheckTimeout", 5, "fraud service did not answer in {ms}ms"),
    ]),
    "order-service": ("json", 18, [
        ("DatabaseConnectionRefused", 14, "postgres at db-2:5432 refused connection"),
        ("OutOfStock", 16, "sku {sku} out of stock for order {oid}"),
        ("DeadlockDetected", 6, "deadlock on orders table, transaction {oid} rolled back"),
        ("ValidationError", 9, "order {oid} rejected: invalid shipping address for {name}"),
    ]),
    "notification-service": ("pino", 15, [
        ("SMTPConnectionError", 18, "smtp.example.net:587 unreachable sending to {email}"),
        ("SMSDeliveryFailed", 11, "SMS to {phone} failed: carrier rejected"),
        ("TemplateRenderError", 4, "template order_shipped missing variable for {name}"),
    ]),
    "scheduler": ("syslog", 10, [
        ("JobFailed", 12, "job nightly-report exited with status 1 (owner {name})"),
        ("DiskFull", 5, "no space left on /var/lib/exports writing {oid}.csv"),
        ("OutOfMemoryError", 3, "job reindex killed: heap exhausted at {ms}MB"),
    ]),
}
# the incident of the last hour: (service, error type, extra weight)
INCIDENT = ("order-service", "DatabaseConnectionRefused", 400)

LEVEL_WEIGHTS = (("DEBUG", 8), ("INFO", 70), ("WARN", 12), ("ERROR", 9),
                 ("FATAL", 1))
PINO_LEVELS = {"TRACE": 10, "DEBUG": 20, "INFO": 30, "WARN": 40,
               "ERROR": 50, "FATAL": 60}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
          "Oct", "Nov", "Dec")
ROTATIONS = 4


class Values(dict):
    """Template values, each made on first use from one seeded Random."""

    def __init__(self, rng):
        super().__init__()
        self.r = rng

    def __missing__(self, key):
        value = getattr(self, "_" + key)()
        self[key] = value
        return value

    def _name(self):
        return f"{self.r.choice(FIRST)} {self.r.choice(LAST)}"

    def _email(self):
        r = self.r
        return f"{r.choice(FIRST).lower()}.{r.randint(1, 99)}@{r.choice(DOMAINS)}"

    def _phone(self):
        r = self.r
        return r.choice(("+1 555 {0:03d} {1:04d}", "(555) {0:03d}-{1:04d}",
                         "+44 20 7946 {1:04d}")).format(r.randint(100, 999),
                                                        r.randint(0, 9999))

    def _ip(self):
        r = self.r
        return (f"{r.choice((10, 172, 192, 203))}.{r.randint(0, 255)}."
                f"{r.randint(0, 255)}.{r.randint(1, 254)}")

    def _ip6(self):
        return f"2001:db8:{self.r.getrandbits(16):x}::{self.r.randint(1, 0xffff):x}"

    def _card(self):
        return self.r.choice(CARDS)

    def _jwt(self):
        return ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiI" + self._token(24) + "."
                + self._token(43))

    def _apikey(self):
        return f"mcp_{self.r.getrandbits(64):016x}_{self.r.getrandbits(256):064x}"

    def _rid(self):
        return f"{self.r.getrandbits(32):08x}"

    def _oid(self):
        return f"ord-{self.r.randint(100000, 999999)}"

    def _sku(self):
        return f"SKU-{self.r.randint(1000, 9999)}"

    def _ms(self):
        return self.r.randint(1000, 30000)

    def _path(self):
        return self.r.choice(PATHS)

    def _svc(self):
        return self.r.choice(("order-service", "payment-service",
                              "auth-service", "inventory-service"))

    def _token(self, n):
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
        return "".join(self.r.choices(alphabet, k=n))


INFO_TEMPLATES = {
    "text": ("GET {path} 200 in {ms}us request_id={rid} client={ip}",
             "POST {path} 201 in {ms}us request_id={rid} client={ip}",
             "login ok for {email} from {ip}",
             "session refreshed for {name} request_id={rid}",
             "route cache refreshed (405 entries)"),
    "syslog": ("job {oid}-export finished in {ms}ms", "job cleanup-tmp started",
               "heartbeat ok"),
    "json": ("order {oid} created for {email}",
             "payment captured for {oid} card={card}",
             "shipment label printed for {name}, phone {phone}",
             "cache refreshed in {ms}us"),
}
INFO_TEMPLATES["pino"] = INFO_TEMPLATES["json"]


class ServiceWriter:
    """Renders one service's entries in its format."""

    def __init__(self, name, fmt, rng):
        self.name, self.fmt, self.r = name, fmt, rng
        self.host = f"{name.split('-')[0]}-{rng.randint(1, 3)}"
        self.pid = rng.randint(1000, 60000)
        self._sec, self._stamp = None, None

    def _iso(self, t):
        sec = int(t)
        if sec != self._sec:
            self._sec = sec
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self._stamp}.{int((t - sec) * 1000):03d}Z"

    def line(self, t, level, etype, msg, v):
        if self.fmt == "text":
            body = f"{etype}: {msg}" if etype else msg
            return f"{self._iso(t)} [{level}] {body}"
        if self.fmt == "syslog":
            g = time.gmtime(int(t))
            stamp = f"{MONTHS[g.tm_mon - 1]} {g.tm_mday:2d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}"
            body = f"{etype}: {msg}" if etype else msg
            return f"{stamp} {self.host} {self.name}[{self.pid}]: {level} {body}"
        if self.fmt == "pino":
            rec = {"level": PINO_LEVELS[level], "time": int(t * 1000),
                   "pid": self.pid, "hostname": self.host, "msg": msg}
            if etype:
                rec["err"] = {"type": etype, "message": msg}
            return json.dumps(rec, ensure_ascii=False)
        rec = {"ts": self._iso(t), "level": level.lower(), "service": self.name,
               "msg": msg, "request_id": v["rid"]}
        if etype:
            rec["error_type"] = etype
        rec["latency_ms"] = v["ms"] // 30
        if self.r.random() < 0.3:
            rec["customer"] = v["email"]
        return json.dumps(rec, ensure_ascii=False)


def pick(rng, weighted):
    total = sum(w for _, w in weighted)
    x = rng.random() * total
    for item, w in weighted:
        x -= w
        if x < 0:
            return item
    return weighted[-1][0]


def entries(name, spec, start, end, n, rng):
    """Yields n (time, line) of one service, in time order."""
    fmt, _share, errors = spec
    writer = ServiceWriter(name, fmt, rng)
    error_table = [((e, m), w) for e, w, m in errors]
    incident = [((e, m), w + (INCIDENT[2] if (name, e) == INCIDENT[:2] else 0))
                for e, w, m in errors]
    step = (end - start) / n
    for i in range(n):
        t = start + (i + rng.random() * 0.95) * step
        level = pick(rng, LEVEL_WEIGHTS)
        v = Values(rng)
        in_incident = t > end - 3600 and name == INCIDENT[0]
        if in_incident and level == "INFO" and rng.random() < 0.25:
            level = "ERROR"
        etype = None
        if level in ("ERROR", "FATAL"):
            etype, template = pick(rng, incident if in_incident else error_table)
            msg = template.format_map(v)
        elif level == "WARN" and rng.random() < 0.5:
            msg = f"retrying {v['svc']} call, attempt {rng.randint(1, 5)} of 5"
        else:
            msg = rng.choice(INFO_TEMPLATES[fmt]).format_map(v)
        yield t, writer.line(t, level, etype, msg, v)


def file_names(name, fmt):
    """Oldest first: <base>.3.gz, <base>.2.gz, <base>.1, <base>."""
    base = name + (".jsonl" if fmt in ("json", "pino") else ".log")
    return [f"{base}.{k}.gz" if k >= 2 else (f"{base}.{k}" if k else base)
            for k in range(ROTATIONS - 1, -1, -1)]


def _open(path):
    if path.endswith(".gz"):
        raw = open(path, "wb")
        return gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0), raw
    return open(path, "wb"), None


def write_service(out, name, spec, start, end, nbytes, seed):
    """Writes one service's rotated files; returns bytes (uncompressed)."""
    sample = [len(line.encode()) + 1 for _, line in entries(
        name, spec, start, end, 500, random.Random(f"{seed}:{name}:sample"))]
    n = max(1, int(nbytes * len(sample) / sum(sample)))
    rng = random.Random(f"{seed}:{name}")
    names = file_names(name, spec[0])
    span = (end - start) / ROTATIONS
    total, idx = 0, -1
    f = raw = None
    last_t = start
    paths = [os.path.join(out, n) for n in names]

    def close(i, t):
        f.close()
        if raw:
            raw.close()
        os.utime(paths[i], (t, t))

    for t, line in entries(name, spec, start, end, n, rng):
        k = min(int((t - start) / span), ROTATIONS - 1)
        while idx < k:
            if f:
                close(idx, last_t)
            idx += 1
            f, raw = _open(paths[idx])
        data = (line + "\n").encode("utf-8")
        f.write(data)
        total += len(data)
        last_t = t
    if f:
        close(idx, last_t)
    return total


def parse_end(text):
    if text == "now":
        return float(int(time.time()) // 60 * 60)
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def generate(out, seed=42, size_mb=2.0, hours=24.0, end=DEFAULT_END):
    """Writes the demo logs under out; returns {"bytes", "files", "end"}."""
    end_t = parse_end(end) if isinstance(end, str) else float(end)
    start_t = end_t - hours * 3600
    os.makedirs(out, exist_ok=True)
    shares = sum(spec[1] for spec in SERVICES.values())
    total = 0
    for name, spec in SERVICES.items():
        nbytes = int(size_mb * 1024 * 1024 * spec[1] / shares)
        total += write_service(out, name, spec, start_t, end_t, nbytes, seed)
    files = sorted(os.listdir(out))
    return {"bytes": total, "files": len(files), "end": end_t}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="directory to write")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--size-mb", type=float, default=2.0,
                   help="uncompressed MiB in all (default 2)")
    p.add_argument("--hours", type=float, default=24.0,
                   help="time span of the logs (default 24)")
    p.add_argument("--end", default=DEFAULT_END,
                   help=f"last entry's time, ISO 8601 or 'now' (default {DEFAULT_END})")
    a = p.parse_args(argv)
    if a.size_mb <= 0 or a.hours <= 0:
        p.error("--size-mb and --hours must be positive")
    res = generate(a.out, a.seed, a.size_mb, a.hours, a.end)
    print(f"wrote {res['bytes']} bytes in {res['files']} files to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
