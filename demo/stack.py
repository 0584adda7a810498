#!/usr/bin/python3
"""The demo stack: redis-server, one sandbox worker per tool set
(log-analysis, data-science), the demo identity provider and the system
nginx loading the built module, all on 127.0.0.1.

    demo/stack.py run                 start, print how to connect, wait for
                                      Ctrl-C or SIGTERM, stop everything
    demo/stack.py exec -- CMD ...     start on free ports, run CMD with the
                                      MCP_* variables set, stop, exit as CMD

The tests import Stack and start it the same way (test/integration).
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# MCP_MODULE_SO, MCP_WORKER_BIN, MCP_NGINX_BIN: other builds (make test-asan)
MODULE_SO = (os.environ.get("MCP_MODULE_SO")
             or os.path.join(ROOT, "build", "nginx", "ngx_http_mcp_module.so"))
WORKER_BIN = (os.environ.get("MCP_WORKER_BIN")
              or os.path.join(ROOT, "sandbox-worker", "build", "mcp-sandbox-worker"))
TOOLSET_DIR = os.path.join(ROOT, "sandbox-worker", "toolsets", "log-analysis")
NGINX_TEMPLATE = os.path.join(ROOT, "demo", "nginx.conf.in")
AUDIT_FORMAT = os.path.join(ROOT, "ngx_mcp_module", "conf", "mcp_audit_log_format.conf")
NGINX_BIN = (os.environ.get("MCP_NGINX_BIN") or shutil.which("nginx", path="/usr/sbin:/usr/bin")
             or "/usr/sbin/nginx")
TENANT_PATH = "/mcp/log-analysis"
# the second tool set: its own worker, secret, workspaces, location and role
DS_TOOLSET_DIR = os.path.join(ROOT, "sandbox-worker", "toolsets", "data-science")
DS_TENANT_PATH = "/mcp/data-science"
START_TIMEOUT = 30.0
LOG_GENERATOR = os.path.join(TOOLSET_DIR, "generate_logs.py")
DEMO_LOG_MB = 2          # generated demo logs (make run, the tests)


class StackError(Exception):
    pass


def stage_sandbox(dest):
    """Copies the worker binary and the tool set under dest (mode 0755).

    The worker drops to an unprivileged user when started as root, and that
    user must be able to reach its binary (the zygote re-executes it) and
    its tool set: a checkout under a private directory (/root, a mktemp
    folder) would hide them.  A container image bakes them in the same way.
    Returns (binary, toolset, data_dir).
    """
    stage = os.path.join(dest, "sandbox")
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    os.chmod(stage, 0o755)
    binary = shutil.copy2(WORKER_BIN, os.path.join(stage, "mcp-sandbox-worker"))
    toolset = shutil.copytree(TOOLSET_DIR, os.path.join(stage, "log-analysis"),
                              ignore=shutil.ignore_patterns("__pycache__"))
    for d, dirs, files in os.walk(stage):
        os.chmod(d, 0o755)
        for f in files:
            path = os.path.join(d, f)
            os.chmod(path, 0o755 if path == binary else 0o644)
    return binary, toolset, os.path.join(toolset, "demo-logs")


def generate_demo_logs(dest, size_mb=DEMO_LOG_MB, seed=42, end="now"):
    """Writes generated demo logs (generate_logs.py, ending at `end`) to
    dest, readable by the unprivileged worker; returns dest."""
    shutil.rmtree(dest, ignore_errors=True)
    res = subprocess.run([sys.executable, LOG_GENERATOR, "--out", dest, "--seed", str(seed),
                          "--size-mb", str(size_mb), "--end", end],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise StackError(f"generate_logs.py failed: {res.stderr.strip()}")
    os.chmod(dest, 0o755)
    for name in os.listdir(dest):
        os.chmod(os.path.join(dest, name), 0o644)
    return dest


def stage_toolset(dest, name, source):
    """Like stage_sandbox, for another tool set: binary and tool set under
    dest/sandbox-<name> (its own directory, so restaging one tool set never
    touches another's).  The tool set's data is its demo-data folder.
    Returns (binary, toolset, data_dir)."""
    stage = os.path.join(dest, "sandbox-" + name)
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    binary = shutil.copy2(WORKER_BIN, os.path.join(stage, "mcp-sandbox-worker"))
    toolset = shutil.copytree(source, os.path.join(stage, name),
                              ignore=shutil.ignore_patterns("__pycache__"))
    for d, dirs, files in os.walk(stage):
        os.chmod(d, 0o755)
        for f in files:
            path = os.path.join(d, f)
            os.chmod(path, 0o755 if path == binary else 0o644)
    return binary, toolset, os.path.join(toolset, "demo-data")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, what, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{what} exited with status {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise StackError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def wait_for_line(proc, prefix, what, timeout=START_TIMEOUT):
    """Reads proc's stdout until a line starts with prefix; returns it."""
    deadline = time.monotonic() + timeout
    seen = []
    os.set_blocking(proc.stdout.fileno(), False)
    buf = b""
    while time.monotonic() < deadline:
        chunk = proc.stdout.read()
        if chunk:
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode(errors="replace")
                seen.append(text)
                if text.startswith(prefix):
                    return text, seen
        elif proc.poll() is not None:
            raise StackError(f"{what} exited with status {proc.returncode} while starting")
        else:
            time.sleep(0.02)
    raise StackError(f"{what} did not print '{prefix}' within {timeout:.0f} s")


IDENTITY_HEADER = "X-MCP-Identity"
IDENTITY_FIELDS = ("time", "user", "roles", "auth", "key_id", "tenant")


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def identity_header(secret, user, roles, auth="apikey", key_id="-", tenant="default",
                    when=None):
    """The signed identity the gateway sends the sandbox worker, as a header
    dict {"X-MCP-Identity": B64URL(message) "." B64URL(HMAC-SHA256)}
    (docs/internals.md, "Signed identity").  secret: bytes, or str taken
    as UTF-8, used as given (not stripped); when: Unix seconds, default now."""
    if isinstance(secret, str):
        secret = secret.encode()
    when = int(time.time()) if when is None else int(when)
    message = "\n".join(["v1", str(when), user, roles, auth, key_id, tenant]).encode()
    mac = hmac.new(secret, message, hashlib.sha256).digest()
    return {IDENTITY_HEADER: _b64url(message) + "." + _b64url(mac)}


def identity_fields(value):
    """Decodes an X-MCP-Identity value without verifying its signature: a
    dict of IDENTITY_FIELDS (str, as signed), or None if value is None or
    malformed (docs/internals.md, "Signed identity")."""
    parts = (value or "").split(".")
    if len(parts) != 2 or not all(re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in parts):
        return None
    try:
        message = base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)).decode()
    except ValueError:      # a length no base64 has, or not UTF-8
        return None
    fields = message.split("\n")
    if len(fields) != 7 or fields[0] != "v1":
        return None
    return dict(zip(IDENTITY_FIELDS, fields[1:]))


class Stack:
    """Starts and stops every process of the demo stack."""

    def __init__(self, ports=None, state_dir=None, keep_state=False, apikey_ttl=30,
                 jwks_retry=5, extra_http="", extra_server="", extra_audiences=(),
                 log_dir=None, log_size_mb=DEMO_LOG_MB):
        ports = ports or {}
        self.ports = {
            "gateway": ports.get("gateway") or free_port(),
            "redis": ports.get("redis") or free_port(),
            "worker": ports.get("worker") or free_port(),
            "ds_worker": ports.get("ds_worker") or free_port(),
            "idp": ports.get("idp") or free_port(),
        }
        self.state = state_dir or tempfile.mkdtemp(prefix="ngx-mcp-")
        os.chmod(self.state, 0o755)   # nginx workers and the sandbox run as nobody
        self.remove_state = state_dir is None and not keep_state
        self.apikey_ttl = apikey_ttl     # seconds a verified key is cached
        self.jwks_retry = jwks_retry     # least seconds between JWKS fetches
        self.extra = {"extra_http": extra_http, "extra_server": extra_server}
        self.extra_audiences = list(extra_audiences)
        self.log_dir = log_dir           # the worker's logs; None: generate some
        self.log_size_mb = log_size_mb
        self.procs = {}
        self.secrets = {}
        self.keys = {}
        self.as_root = os.geteuid() == 0
        self.unprivileged = "nobody"

    # paths -----------------------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.state, *parts)

    @property
    def gateway_url(self):
        return f"http://127.0.0.1:{self.ports['gateway']}{TENANT_PATH}"

    @property
    def ds_url(self):
        """The data-science tool set's endpoint."""
        return f"http://127.0.0.1:{self.ports['gateway']}{DS_TENANT_PATH}"

    @property
    def aggregate_url(self):
        """One endpoint for every tool set a caller may use (mcp_aggregate)."""
        return f"http://127.0.0.1:{self.ports['gateway']}/mcp"

    @property
    def redis_url(self):
        """For administrators (the tools/ scripts): the admin ACL user."""
        password = self.secrets["redis-admin.password"]
        return f"redis://mcp-admin:{password}@127.0.0.1:{self.ports['redis']}/0"

    @property
    def issuer(self):
        return f"http://127.0.0.1:{self.ports['idp']}/realms/mcp-realm"

    def log(self, name):
        return open(self.path("logs", name), "ab")

    # lifecycle -------------------------------------------------------------
    def start(self):
        for binary, hint in ((MODULE_SO, "make module"), (WORKER_BIN, "make worker")):
            if not os.path.exists(binary):
                raise StackError(f"{binary} is missing; run '{hint}' first")
        for d in ("logs", "redis", "tmp", "workspaces", "workspaces-data-science"):
            os.makedirs(self.path(d), exist_ok=True)
        self._write_secret("identity.secret", secrets.token_hex(32))
        self._write_secret("identity-data-science.secret", secrets.token_hex(32))
        self._write_secret("redis-gateway.password", secrets.token_hex(24))
        self._write_secret("redis-admin.password", secrets.token_hex(24))
        try:
            self.start_redis()
            self.start_worker()
            self.start_ds_worker()
            self.start_idp()
            self.start_nginx()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for name in ("nginx", "idp", "worker", "ds_worker", "redis"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            # nginx: QUIT is the graceful stop; the others take TERM
            proc.send_signal(signal.SIGQUIT if name == "nginx" else signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.remove_state:
            shutil.rmtree(self.state, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # components ------------------------------------------------------------
    def _write_secret(self, name, value):
        path = self.path(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")
        self.secrets[name] = value
        return path

    def _chown_unprivileged(self, path):
        if self.as_root:
            pw = pwd.getpwnam(self.unprivileged)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def start_redis(self, port=None):
        port = port or self.ports["redis"]
        conf = self.path("redis", "redis.conf")
        # two ACL users (docs/redis-acl.md): the gateway may only read key
        # records and note their use; administrators manage mcp:* keys
        gateway = self.secrets["redis-gateway.password"]
        admin = self.secrets["redis-admin.password"]
        with open(conf, "w") as f:
            f.write(f"port {port}\nbind 127.0.0.1\nprotected-mode yes\n"
                    f"dir {self.path('redis')}\nsave \"\"\nappendonly no\n"
                    "daemonize no\nlogfile \"\"\n"
                    "user default off\n"
                    f"user mcp-gateway on >{gateway} ~mcp:apikey:* resetchannels "
                    "-@all +hmget +hset +ping +select\n"
                    f"user mcp-admin on >{admin} ~mcp:* resetchannels +@all\n")
        os.chmod(conf, 0o600)
        proc = subprocess.Popen(["redis-server", conf], stdin=subprocess.DEVNULL,
                                stdout=self.log("redis.log"), stderr=subprocess.STDOUT)
        self.procs["redis"] = proc
        wait_for_port(port, proc, "redis-server")

    def redis_cli(self, *args):
        """redis-cli as the administrators' ACL user."""
        env = dict(os.environ, REDISCLI_AUTH=self.secrets["redis-admin.password"])
        res = subprocess.run(["redis-cli", "--user", "mcp-admin", "-p", str(self.ports["redis"]),
                              *args], capture_output=True, text=True, timeout=10, env=env)
        if res.returncode != 0:
            raise StackError(f"redis-cli {args[0]} failed: {res.stderr.strip()}")
        return res.stdout.strip()

    def start_worker(self):
        self._chown_unprivileged(self.path("workspaces"))
        binary, toolset, _static = stage_sandbox(self.state)
        data = self.log_dir or generate_demo_logs(self.path("log-data"), self.log_size_mb)
        args = [binary,
                "--toolset", toolset,
                "--listen", f"127.0.0.1:{self.ports['worker']}",
                "--identity-secret-file", self.path("identity.secret"),
                "--workspace-root", self.path("workspaces"),
                "--data-dir", data]
        if self.as_root:
            args += ["--user", self.unprivileged]
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=self.log("worker.log"))
        self.procs["worker"] = proc
        wait_for_line(proc, "mcp-sandbox-worker ready", "the sandbox worker")
        self._drain(proc, "worker.out")

    def start_ds_worker(self):
        """The data-science tool set's worker: its own identity secret,
        workspace root and data (never the log data)."""
        self._chown_unprivileged(self.path("workspaces-data-science"))
        binary, toolset, data = stage_toolset(self.state, "data-science", DS_TOOLSET_DIR)
        args = [binary,
                "--toolset", toolset,
                "--listen", f"127.0.0.1:{self.ports['ds_worker']}",
                "--identity-secret-file", self.path("identity-data-science.secret"),
                "--workspace-root", self.path("workspaces-data-science"),
                "--data-dir", data]
        if self.as_root:
            args += ["--user", self.unprivileged]
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=self.log("worker-data-science.log"))
        self.procs["ds_worker"] = proc
        wait_for_line(proc, "mcp-sandbox-worker ready", "the data-science sandbox worker")
        self._drain(proc, "worker-data-science.out")

    def start_idp(self):
        env = dict(os.environ)
        for var, name in (("DEMO_ANALYST_PASSWORD", "analyst"), ("DEMO_ADMIN_PASSWORD", "admin"),
                          ("DEMO_VIEWER_PASSWORD", "viewer"), ("DEMO_SCIENTIST_PASSWORD", "scientist"),
                          ("IDP_CLIENT_SECRET", "client")):
            env[var] = self.secrets.setdefault(var, secrets.token_urlsafe(18))
        args = ["node", os.path.join(ROOT, "demo", "idp", "server.mjs"),
                "--port", str(self.ports["idp"]),
                "--audience", self.gateway_url,
                "--audience", self.ds_url,
                "--audience", self.aggregate_url,
                *[arg for aud in self.extra_audiences for arg in ("--audience", aud)],
                "--keys-file", self.path("idp-keys.json"),
                "--test-endpoints"]
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=self.log("idp.log"), env=env, cwd=ROOT)
        self.procs["idp"] = proc
        wait_for_line(proc, "idp ready", "the identity provider")
        self._drain(proc, "idp.out")

    def nginx_conf(self):
        with open(NGINX_TEMPLATE) as f:
            template = f.read()
        values = {
            "module": MODULE_SO,
            "state": self.state,
            "user": f"user {self.unprivileged} nogroup;" if self.as_root else "",
            "gateway_port": self.ports["gateway"],
            "redis_port": self.ports["redis"],
            "redis_password_file": self.path("redis-gateway.password"),
            "worker_port": self.ports["worker"],
            "ds_worker_port": self.ports["ds_worker"],
            "idp_port": self.ports["idp"],
            "audit_format": AUDIT_FORMAT,
            "apikey_ttl": f"{self.apikey_ttl}s",
            "jwks_retry": f"{self.jwks_retry}s",
            **self.extra,
        }
        for key, value in values.items():
            template = template.replace("@" + key + "@", str(value))
        return template

    def start_nginx(self):
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(self.path("tmp", d), exist_ok=True)
            self._chown_unprivileged(self.path("tmp", d))
        conf = self.path("nginx.conf")
        with open(conf, "w") as f:
            f.write(self.nginx_conf())
        base = [NGINX_BIN, "-p", self.state, "-c", conf, "-e", self.path("logs", "error.log")]
        check = subprocess.run(base + ["-t", "-q"], capture_output=True, text=True)
        if check.returncode != 0:
            raise StackError("nginx -t failed:\n" + check.stderr)
        proc = subprocess.Popen(base, stdin=subprocess.DEVNULL,
                                stdout=self.log("nginx.out"), stderr=subprocess.STDOUT)
        self.procs["nginx"] = proc
        wait_for_port(self.ports["gateway"], proc, "nginx")

    def _drain(self, proc, name):
        """Keeps a child's stdout pipe from filling up, into a log file."""
        out = self.log(name)
        os.set_blocking(proc.stdout.fileno(), True)

        def copy():
            with out:
                shutil.copyfileobj(proc.stdout, out)

        threading.Thread(target=copy, daemon=True).start()

    # keys ------------------------------------------------------------------
    def create_key(self, user, roles, *extra):
        env = dict(os.environ, REDIS_URL=self.redis_url, MCP_GATEWAY_URL=self.gateway_url)
        res = subprocess.run([os.path.join(ROOT, "tools", "create-api-key.sh"), user, roles,
                              "--json", *extra], capture_output=True, text=True, env=env,
                             stdin=subprocess.DEVNULL)
        if res.returncode != 0:
            raise StackError(f"create-api-key.sh failed: {res.stderr.strip()}")
        record = json.loads(res.stdout)
        self.keys[user] = record
        return record

    def token(self, user, password, resource=None, grant="password"):
        """An access token from the demo identity provider."""
        import urllib.parse
        import urllib.request
        form = {"grant_type": grant, "resource": resource or self.gateway_url}
        if grant == "password":
            form.update(username=user, password=password)
        basic = base64.b64encode(
            f"mcp-gateway-client:{self.secrets['IDP_CLIENT_SECRET']}".encode()).decode()
        req = urllib.request.Request(self.issuer + "/protocol/openid-connect/token",
                                     data=urllib.parse.urlencode(form).encode(),
                                     headers={"Authorization": "Basic " + basic})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)["access_token"]

    def env(self):
        """The variables a client of this stack needs."""
        return {
            "MCP_URL": self.gateway_url,
            "MCP_GATEWAY_URL": self.gateway_url,
            "REDIS_URL": self.redis_url,
            "IDP_ISSUER": self.issuer,
            "IDP_TOKEN_URL": self.issuer + "/protocol/openid-connect/token",
            "IDP_CLIENT_SECRET": self.secrets["IDP_CLIENT_SECRET"],
            "DEMO_ANALYST_PASSWORD": self.secrets["DEMO_ANALYST_PASSWORD"],
            "DEMO_ADMIN_PASSWORD": self.secrets["DEMO_ADMIN_PASSWORD"],
            "DEMO_SCIENTIST_PASSWORD": self.secrets["DEMO_SCIENTIST_PASSWORD"],
            "MCP_DS_URL": self.ds_url,
            "MCP_AGGREGATE_URL": self.aggregate_url,
            "MCP_STATE_DIR": self.state,
            "REDISCLI_AUTH": self.secrets["redis-admin.password"],
        }


def connection_help(stack, key):
    url = stack.gateway_url
    auth = f"Bearer {key}"
    cursor = {"mcpServers": {"ngx-mcp": {"url": url, "headers": {"Authorization": auth}}}}
    vscode = {"servers": {"ngx-mcp": {"type": "http", "url": url,
                                       "headers": {"Authorization": auth}}}}
    claude = {"mcpServers": {"ngx-mcp": {"command": "npx", "args": [
        "-y", "mcp-remote", url, "--header", f"Authorization:{auth}"]}}}
    curl = (f"curl -s {url} -H 'Authorization: {auth}' "
            "-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' "
            "-d '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
            "{\"name\":\"execute_code\",\"arguments\":{\"code\":\"print(sum(range(10)))\"}}}'")
    return f"""
ngx_mcp demo stack is ready.

  MCP endpoint    {url}
  API key         {key}
                  (user demo-analyst, roles mcp-log-analyst; shown once)
  All tool sets   {stack.aggregate_url}
                  (one endpoint: each tool set's tools your roles allow,
                   named log_analysis__execute_code, data_science__describe, ...)
  Data science    {stack.ds_url}
                  (second tool set, role mcp-data-scientist: make a key with
                   tools/create-api-key.sh <user> mcp-data-scientist)
  Identity        {stack.issuer}
                  users demo-analyst / demo-admin / demo-scientist, passwords:
                    demo-analyst    {stack.secrets['DEMO_ANALYST_PASSWORD']}
                    demo-admin      {stack.secrets['DEMO_ADMIN_PASSWORD']}
                    demo-scientist  {stack.secrets['DEMO_SCIENTIST_PASSWORD']}
  Audit log       {stack.path('logs', 'audit.log')}
  State           {stack.state}

Try it:

  {curl}

Cursor (~/.cursor/mcp.json):
{json.dumps(cursor, indent=2)}

VS Code (.vscode/mcp.json):
{json.dumps(vscode, indent=2)}

Claude Desktop (claude_desktop_config.json; bridges through mcp-remote):
{json.dumps(claude, indent=2)}

Press Ctrl-C to stop every process of the stack.
"""


def port_settings():
    ports = {}
    for name, var, default in (("gateway", "MCP_GATEWAY_PORT", 8787), ("redis", "MCP_REDIS_PORT", 6390),
                               ("worker", "MCP_WORKER_PORT", 9101), ("idp", "MCP_IDP_PORT", 8788),
                               ("ds_worker", "MCP_DS_WORKER_PORT", 9102)):
        value = os.environ.get(var, str(default))
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise StackError(f"{var}={value!r} is not a port number")
        ports[name] = int(value)
    return ports


def cmd_run():
    stopping = []

    def on_signal(signum, _frame):
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    stack = Stack(ports=port_settings(), keep_state=True)
    try:
        try:
            stack.start()
        except StackError as e:
            raise StackError(f"{e}; its log is in {stack.path('logs')} "
                             "(ports: MCP_GATEWAY_PORT, MCP_REDIS_PORT, MCP_WORKER_PORT, "
                             "MCP_IDP_PORT, MCP_DS_WORKER_PORT)") from None
        key = stack.create_key("demo-analyst", "mcp-log-analyst", "--note", "make run demo key")
        print(connection_help(stack, key["key"]))
        print(f"(ready in {time.monotonic() - started:.1f} s)", flush=True)
        while not stopping:
            dead = [n for n, p in stack.procs.items() if p.poll() is not None]
            if dead:
                print(f"stopping: {', '.join(dead)} exited; see {stack.path('logs')}", file=sys.stderr)
                return 1
            time.sleep(0.2)
        return 0
    finally:
        stack.stop()
        print(f"stopped every process of the stack; logs stay in {stack.path('logs')}",
              file=sys.stderr)


def cmd_exec(command):
    with Stack() as stack:
        analyst = stack.create_key("demo-analyst", "mcp-log-analyst")
        viewer = stack.create_key("demo-viewer", "mcp-viewer")
        scientist = stack.create_key("demo-scientist", "mcp-data-scientist")
        both = stack.create_key("demo-both", "mcp-log-analyst,mcp-data-scientist")
        env = dict(os.environ, **stack.env(), MCP_ANALYST_KEY=analyst["key"],
                   MCP_VIEWER_KEY=viewer["key"], MCP_SCIENTIST_KEY=scientist["key"],
                   MCP_BOTH_KEY=both["key"],
                   MCP_DS_WORKER_PID=str(stack.procs["ds_worker"].pid))
        return subprocess.call(command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("run", help="start the demo stack until Ctrl-C")
    ex = sub.add_parser("exec", help="run a command against a fresh stack")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    try:
        if args.cmd == "run":
            return cmd_run()
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("exec needs a command after --")
        return cmd_exec(command)
    except StackError as e:
        print(f"stack: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
