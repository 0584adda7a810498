#!/usr/bin/env bash
# Revokes an ngx_mcp API key: sets its `revoked` field to now. The record stays, so
# list-api-keys.sh shows it as revoked. Record format: docs/internals.md.
set -euo pipefail

MCP_PROG=${0##*/}
# shellcheck source=tools/lib/common.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    cat <<EOF
Usage: $MCP_PROG KEY_ID [--yes] [connection options]

Revokes the API key KEY_ID (the 16 hex characters after "mcp_"): its record's
"revoked" field is set to the current time. The record is kept, so the key is
listed as revoked. The gateway may cache a key lookup and so keep accepting the
key for up to its cache TTL after revocation.

Options:
  --yes                do not ask for confirmation (required without a terminal).
  --help               show this help.

$MCP_CONN_HELP

Exit status: 0 revoked (or already revoked), 1 runtime error (unknown id, Redis
unreachable, declined), 2 usage error.
EOF
}

if mcp_wants_help "$@"; then usage; exit 0; fi

mcp_split_eq "$@"
set -- "${MCP_ARGS[@]}"

yes=0
pos=()
while (($#)); do
    mcp_conn_opt "$@"
    if ((MCP_SHIFT)); then shift "$MCP_SHIFT"; continue; fi
    case $1 in
        --yes|-y) yes=1; shift ;;
        --) shift; pos+=("$@"); break ;;
        -?*) mcp_usage_error "unknown option '$1'." ;;
        *) pos+=("$1"); shift ;;
    esac
done
((${#pos[@]} == 1)) || mcp_usage_error "expected exactly one argument, KEY_ID (got ${#pos[@]})."
id=${pos[0]}
mcp_check_key_id "$id"
mcp_conn_finalize
# Refuse early (before touching Redis) when confirmation is impossible.
if ((!yes)) && { [[ ! -t 0 ]] || ! { : </dev/tty; } 2>/dev/null; }; then
    mcp_usage_error "refusing to revoke key $id without confirmation: there is no terminal to ask on, so pass --yes."
fi

# KEYS[1] record. Read-only: user, roles, expires, revoked of an existing key.
read -r -d '' SHOW_LUA <<'LUA' || true
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return {'MCPERR', 'unknown'} end
local v = redis.call('HMGET', KEYS[1], 'hash', 'user', 'roles', 'expires', 'revoked')
if not v[1] then return {'MCPERR', 'unknown'} end
local out = {'MCPOK'}
for i = 2, 5 do out[#out + 1] = (string.gsub(v[i] or '', '%c', '?')) end
return out
LUA

# KEYS[1] record; ARGV[1] now. Sets revoked unless the key is unknown or already
# revoked (then the first revocation time is kept).
read -r -d '' REVOKE_LUA <<'LUA' || true
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return {'MCPERR', 'unknown'} end
local v = redis.call('HMGET', KEYS[1], 'hash', 'revoked')
if not v[1] then return {'MCPERR', 'unknown'} end
local r = tonumber(v[2] or '0') or 0
if r > 0 then return {'MCPOK', 'already', tostring(r)} end
redis.call('HSET', KEYS[1], 'revoked', ARGV[1])
return {'MCPOK', 'revoked', ARGV[1]}
LUA

key="$MCP_KEY_PREFIX$id"
unknown_msg="there is no API key with id $id (check the id with list-api-keys.sh); nothing was changed."

if ((!yes)); then
    rc=0
    mcp_eval "$SHOW_LUA" 1 "$key" || rc=$?
    ((rc == 0)) || mcp_die "$unknown_msg"
    mcp_confirm "Revoke key $id of user '${MCP_REPLY[0]}' (roles ${MCP_REPLY[1]}, expires $(mcp_iso "${MCP_REPLY[2]:-0}"))?" \
        "$yes" "revoke key $id"
fi

mcp_now
rc=0
mcp_eval "$REVOKE_LUA" 1 "$key" "$MCP_NOW" || rc=$?
((rc == 0)) || mcp_die "$unknown_msg"

if [[ ${MCP_REPLY[0]} == already ]]; then
    printf 'Key %s was already revoked at %s; nothing was changed.\n' "$id" "$(mcp_iso "${MCP_REPLY[1]}")"
else
    printf 'Key %s revoked at %s.\n' "$id" "$(mcp_iso "${MCP_REPLY[1]}")"
fi
printf 'Note: the gateway may keep accepting this key for up to its cache TTL (the lifetime of its cached key lookups).\n'
