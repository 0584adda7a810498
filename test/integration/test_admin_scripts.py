"""Integration tests for the API-key admin scripts in tools/.

Each module run starts its own throw-away redis-server instances (one open, one with
a password) on free ports; nothing else is touched. Record format: docs/internals.md.

Run: /usr/bin/python3 -m pytest test/integration/test_admin_scripts.py
"""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, "tools")
SCRIPTS = ["create-api-key.sh", "list-api-keys.sh", "revoke-api-key.sh", "rotate-api-key.sh"]
KEY_RE = re.compile(r"mcp_([0-9a-f]{16})_([0-9a-f]{64})")
PASSWORD = "s3cr3t-Pa55w0rd-for-tests"
WEEK = 7 * 86400

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None or shutil.which("redis-cli") is None,
    reason="redis-server and redis-cli are required",
)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self, tmp, password=None):
        self.port = _free_port()
        self.password = password
        d = tmp / ("redis-%d" % self.port)
        d.mkdir()
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(d), "--daemonize", "no"]
        if password:
            args += ["--requirepass", password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("redis-server did not start")

    @property
    def url(self):
        if self.password:
            return "redis://:%s@127.0.0.1:%d" % (self.password, self.port)
        return "redis://127.0.0.1:%d" % self.port

    def cli(self, *args):
        env = dict(os.environ)
        env.pop("REDISCLI_AUTH", None)
        if self.password:
            env["REDISCLI_AUTH"] = self.password
        out = subprocess.run(["redis-cli", "--no-auth-warning", "-p", str(self.port), *args],
                             env=env, capture_output=True, check=True)
        return out.stdout.decode("utf-8", "surrogateescape")

    def hgetall(self, key):
        lines = self.cli("--raw", "HGETALL", key).split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return dict(zip(lines[0::2], lines[1::2]))

    def dbsize(self):
        return int(self.cli("DBSIZE").strip())

    def dump_everything(self):
        """Every key name, and every value of every key, as one string."""
        parts = []
        for key in self.cli("--raw", "KEYS", "*").split("\n"):
            if not key:
                continue
            parts.append(key)
            t = self.cli("--raw", "TYPE", key).strip()
            if t == "hash":
                parts.append(self.cli("--raw", "HGETALL", key))
            elif t == "set":
                parts.append(self.cli("--raw", "SMEMBERS", key))
            elif t == "string":
                parts.append(self.cli("--raw", "GET", key))
            parts.append(self.cli("--raw", "DUMP", key))
        return "\n".join(parts)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    r = Redis(tmp_path_factory.mktemp("redis"))
    yield r
    r.stop()


@pytest.fixture(scope="module")
def redis_pw(tmp_path_factory):
    r = Redis(tmp_path_factory.mktemp("redis-pw"), password=PASSWORD)
    yield r
    r.stop()


def run(script, *args, redis=None, env_extra=None, input=None):
    env = dict(os.environ)
    for k in ("REDIS_URL", "REDISCLI_AUTH", "MCP_GATEWAY_URL", "MCP_APIKEY_PREFIX",
              "MCP_APIKEY_INDEX"):
        env.pop(k, None)
    if redis is not None:
        env["REDIS_URL"] = redis.url
    if env_extra:
        env.update(env_extra)
    return subprocess.run([os.path.join(TOOLS, script), *args], env=env,
                          input=input if input is not None else b"",
                          capture_output=True, timeout=60)


def ok(res):
    assert res.returncode == 0, (res.returncode, res.stdout.decode(), res.stderr.decode())
    return res.stdout.decode()


def create(redis, user, roles, *extra):
    out = ok(run("create-api-key.sh", user, roles, "--json", *extra, redis=redis))
    return json.loads(out)


def listing(redis, *extra):
    return {k["id"]: k for k in json.loads(ok(run("list-api-keys.sh", "--json", *extra,
                                                   redis=redis)))}


def one_sentence_error(res, code):
    assert res.returncode == code, (res.returncode, res.stdout.decode(), res.stderr.decode())
    err = res.stderr.decode().strip()
    assert err, "expected an error message on stderr"
    assert "error:" in err.splitlines()[0]


# ---------------------------------------------------------------------------------------
# help and usage


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_exits_zero(script):
    res = run(script, "--help")
    assert res.returncode == 0
    assert "Usage:" in res.stdout.decode()


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_source_common_and_use_rediscli_auth(script):
    text = open(os.path.join(TOOLS, script)).read()
    assert "set -euo pipefail" in text
    assert "lib/common.sh" in text
    common = open(os.path.join(TOOLS, "lib", "common.sh")).read()
    # The password reaches redis-cli through the environment only.
    assert "REDISCLI_AUTH=$MCP_RPASS redis-cli" in common
    assert not re.search(r"redis-cli[^\n]*(-a |--pass)", common)


def test_unknown_option_is_usage_error(redis):
    one_sentence_error(run("create-api-key.sh", "u", "r", "--bogus", redis=redis), 2)
    one_sentence_error(run("create-api-key.sh", "u", redis=redis), 2)
    one_sentence_error(run("list-api-keys.sh", "extra", redis=redis), 2)
    one_sentence_error(run("revoke-api-key.sh", "--yes", redis=redis), 2)
    one_sentence_error(run("revoke-api-key.sh", "not-an-id", "--yes", redis=redis), 2)
    one_sentence_error(run("rotate-api-key.sh", "0123456789abcdef", "--grace", "soon",
                           "--yes", redis=redis), 2)


# ---------------------------------------------------------------------------------------
# create


def test_create_record_exactly_per_internals(redis):
    before = int(time.time())
    res = run("create-api-key.sh", "alice", "mcp-log-analyst", "--expires", "30d", redis=redis)
    out = ok(res)
    after = int(time.time())
    keys = KEY_RE.findall(out)
    assert keys, out
    key_id, secret = keys[0]
    key = "mcp_%s_%s" % (key_id, secret)
    assert len(key) == 85
    assert re.fullmatch(r"mcp_[0-9a-f]{16}_[0-9a-f]{64}", key)
    # Client snippets.
    assert "Authorization: Bearer " + key in out
    assert '"type": "http"' in out
    assert '"mcpServers"' in out
    assert "http://127.0.0.1:8787/mcp/log-analysis" in out

    rec = redis.hgetall("mcp:apikey:" + key_id)
    assert set(rec) == {"hash", "user", "roles", "created", "expires", "revoked"}
    assert rec["hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert rec["user"] == "alice"
    assert rec["roles"] == "mcp-log-analyst"
    assert before <= int(rec["created"]) <= after
    assert before + 30 * 86400 <= int(rec["expires"]) <= after + 30 * 86400
    assert rec["revoked"] == "0"
    # The gateway's exact read.
    got = redis.cli("--raw", "HMGET", "mcp:apikey:" + key_id,
                    "hash", "user", "roles", "expires", "revoked").split("\n")[:5]
    assert got == [rec["hash"], "alice", "mcp-log-analyst", rec["expires"], "0"]
    assert redis.cli("SISMEMBER", "mcp:apikeys", key_id).strip() == "1"
    # EXPIREAT = expires + 7 days.
    expiretime = int(redis.cli("EXPIRETIME", "mcp:apikey:" + key_id).strip())
    assert expiretime == int(rec["expires"]) + WEEK

    # No plaintext anywhere in Redis.
    everything = redis.dump_everything()
    assert secret not in everything
    assert key not in everything


def test_create_json_output(redis):
    k = create(redis, "bob", "a,b", "--note", "ticket 42")
    assert set(k) >= {"key", "id", "user", "roles", "expires"}
    assert KEY_RE.fullmatch(k["key"])
    assert k["key"].startswith("mcp_" + k["id"] + "_")
    assert k["user"] == "bob"
    assert k["roles"] == ["a", "b"]
    assert k["expires"] == 0
    rec = redis.hgetall("mcp:apikey:" + k["id"])
    assert rec["note"] == "ticket 42"
    assert rec["hash"] == hashlib.sha256(k["key"].encode()).hexdigest()
    assert k["key"].split("_")[2] not in redis.dump_everything()


def test_never_has_no_ttl(redis):
    k = create(redis, "carol", "r", "--expires", "never")
    assert redis.hgetall("mcp:apikey:" + k["id"])["expires"] == "0"
    assert redis.cli("TTL", "mcp:apikey:" + k["id"]).strip() == "-1"


def test_multi_role_trimmed_and_deduplicated(redis):
    k = create(redis, "dave", "mcp-admin, mcp-log-analyst,mcp-admin,ns:role.v2_x")
    rec = redis.hgetall("mcp:apikey:" + k["id"])
    assert rec["roles"] == "mcp-admin,mcp-log-analyst,ns:role.v2_x"
    assert listing(redis)[k["id"]]["roles"] == ["mcp-admin", "mcp-log-analyst", "ns:role.v2_x"]


@pytest.mark.parametrize("user", [
    "erin@example.com",
    'Doe, "Jane" O\'Hara <jane@example.com>',
    "  spaces  inside ",
    "ünïcødé 用户 ✓",
    "$(touch /tmp/pwned) `id` ; rm -rf / \\n \\x41 %s",
])
def test_user_names_round_trip(redis, user):
    k = create(redis, user, "r1,r2")
    assert k["user"] == user
    assert redis.hgetall("mcp:apikey:" + k["id"])["user"] == user
    entry = listing(redis)[k["id"]]
    assert entry["user"] == user
    assert entry["roles"] == ["r1", "r2"]
    assert listing(redis, "--user", user).keys() == {
        i for i, e in listing(redis).items() if e["user"] == user}
    # The human table shows it too.
    assert user in ok(run("list-api-keys.sh", redis=redis))


def test_user_starting_with_dash_after_double_dash(redis):
    k = json.loads(ok(run("create-api-key.sh", "--json", "--", "-n 5", "r", redis=redis)))
    assert redis.hgetall("mcp:apikey:" + k["id"])["user"] == "-n 5"
    one_sentence_error(run("create-api-key.sh", "-n 5", "r", redis=redis), 2)


def test_expiry_forms(redis):
    now = int(time.time())
    k = create(redis, "f", "r", "--expires", "12h")
    assert abs(k["expires"] - (now + 12 * 3600)) <= 5
    k = create(redis, "f", "r", "--expires", "90m")
    assert abs(k["expires"] - (now + 90 * 60)) <= 5
    year = time.gmtime().tm_year + 2
    k = create(redis, "f", "r", "--expires", "%d-01-31" % year)
    assert k["expires"] == int(subprocess.check_output(
        ["date", "-u", "-d", "%d-01-31T00:00:00Z" % year, "+%s"]))
    k = create(redis, "f", "r", "--expires", "%d-01-31T12:00:00Z" % year)
    exp = int(subprocess.check_output(["date", "-u", "-d", "%d-01-31T12:00:00Z" % year, "+%s"]))
    assert k["expires"] == exp
    assert int(redis.cli("EXPIRETIME", "mcp:apikey:" + k["id"]).strip()) == exp + WEEK


@pytest.mark.parametrize("args", [
    ["u", "r", "--expires", "2020-01-01"],
    ["u", "r", "--expires", "2020-01-01T00:00:00Z"],
    ["u", "r", "--expires", "garbage"],
    ["u", "r", "--expires", "tomorrow"],
    ["u", "r", "--expires", "2030-02-30"],
    ["u", "r", "--expires", "0d"],
    ["u", "r", "--expires", "-5d"],
    ["u", "r", "--expires", "99999999999d"],
    ["u", "r", "--expires", "2030-01-01T25:00:00Z"],
    ["u", "r", "--expires", ""],
    ["", "r"],
    ["u\tv", "r"],
    ["u\nv", "r"],
    ["u", ""],
    ["u", "a,,b"],
    ["u", "a b"],
    ["u", "role;drop"],
    ["u", ","],
    ["u", "r", "--note", "bad\x01note"],
])
def test_rejections_write_nothing(redis, args):
    before = redis.dbsize()
    members = redis.cli("SCARD", "mcp:apikeys")
    res = run("create-api-key.sh", *args, redis=redis)
    one_sentence_error(res, 2)
    assert not KEY_RE.search(res.stdout.decode() + res.stderr.decode())
    assert redis.dbsize() == before
    assert redis.cli("SCARD", "mcp:apikeys") == members


def test_invalid_utf8_user_rejected(redis):
    before = redis.dbsize()
    env = dict(os.environ, REDIS_URL=redis.url)
    res = subprocess.run([os.path.join(TOOLS, "create-api-key.sh").encode(), b"bad\xff\xfe", b"r"],
                         env=env, capture_output=True, input=b"")
    one_sentence_error(res, 2)
    assert redis.dbsize() == before


def test_redis_unreachable_is_runtime_error():
    port = _free_port()
    res = run("create-api-key.sh", "u", "r", env_extra={"REDIS_URL": "redis://127.0.0.1:%d" % port})
    one_sentence_error(res, 1)
    assert not KEY_RE.search(res.stdout.decode())
    res = run("list-api-keys.sh", "-h", "127.0.0.1", "-p", str(port))
    one_sentence_error(res, 1)


def test_gateway_url_from_env(redis):
    out = ok(run("create-api-key.sh", "g", "r", redis=redis,
                 env_extra={"MCP_GATEWAY_URL": "https://gw.example.com/mcp/other"}))
    assert '"url": "https://gw.example.com/mcp/other"' in out
    assert '"other": {' in out


# ---------------------------------------------------------------------------------------
# list


def test_list_statuses_and_no_hash(redis):
    active = create(redis, "status-user", "r", "--expires", "1h")
    revoked = create(redis, "status-user", "r")
    expired = create(redis, "status-user", "r", "--expires", "1h")
    # Make one expired (as time would) and one revoked.
    redis.cli("HSET", "mcp:apikey:" + expired["id"], "expires", str(int(time.time()) - 10))
    ok(run("revoke-api-key.sh", revoked["id"], "--yes", redis=redis))
    redis.cli("HSET", "mcp:apikey:" + active["id"], "last_used", "1800000000")

    entries = listing(redis, "--user", "status-user")
    assert {e["id"]: e["status"] for e in entries.values()} == {
        active["id"]: "active", revoked["id"]: "revoked", expired["id"]: "expired"}
    assert entries[active["id"]]["last_used"] == 1800000000
    assert entries[active["id"]]["last_used_at"] == "2027-01-15T08:00:00Z"
    for e in entries.values():
        assert "hash" not in e

    table = ok(run("list-api-keys.sh", "--user", "status-user", redis=redis))
    lines = table.splitlines()
    assert lines[0].split() == ["ID", "USER", "ROLES", "CREATED", "EXPIRES", "STATUS", "LAST_USED"]
    assert len(lines) == 4
    # Aligned: every column starts at the same offset in each line.
    col = lines[0].index("STATUS")
    statuses = {line[col:].split()[0] for line in lines[1:]}
    assert statuses == {"active", "revoked", "expired"}
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", table)
    assert "2027-01-15T08:00:00Z" in table
    for k in (active, revoked, expired):
        assert redis.hgetall("mcp:apikey:" + k["id"])["hash"] not in table


def test_list_skips_vanished_records(redis):
    k = create(redis, "vanish", "r")
    redis.cli("DEL", "mcp:apikey:" + k["id"])
    assert k["id"] not in listing(redis)
    assert redis.cli("SISMEMBER", "mcp:apikeys", k["id"]).strip() == "1"


def test_list_empty(tmp_path_factory):
    r = Redis(tmp_path_factory.mktemp("redis-empty"))
    try:
        assert json.loads(ok(run("list-api-keys.sh", "--json", redis=r))) == []
        assert "No API keys" in ok(run("list-api-keys.sh", redis=r))
    finally:
        r.stop()


# ---------------------------------------------------------------------------------------
# revoke


def test_revoke_sets_revoked_and_keeps_record(redis):
    k = create(redis, "rev", "r")
    before = int(time.time())
    out = ok(run("revoke-api-key.sh", k["id"], "--yes", redis=redis))
    assert "cache" in out.lower() and "TTL" in out
    rec = redis.hgetall("mcp:apikey:" + k["id"])
    assert int(rec["revoked"]) >= before
    assert rec["hash"] == hashlib.sha256(k["key"].encode()).hexdigest()
    # Revoking twice keeps the first time.
    first = rec["revoked"]
    ok(run("revoke-api-key.sh", k["id"], "--yes", redis=redis))
    assert redis.hgetall("mcp:apikey:" + k["id"])["revoked"] == first


def test_revoke_unknown_id(redis):
    before = redis.dbsize()
    res = run("revoke-api-key.sh", "0123456789abcdef", "--yes", redis=redis)
    one_sentence_error(res, 1)
    assert "0123456789abcdef" in res.stderr.decode()
    assert redis.dbsize() == before
    assert redis.cli("EXISTS", "mcp:apikey:0123456789abcdef").strip() == "0"


def test_revoke_without_yes_and_without_tty_refuses(redis):
    k = create(redis, "rev2", "r")
    res = run("revoke-api-key.sh", k["id"], redis=redis)
    assert res.returncode != 0
    assert "--yes" in res.stderr.decode()
    assert redis.hgetall("mcp:apikey:" + k["id"])["revoked"] == "0"


def test_revoke_refuses_whole_key(redis):
    k = create(redis, "rev3", "r")
    res = run("revoke-api-key.sh", k["key"], "--yes", redis=redis)
    one_sentence_error(res, 2)
    assert redis.hgetall("mcp:apikey:" + k["id"])["revoked"] == "0"


# ---------------------------------------------------------------------------------------
# rotate


def rotate(redis, key_id, *extra):
    return json.loads(ok(run("rotate-api-key.sh", key_id, "--yes", "--json", *extra, redis=redis)))


def test_rotate_keeps_user_roles_and_expiry(redis):
    old = create(redis, 'Rot "Ator", rot@example.com', "a,b:c", "--expires", "10d", "--note", "n")
    before = int(time.time())
    new = rotate(redis, old["id"], "--grace", "2h")
    after = int(time.time())
    assert new["id"] != old["id"]
    assert KEY_RE.fullmatch(new["key"])
    newrec = redis.hgetall("mcp:apikey:" + new["id"])
    oldrec = redis.hgetall("mcp:apikey:" + old["id"])
    assert newrec["hash"] == hashlib.sha256(new["key"].encode()).hexdigest()
    assert newrec["user"] == 'Rot "Ator", rot@example.com' == oldrec["user"]
    assert newrec["roles"] == "a,b:c" == oldrec["roles"]
    assert 0 < int(newrec["expires"]) <= old["expires"]
    assert int(newrec["expires"]) == old["expires"]
    assert newrec["revoked"] == "0"
    assert newrec["note"] == "n"
    assert redis.cli("SISMEMBER", "mcp:apikeys", new["id"]).strip() == "1"
    assert int(redis.cli("EXPIRETIME", "mcp:apikey:" + new["id"]).strip()) == \
        int(newrec["expires"]) + WEEK
    # Old key: min(old expiry, now + grace).
    assert before + 7200 <= int(oldrec["expires"]) <= after + 7200
    assert int(redis.cli("EXPIRETIME", "mcp:apikey:" + old["id"]).strip()) == \
        int(oldrec["expires"]) + WEEK
    assert new["key"].split("_")[2] not in redis.dump_everything()


def test_rotate_nearly_expired_key_stays_short(redis):
    # The old project turned a nearly-expired key into a never-expiring one.
    old = create(redis, "short", "r", "--expires", "30m")
    new = rotate(redis, old["id"], "--grace", "1d")
    assert new["expires"] == old["expires"]
    assert redis.hgetall("mcp:apikey:" + new["id"])["expires"] == str(old["expires"])
    # Grace longer than the remaining life does not extend the old key.
    assert redis.hgetall("mcp:apikey:" + old["id"])["expires"] == str(old["expires"])


def test_rotate_never_to_never_with_grace(redis):
    old = create(redis, "nev", "r")
    before = int(time.time())
    new = rotate(redis, old["id"])  # default grace 1h
    after = int(time.time())
    assert redis.hgetall("mcp:apikey:" + new["id"])["expires"] == "0"
    assert redis.cli("TTL", "mcp:apikey:" + new["id"]).strip() == "-1"
    oe = int(redis.hgetall("mcp:apikey:" + old["id"])["expires"])
    assert before + 3600 <= oe <= after + 3600


def test_rotate_grace_zero(redis):
    old = create(redis, "g0", "r", "--expires", "5d")
    rotate(redis, old["id"], "--grace", "0")
    assert int(redis.hgetall("mcp:apikey:" + old["id"])["expires"]) <= int(time.time())
    assert listing(redis)[old["id"]]["status"] == "expired"


def test_rotate_shorter_expiry_allowed_longer_refused(redis):
    old = create(redis, "sh", "r", "--expires", "5d")
    new = rotate(redis, old["id"], "--expires", "1d")
    assert new["expires"] < old["expires"]
    old2 = create(redis, "sh", "r", "--expires", "5d")
    before = redis.dbsize()
    for spec in ("10d", "never"):
        res = run("rotate-api-key.sh", old2["id"], "--yes", "--expires", spec, redis=redis)
        one_sentence_error(res, 2)
    assert redis.dbsize() == before
    assert redis.hgetall("mcp:apikey:" + old2["id"])["expires"] == str(old2["expires"])


def test_rotate_refuses_revoked_expired_unknown_and_without_yes(redis):
    rev = create(redis, "rr", "r")
    ok(run("revoke-api-key.sh", rev["id"], "--yes", redis=redis))
    exp = create(redis, "rr", "r", "--expires", "1h")
    redis.cli("HSET", "mcp:apikey:" + exp["id"], "expires", str(int(time.time()) - 5))
    live = create(redis, "rr", "r")
    before = redis.dbsize()
    one_sentence_error(run("rotate-api-key.sh", rev["id"], "--yes", redis=redis), 1)
    one_sentence_error(run("rotate-api-key.sh", exp["id"], "--yes", redis=redis), 1)
    one_sentence_error(run("rotate-api-key.sh", "fedcba9876543210", "--yes", redis=redis), 1)
    res = run("rotate-api-key.sh", live["id"], redis=redis)
    assert res.returncode != 0 and "--yes" in res.stderr.decode()
    assert redis.dbsize() == before
    assert redis.hgetall("mcp:apikey:" + live["id"])["expires"] == "0"


def test_rotate_human_output(redis):
    old = create(redis, "hu", "r")
    out = ok(run("rotate-api-key.sh", old["id"], "--yes", redis=redis))
    keys = KEY_RE.findall(out)
    assert keys and keys[0][0] != old["id"]
    assert '"type": "http"' in out


# ---------------------------------------------------------------------------------------
# connection options


def test_password_via_redis_url(redis_pw):
    k = create(redis_pw, "pw-user", "r")
    assert redis_pw.hgetall("mcp:apikey:" + k["id"])["user"] == "pw-user"
    assert k["id"] in listing(redis_pw)
    ok(run("revoke-api-key.sh", k["id"], "--yes", redis=redis_pw))


def test_password_via_rediscli_auth_and_flags(redis_pw):
    env = {"REDISCLI_AUTH": PASSWORD}
    res = run("create-api-key.sh", "pw2", "r", "--json", "-h", "127.0.0.1",
              "-p", str(redis_pw.port), env_extra=env)
    k = json.loads(ok(res))
    assert redis_pw.hgetall("mcp:apikey:" + k["id"])["user"] == "pw2"
    res = run("list-api-keys.sh", "--json", "-p", str(redis_pw.port), "-a", PASSWORD)
    assert k["id"] in {e["id"] for e in json.loads(ok(res))}


def test_wrong_password_is_runtime_error(redis_pw):
    before = redis_pw.dbsize()
    res = run("create-api-key.sh", "u", "r", env_extra={
        "REDIS_URL": "redis://:wrong@127.0.0.1:%d" % redis_pw.port})
    one_sentence_error(res, 1)
    assert not KEY_RE.search(res.stdout.decode())
    assert redis_pw.dbsize() == before


def test_acl_user_in_url_and_db_number(redis_pw):
    redis_pw.cli("ACL", "SETUSER", "admin-tool", "on", ">tool pass%@:x", "~mcp:*", "+@all")
    url = "redis://admin-tool:%s@127.0.0.1:%d/5" % ("tool%20pass%25%40%3Ax", redis_pw.port)
    res = run("create-api-key.sh", "acl-user", "r", "--json", env_extra={"REDIS_URL": url})
    k = json.loads(ok(res))
    assert redis_pw.cli("-n", "5", "--raw", "HGET", "mcp:apikey:" + k["id"], "user").strip() \
        == "acl-user"
    assert redis_pw.cli("EXISTS", "mcp:apikey:" + k["id"]).strip() == "0"


def test_password_not_on_redis_cli_command_line(tmp_path, redis_pw):
    """A redis-cli wrapper records its argv and environment: the password must be in
    REDISCLI_AUTH and never in argv."""
    real = shutil.which("redis-cli")
    log = tmp_path / "argv.log"
    wrapper = tmp_path / "redis-cli"
    wrapper.write_text(
        "#!/bin/bash\n"
        "all=\"$*\"; printf 'ARGV:%%s\\n' \"${all//$'\\n'/ }\" >> %s\n"
        "printf 'AUTH:%%s\\n' \"${REDISCLI_AUTH:-}\" >> %s\n"
        "exec %s \"$@\"\n" % (log, log, real))
    wrapper.chmod(0o755)
    env = {"PATH": "%s:%s" % (tmp_path, os.environ["PATH"])}
    k = json.loads(ok(run("create-api-key.sh", "argv", "r", "--json", redis=redis_pw,
                          env_extra=env)))
    ok(run("list-api-keys.sh", redis=redis_pw, env_extra=env))
    ok(run("rotate-api-key.sh", k["id"], "--yes", redis=redis_pw, env_extra=env))
    ok(run("revoke-api-key.sh", k["id"], "--yes", redis=redis_pw, env_extra=env))
    text = log.read_text()
    argv_lines = [line for line in text.splitlines() if line.startswith("ARGV:")]
    assert len(argv_lines) >= 4
    assert len(argv_lines) * 2 == len(text.splitlines())
    for line in argv_lines:
        assert PASSWORD not in line
        # Neither the key's secret nor its hash is on a command line.
        assert k["key"] not in line
        assert hashlib.sha256(k["key"].encode()).hexdigest() not in line
    assert "AUTH:" + PASSWORD in text


def test_tls_options_passed_through(tmp_path):
    """--tls/--cacert reach redis-cli (rediss:// turns on --tls); the wrapper only
    records its argv and fails like an unreachable server."""
    log = tmp_path / "argv.log"
    wrapper = tmp_path / "redis-cli"
    wrapper.write_text("#!/bin/bash\nall=\"$*\"; printf '%%s\\n' \"${all//$'\\n'/ }\" >> %s\n"
                       "echo 'Could not connect to Redis' >&2\nexit 1\n" % log)
    wrapper.chmod(0o755)
    env = {"PATH": "%s:%s" % (tmp_path, os.environ["PATH"])}
    res = run("list-api-keys.sh", "--tls", "--cacert", "/etc/ssl/ca.pem", "-h", "redis.example",
              "-p", "6380", env_extra=env)
    one_sentence_error(res, 1)
    line = log.read_text().splitlines()[-1]
    assert "--tls --cacert /etc/ssl/ca.pem" in line
    assert "-h redis.example -p 6380" in line
    res = run("list-api-keys.sh", env_extra=dict(env, REDIS_URL="rediss://r.example:7000/2"))
    one_sentence_error(res, 1)
    line = log.read_text().splitlines()[-1]
    assert "--tls" in line and "-h r.example -p 7000 -n 2" in line


def test_json_escaper():
    common = os.path.join(TOOLS, "lib", "common.sh")
    value = 'a\tb\x01c\x1f"q"\\back\nslash ü 用 \x7f /'
    out = subprocess.run(["bash", "-c", '. "$1"; mcp_json_str "$2"', "x", common, value],
                         capture_output=True, check=True).stdout.decode()
    assert json.loads(out) == value


def test_control_characters_written_by_others_do_not_break_listing(redis):
    k = create(redis, "ctl", "r")
    redis.cli("HSET", "mcp:apikey:" + k["id"], "note", "line1\nline2\ttab")
    entry = listing(redis)[k["id"]]
    assert entry["user"] == "ctl"
    assert entry["note"] == "line1?line2?tab"
    assert k["id"] in ok(run("list-api-keys.sh", redis=redis))
