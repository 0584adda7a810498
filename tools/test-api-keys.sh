#!/usr/bin/env bash
# End-to-end self-test of API keys: creates a throw-away key, checks that the gateway
# accepts it, revokes it, checks that the gateway then refuses it, and deletes it.
set -euo pipefail

MCP_PROG=${0##*/}
# shellcheck source=tools/lib/common.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"
TOOLS_DIR=$(dirname -- "${BASH_SOURCE[0]}")

usage() {
    cat <<EOF
Usage: $MCP_PROG [GATEWAY_URL] [--role ROLE] [--cache-ttl SECONDS] [connection options]

Self-test of the API-key life cycle against a running gateway:
  1. creates a throw-away key for user key-selftest-<random> with create-api-key.sh;
  2. sends "ping" with it: expects HTTP 200 and the result {};
  3. revokes it with revoke-api-key.sh --yes;
  4. sends "ping" again until the gateway answers HTTP 401, for at most
     --cache-ttl seconds (the gateway may keep accepting a verified key for its
     mcp_auth_cache ttl);
  5. deletes the key's record and index entry (also when a step fails or the
     script is interrupted).
Prints one PASS or FAIL line per check.

Arguments:
  GATEWAY_URL          the MCP endpoint (default: \$MCP_GATEWAY_URL, else
                       $MCP_DEFAULT_GATEWAY_URL).

Options:
  --role ROLE          role of the throw-away key (default mcp-log-analyst); it must
                       be allowed on the endpoint (mcp_allow_roles).
  --cache-ttl SECONDS  how long to wait for the revocation to take effect
                       (default 35).
  --help               show this help.

$MCP_CONN_HELP

Exit status: 0 every check passed, 1 a check failed or a runtime error, 2 usage error.
EOF
}

if mcp_wants_help "$@"; then usage; exit 0; fi

mcp_split_eq "$@"
set -- "${MCP_ARGS[@]}"

role=mcp-log-analyst
cache_ttl=35
conn_args=()
pos=()
while (($#)); do
    mcp_conn_opt "$@"
    if ((MCP_SHIFT)); then conn_args+=("${@:1:MCP_SHIFT}"); shift "$MCP_SHIFT"; continue; fi
    case $1 in
        --role)
            [[ $# -ge 2 ]] || mcp_usage_error "option --role needs a value."
            role=$2; shift 2 ;;
        --cache-ttl)
            [[ $# -ge 2 ]] || mcp_usage_error "option --cache-ttl needs a value."
            cache_ttl=$2; shift 2 ;;
        --) shift; pos+=("$@"); break ;;
        -?*) mcp_usage_error "unknown option '$1'." ;;
        *) pos+=("$1"); shift ;;
    esac
done
((${#pos[@]} <= 1)) || mcp_usage_error "expected at most one argument, GATEWAY_URL (got ${#pos[@]})."
url=${pos[0]:-${MCP_GATEWAY_URL:-$MCP_DEFAULT_GATEWAY_URL}}
mcp_check_http_url "$url" "the gateway URL"
[[ $cache_ttl =~ ^[0-9]{1,5}$ ]] || mcp_usage_error "--cache-ttl must be a whole number of seconds."
cache_ttl=$((10#$cache_ttl))
mcp_parse_roles "$role"
((${#MCP_ROLE_LIST[@]} == 1)) || mcp_usage_error "--role takes exactly one role."
mcp_conn_finalize
mcp_need_cmd curl redis-cli openssl

suffix=$(openssl rand -hex 6) || mcp_die "openssl could not generate random bytes."
user="key-selftest-$suffix"
key='' id=''
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcp-keytest.XXXXXX") || mcp_die "cannot create a temporary directory."

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $id ]]; then
        if mcp_rcli DEL "$MCP_KEY_PREFIX$id" >/dev/null 2>&1 </dev/null &&
            mcp_rcli SREM "$MCP_KEY_INDEX" "$id" >/dev/null 2>&1 </dev/null; then
            printf 'Cleaned up: deleted the record of key %s.\n' "$id"
        else
            mcp_warn "could not delete the test key's record $MCP_KEY_PREFIX$id; delete it by hand."
            ((rc)) || rc=1
        fi
    fi
    rm -rf -- "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ping KEY: sets CODE (HTTP status, 000 on a connection failure) and BODY.
ping_gateway() {
    CODE=$(curl -sS -K - -o "$tmp/body" -w '%{http_code}' --max-time 20 2>"$tmp/err" <<EOF || true
url = $(mcp_curl_cfg_str "$url")
header = "Content-Type: application/json"
header = "Accept: application/json, text/event-stream"
header = $(mcp_curl_cfg_str "Authorization: Bearer $1")
data = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"
EOF
)
    BODY=$(<"$tmp/body") 2>/dev/null || BODY=''
    [[ $CODE =~ ^[0-9]{3}$ ]] || CODE=000
    if [[ $CODE == 000 ]]; then BODY=$(<"$tmp/err"); fi
    return 0
}

printf 'Testing API keys against %s (Redis %s)\n' "$url" "$MCP_REDIS_DESC"

# 1. create
rc=0
out=$("$TOOLS_DIR/create-api-key.sh" "$user" "$MCP_ROLES" --json \
    --note "temporary key of $MCP_PROG; deleted when the test ends" \
    "${conn_args[@]}" </dev/null 2>"$tmp/create.err") || rc=$?
if ((rc)) || [[ ! $out =~ \"key\":\"(mcp_([0-9a-f]{16})_[0-9a-f]{64})\" ]]; then
    mcp_fail "create key" "$(mcp_snippet "$(<"$tmp/create.err")")"
    exit 1
fi
key=${BASH_REMATCH[1]}
id=${BASH_REMATCH[2]}
mcp_pass "create key $id (user $user, role $MCP_ROLES)"

# 2. accepted
ping_gateway "$key"
if [[ $CODE == 200 && $BODY == *'"result":{}'* ]]; then
    mcp_pass "gateway accepts the new key (ping: HTTP 200, result {})"
else
    mcp_fail "gateway accepts the new key" "expected HTTP 200 with result {}, got HTTP $CODE: $(mcp_snippet "$BODY")"
fi

# 3. revoke
rc=0
"$TOOLS_DIR/revoke-api-key.sh" "$id" --yes "${conn_args[@]}" </dev/null >/dev/null 2>"$tmp/revoke.err" || rc=$?
if ((rc)); then
    mcp_fail "revoke key" "$(mcp_snippet "$(<"$tmp/revoke.err")")"
    exit 1
fi
mcp_pass "revoke key $id"

# 4. refused, within the cache TTL
mcp_now
deadline=$((MCP_NOW + cache_ttl))
while :; do
    ping_gateway "$key"
    [[ $CODE == 401 ]] && break
    mcp_now
    ((MCP_NOW < deadline)) || break
    sleep 1
done
if [[ $CODE == 401 ]]; then
    mcp_now
    mcp_pass "gateway refuses the revoked key (HTTP 401 after $((MCP_NOW - deadline + cache_ttl)) s)"
else
    mcp_fail "gateway refuses the revoked key" "still HTTP $CODE after $cache_ttl s (raise --cache-ttl?): $(mcp_snippet "$BODY")"
fi

if ((MCP_FAILS)); then
    printf '%d check(s) failed.\n' "$MCP_FAILS"
    exit 1
fi
printf 'All checks passed.\n'
