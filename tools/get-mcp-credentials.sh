#!/usr/bin/env bash
# Obtains an OAuth access token for the gateway from the identity provider's token
# endpoint (client_credentials or password grant) and prints it.
set -euo pipefail

MCP_PROG=${0##*/}
# shellcheck source=tools/lib/common.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"

DEFAULT_ISSUER=http://127.0.0.1:8788/realms/mcp-realm

usage() {
    cat <<EOF
Usage: $MCP_PROG [--issuer URL] [--client-id ID] [--grant client_credentials|password]
       [--username NAME] [--resource URL] [--json]

Requests an access token from the identity provider's token endpoint
(ISSUER/protocol/openid-connect/token, as Keycloak lays it out) and prints it on
stdout; a one-line usage hint goes to stderr. The client authenticates with HTTP
Basic (client_secret_basic).

Options:
  --issuer URL         the realm's issuer (default: \$MCP_ISSUER, else
                       $DEFAULT_ISSUER).
  --client-id ID       OAuth client id (default mcp-gateway-client).
  --grant GRANT        client_credentials (default) or password.
  --username NAME      the user for the password grant (required with it).
  --resource URL       the gateway endpoint the token is for (RFC 8707 resource
                       indicator; default: \$MCP_GATEWAY_URL when set, else none).
  --json               print the whole token response (JSON) instead of the token.
  --help               show this help.

Environment (secrets are never taken from the command line):
  MCP_CLIENT_SECRET    the client secret (required).
  MCP_PASSWORD         the user's password (required with --grant password).
  MCP_ISSUER, MCP_GATEWAY_URL   defaults as above.

Example:
  export MCP_TOKEN=\$(MCP_CLIENT_SECRET=... $MCP_PROG --resource https://gw/mcp/x)

Exit status: 0 token printed, 1 the IdP refused or could not be reached, 2 usage error.
EOF
}

if mcp_wants_help "$@"; then usage; exit 0; fi

mcp_split_eq "$@"
set -- "${MCP_ARGS[@]}"

issuer=${MCP_ISSUER:-$DEFAULT_ISSUER}
client_id=mcp-gateway-client
grant=client_credentials
username=''
resource=${MCP_GATEWAY_URL:-}
json=0
while (($#)); do
    case $1 in
        --issuer|--client-id|--grant|--username|--resource)
            [[ $# -ge 2 ]] || mcp_usage_error "option $1 needs a value." ;;
    esac
    case $1 in
        --issuer) issuer=$2; shift 2 ;;
        --client-id) client_id=$2; shift 2 ;;
        --grant) grant=$2; shift 2 ;;
        --username) username=$2; shift 2 ;;
        --resource) resource=$2; shift 2 ;;
        --json) json=1; shift ;;
        --client-secret|--password|--secret)
            mcp_usage_error "secrets are not accepted on the command line; set MCP_CLIENT_SECRET (and MCP_PASSWORD) instead." ;;
        -?*) mcp_usage_error "unknown option '$1'." ;;
        *) mcp_usage_error "unexpected argument '$1'." ;;
    esac
done

issuer=${issuer%/}
mcp_check_http_url "$issuer" "the issuer"
[[ -z $resource ]] || mcp_check_http_url "$resource" "the resource"
[[ -n $client_id && $client_id != *:* ]] && mcp_valid_text "$client_id" ||
    mcp_usage_error "the client id must be non-empty text without ':' or control characters."
case $grant in
    client_credentials) ;;
    password)
        [[ -n $username ]] || mcp_usage_error "the password grant needs --username."
        [[ -n ${MCP_PASSWORD:-} ]] || mcp_usage_error "the password grant needs the password in MCP_PASSWORD."
        ;;
    *) mcp_usage_error "--grant must be client_credentials or password." ;;
esac
[[ -z $username || $grant == password ]] || mcp_usage_error "--username is only used with --grant password."
secret=${MCP_CLIENT_SECRET:-}
[[ -n $secret ]] || mcp_usage_error "set the client secret in MCP_CLIENT_SECRET."
mcp_need_cmd curl

token_url="$issuer/protocol/openid-connect/token"
body=$(mktemp "${TMPDIR:-/tmp}/mcp-token.XXXXXX") || mcp_die "cannot create a temporary file."
errf=$(mktemp "${TMPDIR:-/tmp}/mcp-token.XXXXXX") || { rm -f -- "$body"; mcp_die "cannot create a temporary file."; }
trap 'rm -f -- "$body" "$errf"' EXIT

# The curl configuration (with the secrets) goes through stdin, never argv.
cfg="url = $(mcp_curl_cfg_str "$token_url")
user = $(mcp_curl_cfg_str "$client_id:$secret")
header = \"Accept: application/json\"
data-urlencode = $(mcp_curl_cfg_str "grant_type=$grant")"
[[ -n $resource ]] && cfg+=$'\n'"data-urlencode = $(mcp_curl_cfg_str "resource=$resource")"
if [[ $grant == password ]]; then
    cfg+=$'\n'"data-urlencode = $(mcp_curl_cfg_str "username=$username")"
    cfg+=$'\n'"data-urlencode = $(mcp_curl_cfg_str "password=$MCP_PASSWORD")"
fi
code=$(printf '%s\n' "$cfg" | curl -sS -K - -o "$body" -w '%{http_code}' --max-time 30 2>"$errf") || code=000
resp=$(<"$body")

# scrub VALUE: VALUE with the secrets masked and control characters removed.
scrub() {
    local s=$1
    s=${s//"$secret"/***}
    [[ -n ${MCP_PASSWORD:-} ]] && s=${s//"$MCP_PASSWORD"/***}
    mcp_snippet "$s"
}

if [[ ! $code =~ ^[0-9]{3}$ || $code == 000 ]]; then
    mcp_die "cannot reach the token endpoint $token_url: $(scrub "$(head -n1 "$errf")")"
fi
json_field() {  # json_field NAME: a top-level string field of the response, or empty.
    local re="\"$1\"[[:space:]]*:[[:space:]]*\"(([^\"\\\\]|\\\\.)*)\""
    [[ $resp =~ $re ]] && printf '%s' "${BASH_REMATCH[1]}"
    return 0
}
token=$(json_field access_token)
if [[ $code != 200 || -z $token ]]; then
    err=$(json_field error)
    desc=$(json_field error_description)
    if [[ -n $err ]]; then
        mcp_die "the identity provider refused the request (HTTP $code): $(scrub "$err${desc:+: $desc}")."
    fi
    mcp_die "the token endpoint answered HTTP $code without an access token: $(scrub "$resp")."
fi

if ((json)); then
    printf '%s\n' "$resp"
else
    printf '%s\n' "$token"
fi
hint_url=${resource:-${MCP_GATEWAY_URL:-$MCP_DEFAULT_GATEWAY_URL}}
printf 'Use it: export MCP_TOKEN=<the token>; curl %s -H "Authorization: Bearer $MCP_TOKEN" -H "Content-Type: application/json" -H "Accept: application/json, text/event-stream" -d %s\n' \
    "$(mcp_shquote "$hint_url")" "'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}'" >&2
