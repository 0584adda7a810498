#!/usr/bin/python3
"""Runs the official MCP conformance suite (@modelcontextprotocol/conformance)
against the demo stack and reports the result.

    test/conformance/run.py                    both revisions, writes docs/conformance.md
    test/conformance/run.py --spec-version 2026-07-28 --scenario caching --no-docs
    test/conformance/run.py --url URL --key KEY     an already running gateway

The suite is pinned in test/conformance/package-lock.json and installed with
`npm ci` when node_modules is missing or stale.  It needs Node >= 22, which
comes from the pinned `node` package (node_modules/.bin/node); the system node
only runs npm.  The gateway wants an API key: inject-headers.mjs, preloaded
into the suite, adds `Authorization: Bearer <key>` to every request.

The gateway serves the log-analysis tool set, not the suite's fixture server
(test_simple_text, test://static-text, ...), so only the scenarios that can
apply to any server are run; the others are listed as not applicable with the
reason.  Inside a run, a check the suite itself marks "Not testable" (its
fixture tool is missing) or that probes a capability the gateway does not
advertise is counted as n/a, not as a failure.

The output is a report: the exit status is 0 whenever the suite ran, even
when checks failed; it is non-zero only when the harness could not run
(install, stack start, or no scenario producing results).
"""

import argparse
import datetime
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NODE_MODULES = os.path.join(HERE, "node_modules")
NODE_BIN = os.path.join(NODE_MODULES, ".bin", "node")
SUITE_DIR = os.path.join(NODE_MODULES, "@modelcontextprotocol", "conformance")
SUITE_CLI = os.path.join(SUITE_DIR, "dist", "index.js")
PRELOAD = os.path.join(HERE, "inject-headers.mjs")
DEFAULT_OUTPUT = os.path.join(ROOT, "build", "conformance")
DEFAULT_DOCS = os.path.join(ROOT, "docs", "conformance.md")
KEY_ROLES = "mcp-admin,mcp-log-analyst"

LEGACY = "2025-11-25"
MODERN = "2026-07-28"

# The scenarios each run executes: those that work against any MCP server
# (decided by reading each scenario's source in the pinned suite).
APPLICABLE = {
    LEGACY: [
        "server-initialize",
        "server-session-lifecycle",
        "ping",
        "tools-list",
        "dns-rebinding-protection",
        "server-sse-multiple-streams",
    ],
    MODERN: [
        "server-stateless",
        "tools-list",
        "caching",
        "http-header-validation",
        "dns-rebinding-protection",
        "server-sse-multiple-streams",
        "input-required-result-unsupported-methods",
    ],
}

# Scenarios that only probe a server capability: run when the gateway
# advertises it, otherwise not applicable.
CAPABILITY = {
    "logging-set-level": "logging",
    "resources-list": "resources",
    "prompts-list": "prompts",
    "sep-2164-resource-not-found": "resources",
}

# Scenarios that need something the log-analysis tool set does not have.
FIXTURE = {
    "completion-complete": "needs prompt test_prompt_with_arguments and the completions capability",
    "tools-call-simple-text": "needs fixture tool test_simple_text",
    "tools-call-image": "needs fixture tool test_image_content",
    "tools-call-audio": "needs fixture tool test_audio_content",
    "tools-call-embedded-resource": "needs fixture tool test_embedded_resource",
    "tools-call-mixed-content": "needs fixture tool test_multiple_content_types",
    "tools-call-with-logging": "needs fixture tool test_tool_with_logging",
    "tools-call-error": "needs fixture tool test_error_handling",
    "tools-call-with-progress": "needs fixture tool test_tool_with_progress",
    "tools-call-sampling": "needs fixture tool test_sampling",
    "tools-call-elicitation": "needs fixture tool test_elicitation",
    "json-schema-2020-12": "needs fixture tool json_schema_2020_12_tool",
    "elicitation-sep1034-defaults": "needs fixture tool test_elicitation_sep1034_defaults",
    "elicitation-sep1330-enums": "needs fixture tool test_elicitation_sep1330_enums",
    "server-sse-polling": "needs fixture tool test_reconnection",
    "resources-read-text": "needs fixture resource test://static-text",
    "resources-read-binary": "needs fixture resource test://static-binary",
    "resources-templates-read": "needs fixture template test://template/{id}/data",
    "resources-subscribe": "needs fixture resource test://watched-resource",
    "resources-unsubscribe": "needs fixture resource test://watched-resource",
    "prompts-get-simple": "needs fixture prompt test_simple_prompt",
    "prompts-get-with-args": "needs fixture prompt test_prompt_with_arguments",
    "prompts-get-embedded-resource": "needs fixture prompt test_prompt_with_embedded_resource",
    "prompts-get-with-image": "needs fixture prompt test_prompt_with_image",
    "http-custom-header-server-validation":
        "needs a tool with x-mcp-header parameters (log-analysis has none)",
}
for _name in ("basic-elicitation", "basic-sampling", "basic-list-roots", "request-state",
              "multiple-input-requests", "multi-round", "missing-input-response",
              "non-tool-request", "result-type", "tampered-state", "capability-check",
              "ignore-extra-params", "validate-input"):
    FIXTURE["input-required-result-" + _name] = \
        "needs a test_input_required_result_* fixture tool or prompt"

EXTENSION_PREFIXES = {
    "tasks-": "tasks extension (io.modelcontextprotocol/tasks), not implemented by the gateway",
    "sep-2640-skills-": "skills extension (SEP-2640), not implemented by the gateway",
}

# What we know about checks that fail for a reason other than the gateway
# (or that are known gateway bugs).  Applied only to a FAILURE of that check
# whose message matches, so a different failure is never explained away.
TRIAGE = [
    {
        "check": "sep-2243-server-accepts-whitespace-header-value",
        "message": r'JSON-RPC error \{"code":-32602',
        "verdict": "harness",
        "note": "The suite calls tools[0] (execute_code) with empty arguments; the header "
                "with surrounding whitespace was accepted (no -32020) and the worker "
                "rejected the missing `code` argument with -32602. With valid arguments "
                "the same header succeeds.",
    },
    {
        "check": "server-sse-multiple-streams-session",
        "message": r"did not provide session ID",
        "verdict": "n/a",
        "note": "The gateway issues no Mcp-Session-Id (sessions are optional in Streamable "
                "HTTP); the suite then skips its legacy multiple-stream test with a warning.",
    },
    {
        "check": re.compile(r"^sep-2575-http-server-method-not-found-404"),
        "message": r"got HTTP 200 and code -32601",
        "verdict": "gateway bug",
        "note": "A method outside the endpoint's mcp_methods list is refused by the module "
                "(ngx_http_mcp_access.c, method_not_allowed) with HTTP 200 + -32601 in "
                "every revision; 2026-07-28 requires 404 + -32601. Methods that reach "
                "the worker (initialize, ping) already get 404.",
    },
]


class HarnessError(Exception):
    pass


# installation -------------------------------------------------------------
def install(force=False):
    """npm ci into test/conformance/node_modules when it is missing or stale."""
    stamp = os.path.join(NODE_MODULES, ".package-lock.json")
    lock = os.path.join(HERE, "package-lock.json")
    stale = (not os.path.exists(stamp) or not os.path.exists(NODE_BIN)
             or not os.path.exists(SUITE_CLI)
             or os.path.getmtime(stamp) < max(os.path.getmtime(lock),
                                              os.path.getmtime(os.path.join(HERE, "package.json"))))
    if stale or force:
        npm = shutil.which("npm")
        if npm is None:
            raise HarnessError("npm is not on PATH")
        print("conformance: npm ci in test/conformance", file=sys.stderr, flush=True)
        res = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                             cwd=HERE, stdin=subprocess.DEVNULL, timeout=900)
        if res.returncode != 0:
            raise HarnessError(f"npm ci failed with status {res.returncode}")
        os.utime(stamp)
    version = subprocess.run([NODE_BIN, "--version"], capture_output=True, text=True,
                             timeout=30).stdout.strip()
    match = re.match(r"v(\d+)\.", version)
    if not match or int(match.group(1)) < 22:
        raise HarnessError(f"{NODE_BIN} is {version or 'not runnable'}; the suite needs Node >= 22")
    return version


def package_version(name):
    with open(os.path.join(NODE_MODULES, *name.split("/"), "package.json")) as f:
        return json.load(f)["version"]


def suite(*args, timeout=120, env=None):
    return subprocess.run([NODE_BIN, SUITE_CLI, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def list_scenarios():
    """[(name, versions)] from `conformance list --server`."""
    res = suite("list", "--server", env=dict(os.environ, NO_COLOR="1"))
    if res.returncode != 0:
        raise HarnessError("conformance list --server failed:\n" + res.stderr)
    scenarios = []
    for line in res.stdout.splitlines():
        m = re.match(r"\s*-\s+(\S+)(?:\s+\[([^\]]*)\])?", line)
        if m:
            scenarios.append((m.group(1), [v.strip() for v in (m.group(2) or "").split(",") if v]))
    if not scenarios:
        raise HarnessError("conformance list --server printed no scenarios")
    return scenarios


# the gateway -------------------------------------------------------------
def probe_gateway(url, key):
    """The gateway's legacy initialize result (capabilities, serverInfo)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {},
        "clientInfo": {"name": "ngx-mcp-conformance-probe", "version": "1"}}}).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream"})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            text = resp.read().decode()
            session = resp.headers.get("Mcp-Session-Id")
    except (urllib.error.URLError, OSError) as e:
        raise HarnessError(f"the gateway at {url} did not answer initialize: {e}")
    if text.lstrip().startswith("{"):
        message = json.loads(text)
    else:   # an SSE stream: the data line of the first event
        data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
        message = json.loads(data[0]) if data else {}
    if session:   # be tidy: end the probe's session
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="DELETE", headers={
                "Authorization": f"Bearer {key}", "Mcp-Session-Id": session,
                "MCP-Protocol-Version": LEGACY}), timeout=5).close()
        except (urllib.error.URLError, OSError):
            pass
    result = message.get("result")
    if not isinstance(result, dict):
        raise HarnessError(f"initialize on {url} returned no result: {text[:300]}")
    return result


# classification ------------------------------------------------------------
def classify(name, capabilities):
    """(run?, reason) for a scenario outside APPLICABLE."""
    if name in CAPABILITY:
        cap = CAPABILITY[name]
        if cap in capabilities:
            return True, ""
        return False, f"gateway advertises no `{cap}` capability"
    if name in FIXTURE:
        return False, FIXTURE[name]
    for prefix, reason in EXTENSION_PREFIXES.items():
        if name.startswith(prefix):
            return False, reason
    return False, "unclassified: new in this suite version, review it and add it to run.py"


def plan(scenarios, capabilities, revisions, only):
    """{revision: [scenario]} to run, and [(scenario, versions, reason)] not run."""
    known = {name: versions for name, versions in scenarios}
    runs = {}
    for rev in revisions:
        names = [n for n in APPLICABLE[rev] if n in known]
        for name, versions in scenarios:
            if name in names or rev not in versions:
                continue
            ok, _ = classify(name, capabilities)
            if ok:
                names.append(name)
        if only:
            names = [n for n in names if n in only]
        runs[rev] = names
    skipped = []
    applicable = {n for names in APPLICABLE.values() for n in names}
    for name, versions in scenarios:
        if name in applicable:
            continue
        ok, reason = classify(name, capabilities)
        if not ok:
            skipped.append((name, versions, reason))
    missing = sorted(applicable - set(known))
    return runs, skipped, missing


def check_verdict(check, capabilities):
    """'pass' | 'fail' | 'warn' | 'n/a' | 'info' for one checks.json entry,
    and the triage entry when one explains the failure."""
    status = check.get("status")
    if status == "SUCCESS":
        return "pass", None
    if status in ("INFO", "SKIPPED"):
        return ("info" if status == "INFO" else "n/a"), None
    message = check_message(check)
    details = check.get("details") or {}
    if status == "WARNING":
        entry = triage(check, message)
        return ("n/a" if entry and entry["verdict"] == "n/a" else "warn"), entry
    if details.get("untestable") or message.startswith("Not testable"):
        return "n/a", None
    # caching probes every list endpoint, advertised or not
    m = re.match(r"(prompts|resources)/\S+ returned JSON-RPC error -32601", message)
    if m and m.group(1) not in capabilities:
        return "n/a", None
    entry = triage(check, message)
    return ("n/a" if entry and entry["verdict"] == "n/a" else "fail"), entry


def check_message(check):
    """The check's error message, or the note the suite put in its details."""
    details = check.get("details") or {}
    return (check.get("errorMessage") or details.get("message") or details.get("note") or "")


def triage(check, message):
    for entry in TRIAGE:
        matcher = entry["check"]
        cid = check.get("id", "")
        hit = matcher.search(cid) if hasattr(matcher, "search") else matcher == cid
        if hit and re.search(entry["message"], message):
            return entry
    return None


# running -------------------------------------------------------------------
def run_scenario(url, key, revision, name, outdir, timeout):
    """Runs one scenario; returns (checks, error)."""
    target = os.path.join(outdir, revision, name)
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target)
    origin = re.match(r"^[a-z]+://[^/]+", url).group(0)
    env = dict(os.environ, MCP_CONFORMANCE_BEARER=key, MCP_CONFORMANCE_TARGET=origin,
               NO_COLOR="1", FORCE_COLOR="0")
    env.pop("NODE_OPTIONS", None)
    args = [NODE_BIN, "--import", pathlib.Path(PRELOAD).as_uri(), SUITE_CLI, "server", "--url", url,
            "--scenario", name, "--spec-version", revision, "-o", target,
            "--timeout", str(int(timeout * 1000))]
    log_path = os.path.join(target, "suite.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=HERE,
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout + 30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None, f"timed out after {timeout + 30:.0f} s (log: {log_path})"
    found = [os.path.join(d, f) for d, _, files in os.walk(target) for f in files
             if f == "checks.json"]
    if not found:
        with open(log_path) as f:
            tail = f.read()[-600:]
        return None, f"no checks.json (suite exit {proc.returncode}): {tail.strip()}"
    with open(found[0]) as f:
        return json.load(f), None


def summarize(checks, capabilities):
    rows = []
    counts = {"pass": 0, "fail": 0, "warn": 0, "n/a": 0, "info": 0}
    for check in checks:
        verdict, triage = check_verdict(check, capabilities)
        counts[verdict] += 1
        rows.append((check, verdict, triage))
    return counts, rows


def scenario_status(counts, rows, error):
    if error:
        return "ERROR"
    bugs = [r for r in rows if r[1] == "fail" and not (r[2] and r[2]["verdict"] == "harness")]
    if bugs:
        return "FAIL"
    if counts["fail"]:
        return "PASS*"   # only harness artefacts failed
    if counts["pass"] == 0 and counts["warn"] == 0:
        return "N/A"
    return "PASS"


def print_table(results):
    head = f"{'revision':<11} {'scenario':<42} {'status':<6} {'pass':>4} {'fail':>4} {'warn':>4} {'n/a':>4}"
    print(head)
    print("-" * len(head))
    for r in results:
        c = r["counts"]
        print(f"{r['revision']:<11} {r['scenario']:<42} {r['status']:<6} {c['pass']:>4} "
              f"{c['fail']:>4} {c['warn']:>4} {c['n/a']:>4}")
        if r["error"]:
            print(f"{'':<11}   ERROR: {r['error']}")
        for check, verdict, triage in r["rows"]:
            if verdict in ("fail", "warn"):
                tag = f" [{triage['verdict']}]" if triage else ""
                msg = check_message(check).replace("\n", " ")
                print(f"{'':<11}   {verdict.upper()}{tag} {check.get('id')}: {msg[:160]}")


def md_escape(text):
    return (text or "").replace("|", "\\|").replace("\n", " ")


def write_docs(path, meta, results, skipped, missing):
    lines = [
        "# MCP conformance",
        "",
        "The official MCP conformance suite (`@modelcontextprotocol/conformance`) run",
        "against the demo stack (nginx + ngx_mcp, the log-analysis sandbox worker, redis,",
        "the demo IdP), as an MCP client with an API key of roles `" + KEY_ROLES + "`.",
        "",
        "```sh",
        "make conformance                 # installs the pinned suite, builds, runs, rewrites this page",
        "test/conformance/run.py --help   # one revision or scenario, another gateway, no docs",
        "```",
        "",
        "The suite has no option for extra headers; `test/conformance/inject-headers.mjs`",
        "is preloaded into it and adds `Authorization: Bearer <key>` to every request to",
        "the gateway. Raw results (`checks.json` and the suite's log per scenario) are in",
        "`build/conformance/<revision>/<scenario>/`.",
        "",
        "The gateway serves the log-analysis tool set, not the suite's fixture server, so",
        "only scenarios that apply to any server are run. Inside them, checks the suite",
        "reports as \"Not testable\" (missing fixture tool) or that probe a capability the",
        "gateway does not advertise count as n/a. The run is a report: `make conformance`",
        "succeeds even when checks fail.",
        "",
        "## Versions",
        "",
        f"* date: {meta['date']}",
        f"* `@modelcontextprotocol/conformance` {meta['suite']}, Node {meta['node']} "
        f"(npm package `node`), undici {meta['undici']}",
        f"* gateway: {meta['server']} at commit `{meta['commit']}`",
        f"* revisions: {', '.join(meta['revisions'])} (`--spec-version`)",
        "",
        "## Results",
        "",
        "Status: PASS = every applicable check passed; PASS\\* = the only failures are",
        "harness artefacts (see the note); FAIL = at least one gateway failure; N/A = no",
        "check could be exercised.",
        "",
        "| revision | scenario | status | pass | fail | warn | n/a |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        c = r["counts"]
        lines.append(f"| {r['revision']} | `{r['scenario']}` | {r['status']} | {c['pass']} | "
                     f"{c['fail']} | {c['warn']} | {c['n/a']} |")
    failing = [(r, row) for r in results for row in r["rows"] if row[1] in ("fail", "warn")]
    errors = [r for r in results if r["error"]]
    lines += ["", "### Failed checks and warnings", ""]
    if not failing and not errors:
        lines.append("None.")
    else:
        lines += ["| revision | scenario | check | result | message | note |",
                  "|---|---|---|---|---|---|"]
        for r in errors:
            lines.append(f"| {r['revision']} | `{r['scenario']}` | (scenario) | ERROR | "
                         f"{md_escape(r['error'])} | |")
        for r, (check, verdict, triage) in failing:
            note = f"**{triage['verdict']}**: {triage['note']}" if triage else ""
            lines.append(f"| {r['revision']} | `{r['scenario']}` | `{check.get('id')}` | "
                         f"{verdict.upper()} | {md_escape(check_message(check))} | "
                         f"{md_escape(note)} |")
    na_checks = [(r, row) for r in results for row in r["rows"] if row[1] in ("n/a", "info")]
    if na_checks:
        lines += ["", "### Checks counted as n/a (and notes)", ""]
        for r, (check, _, entry) in na_checks:
            msg = entry["note"] if entry else check_message(check)
            lines.append(f"* {r['revision']} `{r['scenario']}` `{check.get('id')}`: {md_escape(msg)}")
    lines += ["", "## Scenarios not run", "",
              "| scenario | revisions | why not applicable |", "|---|---|---|"]
    for name, versions, reason in skipped:
        lines.append(f"| `{name}` | {', '.join(versions)} | {md_escape(reason)} |")
    if missing:
        lines += ["", "Listed in run.py but unknown to this suite version: "
                  + ", ".join(f"`{m}`" for m in missing)]
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def git_commit():
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def run_all(args, url, key, node_version):
    probe = probe_gateway(url, key)
    capabilities = probe.get("capabilities") or {}
    info = probe.get("serverInfo") or {}
    scenarios = list_scenarios()
    runs, skipped, missing = plan(scenarios, capabilities, args.spec_version, set(args.scenario))
    results = []
    for revision, names in runs.items():
        for name in names:
            print(f"conformance: {revision} {name}", file=sys.stderr, flush=True)
            checks, error = run_scenario(url, key, revision, name, args.output, args.timeout)
            counts, rows = summarize(checks or [], capabilities)
            results.append({"revision": revision, "scenario": name, "counts": counts,
                            "rows": rows, "error": error,
                            "status": scenario_status(counts, rows, error)})
    if results and all(r["error"] for r in results):
        raise HarnessError("no scenario produced results; see " + args.output)
    meta = {
        "date": datetime.date.today().isoformat(),
        "suite": package_version("@modelcontextprotocol/conformance"),
        "undici": package_version("undici"),
        "node": node_version.lstrip("v"),
        "server": f"{info.get('name', '?')} {info.get('version', '?')}",
        "commit": git_commit(),
        "revisions": args.spec_version,
    }
    print()
    print_table(results)
    if skipped:
        print(f"\nnot applicable ({len(skipped)} scenarios):")
        for name, _, reason in skipped:
            print(f"  {name:<46} {reason}")
    if missing:
        print("\nin run.py but unknown to the suite: " + ", ".join(missing))
    if not args.no_docs and not args.scenario:
        write_docs(args.docs, meta, results, skipped, missing)
        print(f"\nwrote {os.path.relpath(args.docs, ROOT)}")
    with open(os.path.join(args.output, "summary.json"), "w") as f:
        json.dump({"meta": meta, "results": [
            {k: v for k, v in r.items() if k != "rows"} | {"checks": [
                {"id": c.get("id"), "status": c.get("status"), "verdict": v,
                 "message": check_message(c),
                 "triage": t["verdict"] if t else None} for c, v, t in r["rows"]]}
            for r in results], "not_applicable": skipped}, f, indent=2)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec-version", action="append", choices=[LEGACY, MODERN],
                        help=f"revision to run (repeatable; default {LEGACY} and {MODERN})")
    parser.add_argument("--scenario", action="append", default=[],
                        help="run only this scenario (repeatable; implies --no-docs)")
    parser.add_argument("--timeout", type=float, default=60,
                        help="seconds per scenario (default 60)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT,
                        help="results directory (default build/conformance)")
    parser.add_argument("--docs", default=DEFAULT_DOCS,
                        help="report to write (default docs/conformance.md)")
    parser.add_argument("--no-docs", action="store_true", help="do not write the report")
    parser.add_argument("--url", help="test this gateway instead of starting the demo stack")
    parser.add_argument("--key", default=os.environ.get("MCP_CONFORMANCE_KEY"),
                        help="API key for --url (or $MCP_CONFORMANCE_KEY)")
    parser.add_argument("--reinstall", action="store_true", help="npm ci even if installed")
    args = parser.parse_args()
    args.spec_version = args.spec_version or [LEGACY, MODERN]
    args.output = os.path.abspath(args.output)
    if args.url and not args.key:
        parser.error("--url needs --key (or MCP_CONFORMANCE_KEY)")

    try:
        node_version = install(force=args.reinstall)
        os.makedirs(args.output, exist_ok=True)
        if args.url:
            run_all(args, args.url, args.key, node_version)
        else:
            sys.path.insert(0, os.path.join(ROOT, "demo"))
            from stack import Stack, StackError
            try:
                with Stack() as stack:
                    key = stack.create_key("conformance", KEY_ROLES)["key"]
                    run_all(args, stack.gateway_url, key, node_version)
            except StackError as e:
                raise HarnessError(f"demo stack: {e}")
    except (HarnessError, subprocess.TimeoutExpired, OSError) as e:
        print(f"conformance: cannot run: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
