#!/usr/bin/env bash
# Creates an ngx_mcp API key: stores only its SHA-256 and metadata in Redis and prints
# the key once. Record format: docs/internals.md ("API keys").
set -euo pipefail

MCP_PROG=${0##*/}
# shellcheck source=tools/lib/common.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    cat <<EOF
Usage: $MCP_PROG USER ROLES [--expires SPEC] [--note TEXT] [--json] [connection options]

Creates an API key for USER with the comma-separated ROLES and prints it once.
Only the SHA-256 of the key is stored; the key cannot be shown again later.

Arguments:
  USER                 user name: any UTF-8 text without control characters
                       (e-mail addresses, spaces, commas and quotes are fine).
  ROLES                comma-separated role names, each [A-Za-z0-9._:-]+;
                       duplicates are dropped.

Options:
  --expires SPEC       never (default), <N>m, <N>h, <N>d, <N>w (from now),
                       YYYY-MM-DD (00:00:00 UTC of that day) or
                       YYYY-MM-DDTHH:MM[:SS]Z (or with a +HH:MM/-HH:MM offset).
                       Must be in the future.
  --note TEXT          free text for administrators (stored in the record).
  --json               print one JSON object {key,id,user,roles,created,expires,
                       expires_at,note} instead of the human-readable text.
  --help               show this help.

$MCP_CONN_HELP
  MCP_GATEWAY_URL            gateway URL for the printed client snippets
                             (default $MCP_DEFAULT_GATEWAY_URL).

Exit status: 0 created, 1 runtime error (Redis unreachable, ...), 2 usage error.
Nothing is written unless the whole record is written (one atomic EVAL).
EOF
}

if mcp_wants_help "$@"; then usage; exit 0; fi

mcp_split_eq "$@"
set -- "${MCP_ARGS[@]}"

expires_spec=never
note=''
json=0
pos=()
while (($#)); do
    mcp_conn_opt "$@"
    if ((MCP_SHIFT)); then shift "$MCP_SHIFT"; continue; fi
    case $1 in
        --expires)
            [[ $# -ge 2 ]] || mcp_usage_error "option --expires needs a value."
            expires_spec=$2; shift 2 ;;
        --note)
            [[ $# -ge 2 ]] || mcp_usage_error "option --note needs a value."
            note=$2; shift 2 ;;
        --json) json=1; shift ;;
        --) shift; pos+=("$@"); break ;;
        -?*) mcp_usage_error "unknown option '$1'." ;;
        *) pos+=("$1"); shift ;;
    esac
done

((${#pos[@]} == 2)) || mcp_usage_error "expected exactly two arguments, USER and ROLES (got ${#pos[@]})."
user=${pos[0]}
mcp_check_user "$user"
mcp_parse_roles "${pos[1]}"
mcp_check_note "$note"
mcp_now
now=$MCP_NOW
mcp_parse_expiry "$expires_spec" "$now"
expires=$MCP_EXPIRES
mcp_conn_finalize

# KEYS[1] record, KEYS[2] index set.
# ARGV: id, user, roles, created, expires, note, retention, hash (last, via stdin).
# Checks everything before the first write, so a refusal writes nothing.
read -r -d '' CREATE_LUA <<'LUA' || true
local t = redis.call('TYPE', KEYS[2])['ok']
if t ~= 'set' and t ~= 'none' then
  return {'MCPERR', 'badindex', t}
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'MCPERR', 'exists'}
end
local expires = tonumber(ARGV[5])
local fields = {'hash', ARGV[8], 'user', ARGV[2], 'roles', ARGV[3],
                'created', ARGV[4], 'expires', ARGV[5], 'revoked', '0'}
if ARGV[6] ~= '' then
  fields[#fields + 1] = 'note'
  fields[#fields + 1] = ARGV[6]
end
redis.call('HSET', KEYS[1], unpack(fields))
if expires > 0 then
  redis.call('EXPIREAT', KEYS[1], expires + tonumber(ARGV[7]))
end
redis.call('SADD', KEYS[2], ARGV[1])
return {'MCPOK'}
LUA

created=0
for attempt in 1 2 3; do
    mcp_new_key
    rc=0
    mcp_eval -x "$MCP_KEY_HASH" "$CREATE_LUA" 2 "$MCP_KEY_PREFIX$MCP_KEY_ID" "$MCP_KEY_INDEX" \
        "$MCP_KEY_ID" "$user" "$MCP_ROLES" "$now" "$expires" "$note" "$MCP_EXPIRED_RETENTION" || rc=$?
    if ((rc == 0)); then created=1; break; fi
    case ${MCP_REPLY[0]:-} in
        exists) continue ;;   # 64-bit id collision: draw a new key, never overwrite
        badindex) mcp_die "the index key '$MCP_KEY_INDEX' holds a ${MCP_REPLY[1]:-non-set} value, not a set; nothing was written." ;;
        *) mcp_die "unexpected reply from Redis: ${MCP_REPLY[*]:-}." ;;
    esac
done
((created)) || mcp_die "could not find an unused key id after 3 attempts; nothing was written."

if ((json)); then
    printf '{"key":%s,"id":%s,"user":%s,"roles":%s,"created":%d,"expires":%d,"expires_at":%s,"note":%s}\n' \
        "$(mcp_json_str "$MCP_KEY")" "$(mcp_json_str "$MCP_KEY_ID")" "$(mcp_json_str "$user")" \
        "$(mcp_json_str_array "${MCP_ROLE_LIST[@]}")" "$now" "$expires" \
        "$(mcp_json_time "$expires")" "$( [[ -n $note ]] && mcp_json_str "$note" || printf null)"
    exit 0
fi

if ((expires == 0)); then
    exp_text=never
else
    exp_text="$(mcp_iso "$expires") (in $(((expires - now + 1800) / 3600)) h)"
    ((expires - now >= 172800)) && exp_text="$(mcp_iso "$expires") (in $(((expires - now + 43200) / 86400)) days)"
fi

cat <<EOF
API key created. Copy it now: it is shown only this once and cannot be retrieved later.

  Key:      $MCP_KEY
  Id:       $MCP_KEY_ID
  User:     $user
  Roles:    $MCP_ROLES
  Created:  $(mcp_iso "$now")
  Expires:  $exp_text
EOF
[[ -n $note ]] && printf '  Note:     %s\n' "$note"
printf '\n'
mcp_print_client_config "$MCP_KEY"
