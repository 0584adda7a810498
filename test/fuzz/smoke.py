#!/usr/bin/python3
"""The short fuzzing run of `make test`: each harness (built by
`make -C test/fuzz all`) replays its committed corpus (corpus/<harness>/,
the regression inputs included) and then fuzzes for a fixed time.  One
harness is one test: it passes when nothing crashed, leaked, hung or broke
an invariant.  Ends with "N passed, M failed".

    test/fuzz/smoke.py [--seconds 15] HARNESS...
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "build")


def run(harness, seconds):
    scratch = tempfile.mkdtemp(prefix=f"fuzz-{harness}-")
    artifacts = os.path.join(BUILD, f"smoke-{harness}-")
    argv = [os.path.join(BUILD, "fuzz_" + harness),
            f"-max_total_time={seconds}", "-max_len=4096", "-timeout=10",
            "-rss_limit_mb=2048", "-close_fd_mask=2", "-print_final_stats=1",
            f"-artifact_prefix={artifacts}", scratch, os.path.join(HERE, "corpus", harness)]
    try:
        proc = subprocess.run(argv, cwd=BUILD, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace", timeout=seconds + 120)
        out, rc = proc.stdout, proc.returncode
    except OSError as e:
        out, rc = f"cannot run {argv[0]}: {e}", -1
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
            else (e.stdout or ""), -1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    execs = re.search(r"stat::number_of_executed_units: (\d+)", out)
    execs = int(execs.group(1)) if execs else 0
    cov = re.findall(r"cov: (\d+)", out)
    if rc == 0:
        print(f"PASS fuzz_{harness}: {execs} runs in {seconds} s, "
              f"coverage {cov[-1] if cov else '?'} edges", flush=True)
        return True
    # the report: the sanitizer's or the invariant's lines, and the input
    lines = [l for l in out.splitlines()
             if not l.startswith("#") and "INFO:" not in l]
    print(f"FAIL fuzz_{harness} (exit {rc}):", flush=True)
    print("\n".join("    " + l for l in lines[-40:]), flush=True)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("harnesses", nargs="+")
    args = ap.parse_args()
    passed = failed = 0
    for h in args.harnesses:
        if run(h, args.seconds):
            passed += 1
        else:
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
