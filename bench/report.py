#!/usr/bin/python3
"""Runs every benchmark and writes docs/performance.md (`make bench`).

  bench/gateway.py        gateway overhead against bare proxying (wrk)
  bench/sandbox.py        execute_code latency against a cold python3
  bench/token_savings.py  code mode over 100 MiB of logs
  bench/aggregate.py      progressive discovery over 10 tool sets
  bench/memory.py         nginx and sandbox worker RSS, idle and under
                          1,000 concurrent connections (wrk -c1000)

Each runs as its own process, one after the other; its output is shown as
it comes and copied into the report as printed, with the exact command,
the machine (CPU model, cores, kernel, Debian version, nginx, Redis, wrk)
and, when build/chaos/figures.json exists, the figures of the last
`make chaos` / `make soak`.

    bench/report.py [--quick] [--out PATH] [--only NAME ...]

--quick runs each bench briefly (to check the report, not for numbers):
gateway --seconds 1 --rounds 1, fewer sandbox calls, 10 MiB of logs,
5 s of wrk for memory.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3"
DEFAULT_OUT = os.path.join(ROOT, "docs", "performance.md")
CHAOS_FIGURES = os.path.join(ROOT, "build", "chaos", "figures.json")
# what follows this line in the report was written by hand (profiles,
# variance across runs): a new report keeps it
KEPT = "<!-- Written by hand below this line; make bench keeps it. -->"

BENCHES = [
    # name, script, arguments, quick arguments, title, what it shows
    ("gateway", "bench/gateway.py", [], ["--seconds", "1", "--rounds", "1"],
     "Gateway overhead",
     "tools/call through bare `proxy_pass` and through the module (cached API key, "
     "cached JWT, JWT verified every request, audited, API key looked up in Redis "
     "every request), and a 500-tool `tools/list` "
     "bare and filtered; all in one nginx against the same trivial upstream, with wrk."),
    ("sandbox", "bench/sandbox.py", [],
     ["--calls", "60", "--warmup", "10", "--rounds", "3", "--concurrent-calls", "120"],
     "execute_code latency",
     "`execute_code` straight to the sandbox worker, through the gateway, and a cold "
     "`python3.11 -I -S -c` per call; calls/s with concurrent clients; worker memory."),
    ("token_savings", "bench/token_savings.py", [], ["--size-mb", "10", "--calls", "2"],
     "Token savings of code mode",
     "\"Top 5 errors in the last hour\" over generated logs, answered by `execute_code` "
     "through the gateway: the bytes returned against the bytes of the logs."),
    ("aggregate", "bench/aggregate.py", [], [],
     "Progressive discovery",
     "10 tool sets of 12 tools behind one aggregate endpoint: the full `tools/list` "
     "against the catalogue, `list_toolsets` and one `load_toolset`."),
    ("memory", "bench/memory.py", ["--markdown"], ["--markdown", "--seconds", "5"],
     "Memory, idle and under 1,000 concurrent connections",
     "VmRSS of the nginx workers, the sandbox worker (daemon, zygote, warm pool) and "
     "Redis at idle and while `wrk -c1000` holds 1,000 connections to the gateway."),
]


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip() \
            or subprocess.run(cmd, capture_output=True, text=True, timeout=10).stderr.strip()
    except (OSError, subprocess.SubprocessError):
        return "not found"


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1048576:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    except OSError:
        debian = "not Debian"
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        ("CPU", cpu),
        ("cores", f"{os.cpu_count()} online" + (f", {affinity} usable by this run"
                                                if affinity and affinity != os.cpu_count()
                                                else "")),
        ("memory", mem),
        ("kernel", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("Debian", debian),
        ("nginx", sh(["nginx", "-v"]).replace("nginx version: ", "")),
        ("Redis", sh(["redis-server", "--version"]).split(" sha=")[0]),
        ("wrk", sh(["wrk", "-v"]).splitlines()[0] if sh(["wrk", "-v"]) else "not found"),
        ("Python", platform.python_version()),
        ("load average at start", load),
    ]


def run(script, args):
    cmd = [PYTHON, script] + args
    print(f"\n=== {' '.join(cmd)}", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True)
    out = []
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        out.append(line)
    proc.wait()
    return cmd, proc.returncode, "".join(out), time.monotonic() - started


def table_part(name, text):
    """The tables a bench prints, without its progress lines."""
    lines = text.rstrip().splitlines()
    if name == "memory":       # --markdown: the Markdown after the progress lines
        for i, line in enumerate(lines):
            if line.startswith("RSS in MiB"):
                return "\n".join(lines[i:]), True
    if name == "token_savings":
        lines = [l for l in lines if not l.startswith(("generating ", "ready in "))]
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines), False


def chaos_section():
    if not os.path.exists(CHAOS_FIGURES):
        return ["No figures yet: `make chaos` (or `make soak`) writes "
                "`build/chaos/figures.json`, and the next `make bench` copies them here.", ""]
    with open(CHAOS_FIGURES) as f:
        data = json.load(f)
    written = data.pop("_written", "?")
    out = [f"From the last `make chaos` / `make soak` on this machine ({written}); "
           "each scenario asserts what clients see (test/chaos).", ""]
    for scenario, values in data.items():
        out.append(f"**{scenario}**")
        out.append("")
        for k, v in values.items():
            text = v if isinstance(v, str) else json.dumps(v)
            out.append(f"- {k.replace('_', ' ')}: {text}")
        out.append("")
    return out


def kept_notes(path):
    """The hand-written part of the existing report, from KEPT on."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return []
    at = text.find(KEPT)
    return [text[at:].rstrip("\n"), ""] if at >= 0 else []


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="short runs, to check the report (not for numbers)")
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--only", nargs="*", metavar="NAME",
                        help="run only these benches: " + ", ".join(b[0] for b in BENCHES))
    args = parser.parse_args()

    info = machine()
    started = datetime.datetime.now(datetime.timezone.utc)
    sections = []
    failed = []
    for name, script, full, quick, title, about in BENCHES:
        if args.only and name not in args.only:
            continue
        cmd, rc, text, took = run(script, quick if args.quick else full)
        body, is_md = table_part(name, text)
        if rc != 0:
            failed.append(name)
        sections.append((title, about, cmd, rc, body, is_md, took))

    md = ["# Performance", "",
          "Written by `make bench` (`bench/report.py`); every figure below comes from the run "
          "described here, on this machine. Ratios compare cases measured in the same run. "
          "Re-run `make bench` to refresh it.", ""]
    if args.quick:
        md += ["> **Quick run** (`bench/report.py --quick`): each bench ran briefly to check "
               "the report. These are not reference figures; run `make bench` on a quiet "
               "machine for those.", ""]
    md += ["## Machine", "", "| | |", "|---|---|"]
    md += [f"| {k} | {v} |" for k, v in info]
    md += [f"| run | {started:%Y-%m-%d %H:%M} UTC |", ""]
    md += ["## Commands", "", "```sh",
           (f"{PYTHON} bench/report.py --quick" if args.quick
            else f"make bench        # = {PYTHON} bench/report.py")]
    for _, _, cmd, _, _, _, took in sections:
        md.append(f"{shlex.join(cmd):60}  # {took:.0f} s")
    md += ["```", ""]
    for title, about, cmd, rc, body, is_md, took in sections:
        md += [f"## {title}", "", about, "", f"`{shlex.join(cmd)}`"
               + (f" — **exited {rc}: the figures are not valid**" if rc else ""), ""]
        md += [body, ""] if is_md else ["```text", body, "```", ""]
    md += ["## Faults and load", ""] + chaos_section()
    md += ["Commands: `make chaos` (every scenario and a 60-second soak, about 2 minutes), "
           "`make soak` (the soak alone for 10 minutes: `test/chaos/run.py -k soak "
           "--soak-seconds 600`). `make test` runs the short scenarios "
           "(`test/chaos --quick`).", ""]
    md += kept_notes(args.out)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(md))
    print(f"\nwrote {os.path.relpath(args.out, ROOT)}"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
