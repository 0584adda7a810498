#!/usr/bin/python3
"""make test-asan: the whole integration suite (test/integration) against
ASan+UBSan builds of the module and of the sandbox worker.

  - the module: nginx's configure with Debian's flags plus
    -fsanitize=address,undefined, into build/asan/nginx; the stock nginx
    loads it with gcc's libasan preloaded (test/asan/nginx);
  - the worker: sandbox-worker's own Makefile with BUILD=build/asan/worker
    and CC=test/asan/worker-cc (the sanitizers, and the RLIMIT_AS shim
    test/asan/worker_shim.c);
  - demo/stack.py and the tests pick them up from MCP_MODULE_SO,
    MCP_WORKER_BIN and MCP_NGINX_BIN;
  - every ASan/UBSan report goes to build/asan/logs/ (log_path): the run
    fails when pytest fails or when any report was written, and prints
    them; of nginx's leak reports (nginx frees its configuration memory
    by exiting, see test/asan/nginx) only those with a stack through the
    module count.  Ends with "N passed, M failed" (pytest's count; a sanitizer
    report adds a failure).
"""

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3"
ASAN = os.path.join(ROOT, "build", "asan")
NGINX_SRC = os.environ.get("NGINX_SRC", "/usr/share/nginx/src")
SAN = "-fsanitize=address,undefined -fno-omit-frame-pointer"
LOGS = os.path.join(ASAN, "logs")


def sh(cmd, **kw):
    print("+", cmd if isinstance(cmd, str) else " ".join(map(shlex.quote, cmd)), flush=True)
    subprocess.run(cmd, check=True, **kw)


def flags(kind):
    return subprocess.run(["dpkg-buildflags", "--get", kind], capture_output=True,
                          text=True, check=True).stdout.strip()


def build_module():
    builddir = os.path.join(ASAN, "nginx")
    makefile = os.path.join(builddir, "Makefile")
    os.makedirs(builddir, exist_ok=True)
    if not os.path.exists(makefile) or \
            os.path.getmtime(makefile) < os.path.getmtime(os.path.join(ROOT, "config")):
        conf = ["--with-compat"]
        conf_flags = os.path.join(NGINX_SRC, "conf_flags")
        if os.path.exists(conf_flags):
            out = subprocess.run(["bash", "-c", f'. {shlex.quote(conf_flags)}; '
                                  'printf "%s\\0" "${NGX_CONF_FLAGS[@]}"'],
                                 capture_output=True, text=True, check=True).stdout
            conf = [f for f in out.split("\0") if f]
        argv = ["./configure",
                f"--with-cc-opt={flags('CFLAGS')} -fPIC {flags('CPPFLAGS')} {SAN}",
                f"--with-ld-opt={flags('LDFLAGS')} -fPIC {SAN}",
                *conf, f"--add-dynamic-module={ROOT}", f"--builddir={builddir}"]
        with open(os.path.join(builddir, "configure.log"), "w") as log:
            sh(argv, cwd=NGINX_SRC, stdout=log, stderr=subprocess.STDOUT)
    sh(["make", "-s", "-f", makefile, "-C", NGINX_SRC, "modules"])
    return os.path.join(builddir, "ngx_http_mcp_module.so")


def build_worker():
    out = os.path.join(ASAN, "worker")
    sh(["make", "-s", "-C", os.path.join(ROOT, "sandbox-worker"), f"BUILD={out}",
        f"CC={os.path.join(ROOT, 'test', 'asan', 'worker-cc')}",
        os.path.join(out, "mcp-sandbox-worker")])
    return os.path.join(out, "mcp-sandbox-worker")


def module_report(text):
    """An nginx process's report that counts: any ASan error, or a leak
    whose allocation stack goes through the module, unless it was made
    while reading the configuration (ngx_init_cycle: the cycle's memory,
    which nginx frees by exiting, or by destroying the old cycle's pool on
    reload, with the module's pool cleanups)."""
    if "ERROR: AddressSanitizer" in text or "runtime error" in text \
            or "LeakSanitizer has encountered a fatal error" in text:
        return True
    for record in re.split(r"\n(?=(?:Direct|Indirect) leak of)", text):
        if "leak of" in record and "ngx_http_mcp" in record \
                and "ngx_init_cycle" not in record:
            return True
    return False


def build_keep_modules():
    out = os.path.join(ASAN, "keep_modules.so")
    src = os.path.join(ROOT, "test", "asan", "keep_modules.c")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        sh(["gcc", "-shared", "-fPIC", "-O2", "-o", out, src])
    return out


def main():
    module = build_module()
    worker = build_worker()
    keep_modules = build_keep_modules()
    needed = subprocess.run(["readelf", "-d", module], capture_output=True, text=True).stdout
    assert "libasan" in needed, f"{module} is not built with ASan"

    shutil.rmtree(LOGS, ignore_errors=True)
    os.makedirs(LOGS)
    os.chmod(LOGS, 0o1777)      # nginx workers and the sandbox run as nobody

    env = dict(os.environ,
               MCP_MODULE_SO=module, MCP_WORKER_BIN=worker,
               MCP_NGINX_BIN=os.path.join(ROOT, "test", "asan", "nginx"),
               # read by ASan-built binaries only (the module through the
               # preloaded runtime, the worker); halt at the first report
               # (ASAN_OPTIONS=fast_unwind_on_malloc=0 make test-asan: the
               # full allocation stacks, through libraries without frame
               # pointers such as libjansson; slower)
               ASAN_OPTIONS=":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                   f"halt_on_error=1:log_path={LOGS}/asan"])),
               UBSAN_OPTIONS=f"halt_on_error=1:print_stacktrace=1:log_path={LOGS}/ubsan",
               MCP_ASAN_LOGS=LOGS, MCP_ASAN_KEEP_MODULES=keep_modules)
    argv = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", *sys.argv[1:]]
    if not sys.argv[1:]:
        argv.append("test/integration")
    print("+", " ".join(argv), flush=True)
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = ""
    for line in proc.stdout:
        sys.stdout.write(line)
        if line.strip():
            tail = line
    proc.wait()
    passed = sum(int(n) for n in re.findall(r"(\d+) passed", tail))
    failed = sum(int(n) for n in re.findall(r"(\d+) (?:failed|error)", tail))

    reports, nginx_own = [], 0
    for path in sorted(glob.glob(os.path.join(LOGS, "*"))):
        with open(path, errors="replace") as f:
            text = f.read()
        if os.path.basename(path).startswith("nginx.") and not module_report(text):
            nginx_own += 1
            continue
        reports.append(path)
        print(f"\n=== sanitizer report {path}")
        sys.stdout.write(text[-8000:])
    print(f"\nsanitizer reports: {len(reports)} (in {LOGS}); nginx processes whose "
          f"only report is nginx's own memory at exit (not counted): {nginx_own}")
    if reports:
        failed += 1
    if proc.returncode != 0 and failed == 0:
        failed = 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
