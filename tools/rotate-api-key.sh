#!/usr/bin/env bash
# Rotates an ngx_mcp API key: creates a new key with the same user and roles and the
# same or a shorter lifetime, and lets the old key run out after a grace period.
# Record format: docs/internals.md.
set -euo pipefail

MCP_PROG=${0##*/}
# shellcheck source=tools/lib/common.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    cat <<EOF
Usage: $MCP_PROG KEY_ID [--grace DURATION] [--expires SPEC] [--note TEXT] [--json] [--yes]
       [connection options]

Creates a new API key with the same user and roles as KEY_ID and prints it once.
The new key expires when the old one does (or earlier with --expires); it never
lives longer, and a key that expires is never replaced by one that does not.
The old key's expiry becomes the earlier of its current expiry and now + grace,
so clients have the grace period to switch. Both changes happen in one atomic
EVAL. Revoked or expired keys cannot be rotated (create a new key instead).

Options:
  --grace DURATION     how long the old key stays valid: 0 (immediately
                       expired), <N>s, <N>m, <N>h, <N>d or <N>w. Default 1h.
  --expires SPEC       expiry of the new key (as in create-api-key.sh); must not
                       be later than the old key's expiry. Default: the old
                       key's expiry (never, if the old key never expires).
  --note TEXT          note of the new key (default: the old key's note).
  --json               print one JSON object {key,id,user,roles,created,expires,
                       expires_at,old_id,old_expires,old_expires_at,note}.
  --yes                do not ask for confirmation (required without a terminal).
  --help               show this help.

$MCP_CONN_HELP
  MCP_GATEWAY_URL            gateway URL for the printed client snippets
                             (default $MCP_DEFAULT_GATEWAY_URL).

Exit status: 0 rotated, 1 runtime error (unknown, revoked or expired key, Redis
unreachable, declined), 2 usage error.
EOF
}

if mcp_wants_help "$@"; then usage; exit 0; fi

mcp_split_eq "$@"
set -- "${MCP_ARGS[@]}"

yes=0
json=0
grace_spec=1h
expires_spec=''
note=''
note_set=0
pos=()
while (($#)); do
    mcp_conn_opt "$@"
    if ((MCP_SHIFT)); then shift "$MCP_SHIFT"; continue; fi
    case $1 in
        --yes|-y) yes=1; shift ;;
        --json) json=1; shift ;;
        --grace)
            [[ $# -ge 2 ]] || mcp_usage_error "option --grace needs a value."
            grace_spec=$2; shift 2 ;;
        --expires)
            [[ $# -ge 2 ]] || mcp_usage_error "option --expires needs a value."
            expires_spec=$2; shift 2 ;;
        --note)
            [[ $# -ge 2 ]] || mcp_usage_error "option --note needs a value."
            note=$2; note_set=1; shift 2 ;;
        --) shift; pos+=("$@"); break ;;
        -?*) mcp_usage_error "unknown option '$1'." ;;
        *) pos+=("$1"); shift ;;
    esac
done
((${#pos[@]} == 1)) || mcp_usage_error "expected exactly one argument, KEY_ID (got ${#pos[@]})."
old_id=${pos[0]}
mcp_check_key_id "$old_id"
mcp_parse_duration "$grace_spec" ||
    mcp_usage_error "the grace period '$grace_spec' is not one of: 0, <N>s, <N>m, <N>h, <N>d, <N>w."
grace=$MCP_SECONDS
((note_set)) && mcp_check_note "$note"
mcp_now
now=$MCP_NOW
new_expires=''
if [[ -n $expires_spec ]]; then
    mcp_parse_expiry "$expires_spec" "$now"
    new_expires=$MCP_EXPIRES
fi
mcp_conn_finalize
if ((!yes)) && { [[ ! -t 0 ]] || ! { : </dev/tty; } 2>/dev/null; }; then
    mcp_usage_error "refusing to rotate key $old_id without confirmation: there is no terminal to ask on, so pass --yes."
fi

# KEYS[1] record. Read-only.
read -r -d '' SHOW_LUA <<'LUA' || true
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return {'MCPERR', 'unknown'} end
local v = redis.call('HMGET', KEYS[1], 'hash', 'user', 'roles', 'expires', 'revoked', 'note')
if not v[1] then return {'MCPERR', 'unknown'} end
local out = {'MCPOK'}
for i = 1, 6 do out[#out + 1] = (string.gsub(v[i] or '', '%c', '?')) end
return out
LUA

# KEYS: old record, new record, index set.
# ARGV: 1 old id, 2 new id, 3 unused, 4 now, 5 now + grace,
#       6 new expires ('' = same as the old key), 7 note ('' = none),
#       8 keep old note (1/0), 9 retention,
#       10 "<new hash> <old hash as read>" (via stdin, so neither is in argv).
# All checks come before the first write. User and roles are copied inside the
# script, so they are exactly the old key's.
read -r -d '' ROTATE_LUA <<'LUA' || true
local t = redis.call('TYPE', KEYS[3])['ok']
if t ~= 'set' and t ~= 'none' then return {'MCPERR', 'badindex', t} end
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return {'MCPERR', 'unknown'} end
local o = redis.call('HMGET', KEYS[1], 'hash', 'user', 'roles', 'expires', 'revoked', 'note')
if not o[1] then return {'MCPERR', 'unknown'} end
local newhash, seen = string.match(ARGV[10], '^(%x+) (%x+)$')
if not newhash then return {'MCPERR', 'badarg'} end
if o[1] ~= seen then return {'MCPERR', 'changed'} end
if not o[2] or o[2] == '' or not o[3] or o[3] == '' then return {'MCPERR', 'badrecord'} end
local now = tonumber(ARGV[4])
local oe = tonumber(o[4] or '')
if not oe or oe < 0 then return {'MCPERR', 'badrecord'} end
local rv = tonumber(o[5] or '0')
if not rv then return {'MCPERR', 'badrecord'} end
if rv > 0 then return {'MCPERR', 'revoked'} end
if oe > 0 and oe <= now then return {'MCPERR', 'expired'} end
local ne = oe
if ARGV[6] ~= '' then ne = tonumber(ARGV[6]) end
if oe > 0 and (ne == 0 or ne > oe) then return {'MCPERR', 'longer', tostring(oe)} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'MCPERR', 'exists'} end
local retention = tonumber(ARGV[9])
local note = ARGV[7]
if ARGV[8] == '1' then note = o[6] or '' end
local f = {'hash', newhash, 'user', o[2], 'roles', o[3], 'created', ARGV[4],
           'expires', tostring(ne), 'revoked', '0'}
if note ~= '' then f[#f + 1] = 'note'; f[#f + 1] = note end
redis.call('HSET', KEYS[2], unpack(f))
if ne > 0 then redis.call('EXPIREAT', KEYS[2], ne + retention) end
redis.call('SADD', KEYS[3], ARGV[2])
local cap = tonumber(ARGV[5])
local ole = oe
if oe == 0 or cap < oe then
  ole = cap
  redis.call('HSET', KEYS[1], 'expires', tostring(cap))
  redis.call('EXPIREAT', KEYS[1], cap + retention)
end
return {'MCPOK', tostring(ne), tostring(ole)}
LUA

old_key="$MCP_KEY_PREFIX$old_id"
rc=0
mcp_eval "$SHOW_LUA" 1 "$old_key" || rc=$?
((rc == 0)) || mcp_die "there is no API key with id $old_id (check the id with list-api-keys.sh); nothing was changed."
old_hash=${MCP_REPLY[0]} old_user=${MCP_REPLY[1]} old_roles=${MCP_REPLY[2]}
old_expires=${MCP_REPLY[3]} old_revoked=${MCP_REPLY[4]:-0}
[[ $old_expires =~ ^[0-9]+$ ]] || mcp_die "the record of key $old_id has a malformed expiry; nothing was changed."
[[ $old_revoked =~ ^[0-9]*$ ]] && ((10#${old_revoked:-0} == 0)) ||
    mcp_die "key $old_id is revoked and cannot be rotated; create a new key instead."
if ((old_expires > 0 && old_expires <= now)); then
    mcp_die "key $old_id expired at $(mcp_iso "$old_expires") and cannot be rotated; create a new key instead."
fi
if [[ -n $new_expires ]] && ((old_expires > 0 && (new_expires == 0 || new_expires > old_expires))); then
    mcp_usage_error "the new key may not expire after the old key ($(mcp_iso "$old_expires"))."
fi
cap=$((now + grace))
shown_new=${new_expires:-$old_expires}
shown_old=$old_expires
((old_expires == 0 || cap < old_expires)) && shown_old=$cap
mcp_confirm "Rotate key $old_id of user '$old_user' (roles $old_roles)? The new key expires $(mcp_iso "$shown_new"); the old key will expire $(mcp_iso "$shown_old")." \
    "$yes" "rotate key $old_id"

keep_note=1
((note_set)) && keep_note=0
done_ok=0
for attempt in 1 2 3; do
    mcp_new_key
    rc=0
    mcp_eval -x "$MCP_KEY_HASH $old_hash" "$ROTATE_LUA" 3 "$old_key" "$MCP_KEY_PREFIX$MCP_KEY_ID" "$MCP_KEY_INDEX" \
        "$old_id" "$MCP_KEY_ID" "-" "$now" "$cap" "$new_expires" "$note" "$keep_note" \
        "$MCP_EXPIRED_RETENTION" || rc=$?
    if ((rc == 0)); then done_ok=1; break; fi
    case ${MCP_REPLY[0]:-} in
        exists) continue ;;
        unknown) mcp_die "there is no API key with id $old_id any more; nothing was changed." ;;
        changed) mcp_die "key $old_id was replaced while rotating; nothing was changed." ;;
        revoked) mcp_die "key $old_id is revoked and cannot be rotated; create a new key instead." ;;
        expired) mcp_die "key $old_id has expired and cannot be rotated; create a new key instead." ;;
        longer) mcp_usage_error "the new key may not expire after the old key ($(mcp_iso "${MCP_REPLY[1]:-0}"))." ;;
        badrecord) mcp_die "the record of key $old_id is malformed; nothing was changed." ;;
        badindex) mcp_die "the index key '$MCP_KEY_INDEX' holds a ${MCP_REPLY[1]:-non-set} value, not a set; nothing was written." ;;
        *) mcp_die "unexpected reply from Redis: ${MCP_REPLY[*]:-}." ;;
    esac
done
((done_ok)) || mcp_die "could not find an unused key id after 3 attempts; nothing was written."
new_expires=${MCP_REPLY[0]}
old_new_expires=${MCP_REPLY[1]}

# The new record's note, for display.
if ((keep_note)); then
    mcp_eval "$SHOW_LUA" 1 "$MCP_KEY_PREFIX$MCP_KEY_ID" && note=${MCP_REPLY[5]:-} || note=''
fi

role_list=()
IFS=, read -r -a role_list <<<"$old_roles"
if ((json)); then
    printf '{"key":%s,"id":%s,"user":%s,"roles":%s,"created":%d,"expires":%d,"expires_at":%s,"old_id":%s,"old_expires":%d,"old_expires_at":%s,"note":%s}\n' \
        "$(mcp_json_str "$MCP_KEY")" "$(mcp_json_str "$MCP_KEY_ID")" "$(mcp_json_str "$old_user")" \
        "$(mcp_json_str_array "${role_list[@]}")" "$now" "$new_expires" "$(mcp_json_time "$new_expires")" \
        "$(mcp_json_str "$old_id")" "$old_new_expires" "$(mcp_json_time "$old_new_expires")" \
        "$( [[ -n $note ]] && mcp_json_str "$note" || printf null)"
    exit 0
fi

cat <<EOF
API key rotated. Copy the new key now: it is shown only this once and cannot be retrieved later.

  New key:  $MCP_KEY
  Id:       $MCP_KEY_ID
  User:     $old_user
  Roles:    $old_roles
  Created:  $(mcp_iso "$now")
  Expires:  $(mcp_iso "$new_expires")

  Old key $old_id now expires $(mcp_iso "$old_new_expires"); switch clients before then.
  (To cut it off at once: revoke-api-key.sh $old_id --yes.)

EOF
mcp_print_client_config "$MCP_KEY"
