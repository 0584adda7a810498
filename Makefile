# ngx_mcp: the secure MCP code gateway.
#
#   make run    install what is missing, build, start the demo stack
#   make test   install what is missing, build, run every test
#
# Both work as root without a TTY on Debian 12.  Variables:
#   NGINX_SRC=/path/to/nginx   build the module against that nginx source
#                              tree instead of Debian's nginx-dev copy
#   MCP_GATEWAY_PORT, MCP_REDIS_PORT, MCP_WORKER_PORT, MCP_IDP_PORT
#                              ports of `make run` (all on 127.0.0.1)

SHELL        := /bin/bash
.SHELLFLAGS  := -eu -o pipefail -c

ROOT         := $(CURDIR)
BUILD        := $(ROOT)/build
PYTHON       := /usr/bin/python3
NGINX_SRC    ?= /usr/share/nginx/src
MODULE_SO    := $(BUILD)/nginx/ngx_http_mcp_module.so
WORKER_BIN   := $(ROOT)/sandbox-worker/build/mcp-sandbox-worker

MODULE_SRCS  := $(ROOT)/config $(wildcard $(ROOT)/ngx_mcp_module/*.[ch])

# the IdP (oidc-provider) and the SDK need Node.js >= 20.19; where the
# system's is older (Debian 12 ships 18), one comes from the npm registry
NODE_MIN     := 20.19.0
NODE_LOCAL   := $(BUILD)/node
export PATH  := $(NODE_LOCAL)/node_modules/.bin:$(PATH)

# Debian packages the build, the demo stack and the tests need
DEB_PACKAGES := nginx nginx-dev build-essential pkg-config \
                libjansson-dev libyajl-dev libhiredis-dev libssl-dev libseccomp-dev \
                libmicrohttpd-dev libpython3.11-dev python3.11 \
                libcmocka-dev python3-pytest python3-jwt python3-cryptography \
                redis-server redis-tools \
                openssl curl ca-certificates \
                golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev \
                golang-github-xeipuuv-gojsonschema-dev python3-yaml python3-jsonschema \
                clang llvm valgrind

.PHONY: all deps build module worker run test unit integration e2e bench conformance \
        fuzz clean chaos soak test-asan valgrind-worker

all: build

deps: $(BUILD)/.deps-debian $(BUILD)/.deps-node node_modules/.package-lock.json

# apt-get only when a package is missing, so a warm machine starts fast
$(BUILD)/.deps-debian: Makefile
	@mkdir -p $(BUILD)
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null \
	        | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	    missing="$$missing nodejs npm"; \
	fi; \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && \
	    apt-get install -y -qq --no-install-recommends $$missing; \
	    case " $$missing " in *" nginx "*) \
	        echo "stopping the nginx service the package started (only its binary is used)"; \
	        { systemctl disable --now nginx || service nginx stop; } >/dev/null 2>&1 || true;; \
	    esac; \
	    case " $$missing " in *" redis-server "*) \
	        { systemctl disable --now redis-server || service redis-server stop; } >/dev/null 2>&1 || true;; \
	    esac; \
	fi
	@touch $@

$(BUILD)/.deps-node: $(BUILD)/.deps-debian
	@if ! printf '%s\n%s\n' "$(NODE_MIN)" "$$(node --version | tr -d v)" \
	        | sort -V -C; then \
	    echo "node $$(node --version) is older than $(NODE_MIN): installing node 20 from npm"; \
	    npm install --prefix "$(NODE_LOCAL)" --no-audit --no-fund --loglevel=error \
	        node@20.19.5 </dev/null; \
	fi
	@touch $@

node_modules/.package-lock.json: package-lock.json package.json $(BUILD)/.deps-node
	npm ci --no-audit --no-fund --loglevel=error </dev/null
	@touch $@

build: module worker

module: $(MODULE_SO)

# nginx's configure, with Debian's own flags (conf_flags) so the result is
# binary compatible with the stock nginx that loads it
$(BUILD)/nginx/Makefile: $(ROOT)/config $(BUILD)/.deps-debian
	@mkdir -p $(BUILD)/nginx
	cd "$(NGINX_SRC)" && \
	flags=(--with-compat); \
	if [ -f conf_flags ]; then . ./conf_flags; flags=("$${NGX_CONF_FLAGS[@]}"); fi; \
	./configure \
	    --with-cc-opt="$$(dpkg-buildflags --get CFLAGS) -fPIC $$(dpkg-buildflags --get CPPFLAGS)" \
	    --with-ld-opt="$$(dpkg-buildflags --get LDFLAGS) -fPIC" \
	    "$${flags[@]}" \
	    --add-dynamic-module="$(ROOT)" --builddir="$(BUILD)/nginx" \
	    > "$(BUILD)/nginx/configure.log" 2>&1 \
	|| { tail -n 30 "$(BUILD)/nginx/configure.log"; exit 1; }

$(MODULE_SO): $(BUILD)/nginx/Makefile $(MODULE_SRCS)
	$(MAKE) -s -f "$(BUILD)/nginx/Makefile" -C "$(NGINX_SRC)" modules
	@test -f $@ && echo "built $@"

worker: $(BUILD)/.deps-debian
	$(MAKE) -s -C sandbox-worker

run: deps build
	$(PYTHON) demo/stack.py run

test: deps build
	@$(PYTHON) test/run_all.py

unit: deps
	$(MAKE) -s -C test/unit run

integration: deps build
	$(PYTHON) -m pytest -q test/integration

e2e: deps build
	$(PYTHON) demo/stack.py exec -- node --test test/e2e/

clean:
	rm -rf $(BUILD) test/unit/build
	$(MAKE) -s -C sandbox-worker clean

# benchmarks print numbers; they are not tests (wrk from Debian)
bench: deps build
	@command -v wrk >/dev/null || { export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq --no-install-recommends wrk; }
	$(PYTHON) bench/report.py

# faults and load on loopback (test/chaos): Redis, the sandbox worker and
# the IdP killed during load, slow and hostile clients, audit records
# counted under load, a 60 s soak; `make soak` soaks for SOAK_SECONDS
chaos: deps build
	$(PYTHON) test/chaos/run.py

soak: deps build
	$(PYTHON) test/chaos/run.py -k soak --soak-seconds $${SOAK_SECONDS:-600}

# the official MCP conformance suite (test/conformance, pinned) against the
# demo stack; a report: writes docs/conformance.md, fails only when the
# harness cannot run, not on failing checks
conformance: deps build
	$(PYTHON) test/conformance/run.py

# long fuzzing runs of the module's parsers and the worker's request
# handling (clang's libFuzzer from Debian); `make test` runs each briefly
fuzz: deps
	$(MAKE) -s -C test/fuzz run SECONDS=$${FUZZ_SECONDS:-300}

# the integration suite against ASan+UBSan builds of the module (loaded
# by the stock nginx, libasan preloaded) and of the worker, in build/asan;
# any sanitizer report fails it (test/asan/run.py)
test-asan: deps build
	$(PYTHON) test/asan/run.py

# the worker daemon under valgrind for 10,000 calls: no errors, no leaks
valgrind-worker: deps worker
	$(PYTHON) test/valgrind/worker_calls.py --calls $${CALLS:-10000}
