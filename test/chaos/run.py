#!/usr/bin/python3
"""Fault and load scenarios against a demo stack on loopback (`make chaos`,
`make soak`); prints every figure as it is measured and writes them all to
build/chaos/figures.json (which bench/report.py adds to
docs/performance.md).

    test/chaos/run.py [--soak-seconds N] [--audit-requests N] [--quick]
                      [pytest args, e.g. -k redis]

Scenarios (test/chaos/test_*.py): Redis killed and hung during load, the
sandbox worker killed during load, the IdP unreachable, slow clients,
oversized and truncated bodies, audit records counted against 20,000
requests, and a soak (60 s here, 600 s with `make soak`) that fails on
sustained RSS growth.  Exit status: pytest's.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    args = sys.argv[1:]
    if "-h" in args or "--help" in args:
        print(__doc__)
        return 0
    figures = os.path.join(ROOT, "build", "chaos", "figures.json")
    if os.path.exists(figures) and "-k" not in args:
        os.unlink(figures)     # the figures of this run only (-k: updates them)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s", "-v",
           "-o", "console_output_style=classic", HERE] + args
    print(" ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=ROOT, stdin=subprocess.DEVNULL)
    if os.path.exists(figures):
        print(f"\nfigures: {os.path.relpath(figures, ROOT)}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
