#!/usr/bin/env bash
# Smoke test of an MCP endpoint behind the gateway: initialize, notifications/initialized,
# tools/list, one tools/call, and a request without credentials.
set -euo pipefail

MCP_PROG=${0##*/}
# shellcheck source=tools/lib/common.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"

PROTOCOL=2025-06-18

usage() {
    cat <<EOF
Usage: $MCP_PROG [GATEWAY_URL] [--token-env VAR] [--call TOOL [--args JSON]]

Runs an MCP session against GATEWAY_URL with an API key or an access token and
prints one PASS/FAIL (or SKIP) line per check:
  initialize                 HTTP 200 and a result with protocolVersion;
  notifications/initialized  HTTP 202;
  tools/list                 HTTP 200 and a non-empty tools array;
  tools/call                 TOOL with JSON arguments: HTTP 200, a result that is
                             not an error (default: execute_code with
                             {"code":"print(6*7)"}, which must print 42; skipped
                             when the tool is not listed for this credential);
  no credentials             HTTP 401 with WWW-Authenticate: Bearer.

Arguments:
  GATEWAY_URL          the MCP endpoint (default: \$MCP_GATEWAY_URL, else
                       $MCP_DEFAULT_GATEWAY_URL).

Options:
  --token-env VAR      read the credential from the environment variable VAR.
  --call TOOL          the tool to call (default execute_code).
  --args JSON          its arguments, a JSON object (default {"code":"print(6*7)"}
                       for execute_code, else {}).
  --help               show this help.

Environment (credentials are never taken from the command line):
  MCP_API_KEY, MCP_TOKEN     the credential when --token-env is not given
                             (MCP_API_KEY first).
  MCP_GATEWAY_URL            default endpoint.

Exit status: 0 every check passed (or was skipped), 1 a check failed or a runtime
error, 2 usage error.
EOF
}

if mcp_wants_help "$@"; then usage; exit 0; fi

mcp_split_eq "$@"
set -- "${MCP_ARGS[@]}"

token_env=''
tool=''
args=''
pos=()
while (($#)); do
    case $1 in
        --token-env|--call|--args)
            [[ $# -ge 2 ]] || mcp_usage_error "option $1 needs a value." ;;
    esac
    case $1 in
        --token-env) token_env=$2; shift 2 ;;
        --call) tool=$2; shift 2 ;;
        --args) args=$2; shift 2 ;;
        --token|--key|--api-key)
            mcp_usage_error "credentials are not accepted on the command line; use --token-env VAR, MCP_API_KEY or MCP_TOKEN." ;;
        --) shift; pos+=("$@"); break ;;
        -?*) mcp_usage_error "unknown option '$1'." ;;
        *) pos+=("$1"); shift ;;
    esac
done
((${#pos[@]} <= 1)) || mcp_usage_error "expected at most one argument, GATEWAY_URL (got ${#pos[@]})."
url=${pos[0]:-${MCP_GATEWAY_URL:-$MCP_DEFAULT_GATEWAY_URL}}
mcp_check_http_url "$url" "the gateway URL"

if [[ -n $token_env ]]; then
    [[ $token_env =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || mcp_usage_error "--token-env needs an environment variable name."
    cred=${!token_env:-}
    [[ -n $cred ]] || mcp_usage_error "the environment variable $token_env is empty or not set."
    cred_desc="\$$token_env"
elif [[ -n ${MCP_API_KEY:-} ]]; then
    cred=$MCP_API_KEY; cred_desc='$MCP_API_KEY'
elif [[ -n ${MCP_TOKEN:-} ]]; then
    cred=$MCP_TOKEN; cred_desc='$MCP_TOKEN'
else
    mcp_usage_error "no credential: set MCP_API_KEY or MCP_TOKEN, or name a variable with --token-env."
fi
[[ $cred =~ ^[[:graph:]]+$ ]] || mcp_usage_error "the credential in $cred_desc contains blanks or control characters."

default_call=0
if [[ -z $tool ]]; then
    tool=execute_code
    default_call=1
fi
[[ $tool =~ ^[A-Za-z0-9._/-]{1,128}$ ]] || mcp_usage_error "the tool name may contain only letters, digits, '.', '_', '/' and '-'."
if [[ -z $args ]]; then
    if ((default_call)); then args='{"code":"print(6*7)"}'; else args='{}'; fi
fi
[[ $args =~ ^[[:space:]]*\{.*\}[[:space:]]*$ ]] || mcp_usage_error "--args must be a JSON object."
mcp_need_cmd curl

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcp-endpoints.XXXXXX") || mcp_die "cannot create a temporary directory."
trap 'rm -rf -- "$tmp"' EXIT

session=''
version=''

# rpc AUTH BODY: POSTs BODY (AUTH 1 = with the credential); sets CODE, BODY, HEADERS.
rpc() {
    local cfg
    cfg="url = $(mcp_curl_cfg_str "$url")
header = \"Content-Type: application/json\"
header = \"Accept: application/json, text/event-stream\"
data = $(mcp_curl_cfg_str "$2")"
    [[ $1 == 1 ]] && cfg+=$'\n'"header = $(mcp_curl_cfg_str "Authorization: Bearer $cred")"
    [[ -n $session ]] && cfg+=$'\n'"header = $(mcp_curl_cfg_str "Mcp-Session-Id: $session")"
    [[ -n $version ]] && cfg+=$'\n'"header = $(mcp_curl_cfg_str "MCP-Protocol-Version: $version")"
    : >"$tmp/body"; : >"$tmp/headers"
    CODE=$(printf '%s\n' "$cfg" | curl -sS -K - -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' \
        --max-time 60 2>"$tmp/err") || CODE=000
    [[ $CODE =~ ^[0-9]{3}$ ]] || CODE=000
    BODY=$(<"$tmp/body")
    HEADERS=$(tr -d '\r' <"$tmp/headers")
    if [[ $CODE == 000 ]]; then
        mcp_die "cannot reach $url: $(mcp_snippet "$(head -n1 "$tmp/err")")"
    fi
    # A streamed (text/event-stream) answer: keep the data lines only.
    if [[ ${HEADERS,,} == *'content-type: text/event-stream'* ]]; then
        BODY=$(sed -n 's/^data: \{0,1\}//p' <<<"$BODY")
    fi
    return 0
}

# got: "HTTP <code>: <body snippet>" for FAIL lines.
got() {
    printf 'HTTP %s: %s' "$CODE" "$(mcp_snippet "$BODY")"
}

printf 'Testing %s with the credential in %s\n' "$url" "$cred_desc"

# initialize
rpc 1 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"$PROTOCOL\",\"capabilities\":{},\"clientInfo\":{\"name\":\"$MCP_PROG\",\"version\":\"1\"}}}"
if [[ $CODE == 200 && $BODY =~ \"protocolVersion\"[[:space:]]*:[[:space:]]*\"([^\"]+)\" ]]; then
    version=${BASH_REMATCH[1]}
    mcp_pass "initialize (protocolVersion $version)"
    if [[ $HEADERS =~ (^|$'\n')[Mm][Cc][Pp]-[Ss]ession-[Ii][Dd]:[[:space:]]*([[:graph:]]+) ]]; then
        session=${BASH_REMATCH[2]}
    fi
    [[ $version =~ ^[0-9A-Za-z.-]{1,32}$ ]] || version=''
else
    mcp_fail "initialize" "expected HTTP 200 with a protocolVersion, got $(got)"
fi

# notifications/initialized
rpc 1 '{"jsonrpc":"2.0","method":"notifications/initialized"}'
if [[ $CODE == 202 ]]; then
    mcp_pass "notifications/initialized (HTTP 202)"
else
    mcp_fail "notifications/initialized" "expected HTTP 202, got $(got)"
fi

# tools/list
listed=0
rpc 1 '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
if [[ $CODE == 200 && $BODY =~ \"tools\"[[:space:]]*:[[:space:]]*\[[[:space:]]*\{ ]]; then
    n=$(grep -o '"name"[[:space:]]*:[[:space:]]*"[^"]*"' <<<"$BODY" | wc -l) || n='?'
    mcp_pass "tools/list (a non-empty tools array, $((n)) name fields)"
    grep -Eq "\"name\"[[:space:]]*:[[:space:]]*\"${tool//./\\.}\"" <<<"$BODY" && listed=1
else
    mcp_fail "tools/list" "expected HTTP 200 with a non-empty tools array, got $(got)"
fi

# tools/call
if ((!listed)); then
    printf 'SKIP  tools/call %s: the tool is not listed for this credential\n' "$tool"
else
    rpc 1 "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"$tool\",\"arguments\":$args}}"
    if [[ $CODE != 200 || $BODY != *'"result"'* ]]; then
        mcp_fail "tools/call $tool" "expected HTTP 200 with a result, got $(got)"
    elif [[ $BODY =~ \"isError\"[[:space:]]*:[[:space:]]*true ]]; then
        mcp_fail "tools/call $tool" "the tool reported an error: $(mcp_snippet "$BODY")"
    elif ((default_call)) && [[ $BODY != *'"text":"42'* ]]; then
        mcp_fail "tools/call $tool" "expected the output 42, got $(got)"
    else
        mcp_pass "tools/call $tool"
    fi
fi

# no credentials
session_saved=$session
session=''
rpc 0 '{"jsonrpc":"2.0","id":4,"method":"ping"}'
session=$session_saved
if [[ $CODE == 401 && ${HEADERS,,} =~ (^|$'\n')www-authenticate:[[:space:]]*bearer ]]; then
    mcp_pass "request without credentials refused (HTTP 401, WWW-Authenticate: Bearer)"
else
    mcp_fail "request without credentials refused" "expected HTTP 401 with WWW-Authenticate: Bearer, got $(got)"
fi

if ((MCP_FAILS)); then
    printf '%d check(s) failed.\n' "$MCP_FAILS"
    exit 1
fi
printf 'All checks passed.\n'
