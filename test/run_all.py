#!/usr/bin/python3
"""Runs every test suite of the project, as `make test` does, and ends with
one line that counts them all: "N passed, M failed".

  1. C unit tests (cmocka): the module's pure logic and the sandbox worker's;
     the libFuzzer harnesses (test/fuzz): each replays its corpus, fuzzes 15 s;
     the worker daemon under valgrind for 10,000 calls (test/valgrind)
  2. tool-set tests (pytest, test/toolsets): each tool set's Python alone
     integration tests (pytest) against real nginx, Redis, worker and IdP
  3. end-to-end tests (node --test) with the official MCP TypeScript SDK,
     against a demo stack started for them on free ports
  4. deployment tests (pytest, test/deploy): every Helm chart rendered as
     Helm does, its objects checked, its nginx.conf run through nginx -t
  5. the short fault scenarios (pytest, test/chaos --quick): Redis, the
     sandbox worker and the IdP failing under load, hostile clients, audit
     records counted under load (`make chaos` adds 20,000 requests, a soak)
"""

import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3"


def run(name, argv, counter):
    print(f"\n=== {name}: {' '.join(argv)}", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True)
    output = []
    for line in proc.stdout:
        sys.stdout.write(line)
        output.append(line)
    proc.wait()
    passed, failed = counter("".join(output))
    if proc.returncode != 0 and failed == 0:
        failed = 1      # a suite that crashed counts as a failure
    print(f"=== {name}: {passed} passed, {failed} failed, exit {proc.returncode}, "
          f"{time.monotonic() - started:.1f} s", flush=True)
    return passed, failed


def count_cmocka(text):
    passed = sum(int(n) for n in re.findall(r"^\[  PASSED  \] (\d+) test", text, re.M))
    failed = sum(int(n) for n in re.findall(r"^\[  FAILED  \] (\d+) test", text, re.M))
    return passed, failed


def count_pytest(text):
    tail = text.strip().splitlines()[-1] if text.strip() else ""
    passed = sum(int(n) for n in re.findall(r"(\d+) passed", tail))
    failed = sum(int(n) for n in re.findall(r"(\d+) (?:failed|error)", tail))
    return passed, failed


def count_node(text):
    passed = sum(int(n) for n in re.findall(r"^# pass (\d+)", text, re.M))
    failed = sum(int(n) for n in re.findall(r"^# fail (\d+)", text, re.M))
    return passed, failed


def main():
    suites = [
        ("unit", ["make", "-s", "-C", "test/unit", "run"], count_cmocka),
        # each libFuzzer harness replays its corpus, then fuzzes 15 s: one
        # test per harness (`make fuzz` for long runs)
        ("fuzz", ["make", "-s", "-C", "test/fuzz", "smoke", "SMOKE_SECONDS=15"],
         count_pytest),
        # the worker daemon under valgrind, 10,000 calls (under a minute):
        # no memory errors, nothing lost (one test; `make valgrind-worker`)
        ("valgrind", [PYTHON, "test/valgrind/worker_calls.py", "--calls", "10000"],
         count_pytest),
        ("toolsets", [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                      "test/toolsets"], count_pytest),
        ("integration", [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                         "test/integration"], count_pytest),
        ("e2e", [PYTHON, "demo/stack.py", "exec", "--", "node", "--test", "test/e2e/"],
         count_node),
        ("deploy", [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test/deploy"],
         count_pytest),
        # the short fault scenarios (about a minute); `make chaos` runs them all
        ("chaos", [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test/chaos",
                   "--quick"], count_pytest),
    ]
    total_passed = total_failed = 0
    for name, argv, counter in suites:
        passed, failed = run(name, argv, counter)
        total_passed += passed
        total_failed += failed
    print()
    print(f"{total_passed} passed, {total_failed} failed")
    return 1 if total_failed or total_passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
