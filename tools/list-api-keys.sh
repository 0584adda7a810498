#!/usr/bin/env bash
# Lists ngx_mcp API keys (never their hashes). Record format: docs/internals.md.
set -euo pipefail

MCP_PROG=${0##*/}
# shellcheck source=tools/lib/common.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    cat <<EOF
Usage: $MCP_PROG [--user USER] [--json] [connection options]

Lists the API keys indexed in the set $MCP_KEY_INDEX, oldest first: id, user,
roles, created, expires, status (active, expired or revoked) and last use.
Key hashes are never printed. Ids whose record has gone (expired records are
removed by Redis a week after expiry) are skipped.

Options:
  --user USER          only keys of this user (exact match). In this script
                       --user filters; give a Redis ACL user with --redis-user
                       or in the URL.
  --redis-user NAME    Redis ACL user name.
  --json               print a JSON array of objects {id,user,roles,created,
                       created_at,expires,expires_at,revoked,revoked_at,
                       last_used,last_used_at,status,note}; times are Unix
                       seconds (0 = never/not) plus ISO-8601 UTC strings or null.
  --help               show this help.

$MCP_CONN_HELP

Exit status: 0 success, 1 runtime error, 2 usage error.
EOF
}

if mcp_wants_help "$@"; then usage; exit 0; fi

mcp_split_eq "$@"
set -- "${MCP_ARGS[@]}"

filter_user=''
filter_set=0
json=0
while (($#)); do
    case $1 in
        --user)
            # --user is also redis-cli's ACL user option; here it names the key owner.
            # The Redis ACL user can be given in REDIS_URL or with --redis-user.
            [[ $# -ge 2 ]] || mcp_usage_error "option --user needs a value."
            filter_user=$2; filter_set=1; shift 2 ;;
        --redis-user)
            [[ $# -ge 2 ]] || mcp_usage_error "option --redis-user needs a value."
            MCP_OPT_USER=$2; shift 2 ;;
        --json) json=1; shift ;;
        *)
            mcp_conn_opt "$@"
            if ((MCP_SHIFT)); then shift "$MCP_SHIFT"; continue; fi
            case $1 in
                -?*) mcp_usage_error "unknown option '$1'." ;;
                *) mcp_usage_error "unexpected argument '$1'." ;;
            esac ;;
    esac
done
if ((filter_set)); then mcp_check_user "$filter_user"; fi
mcp_conn_finalize
mcp_now
now=$MCP_NOW

# KEYS[1] index set; ARGV[1] record prefix. Read-only. Returns 8 lines per key,
# control characters replaced by '?' so that every value fits on one line.
read -r -d '' LIST_LUA <<'LUA' || true
local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'set' and t ~= 'none' then
  return {'MCPERR', 'badindex', t}
end
local ids = redis.call('SMEMBERS', KEYS[1])
local recs = {}
for _, id in ipairs(ids) do
  local k = ARGV[1] .. id
  if redis.call('TYPE', k)['ok'] == 'hash' then
    local v = redis.call('HMGET', k, 'hash', 'user', 'roles', 'created', 'expires',
                         'revoked', 'last_used', 'note')
    if v[1] then
      local r = {id}
      for i = 2, 8 do
        local s = v[i] or ''
        s = (string.gsub(s, '%c', '?'))
        r[#r + 1] = s
      end
      recs[#recs + 1] = r
    end
  end
end
table.sort(recs, function(a, b)
  local ca, cb = tonumber(a[4]) or 0, tonumber(b[4]) or 0
  if ca ~= cb then return ca < cb end
  return a[1] < b[1]
end)
local out = {'MCPOK', tostring(#recs)}
for _, r in ipairs(recs) do
  for i = 1, 8 do out[#out + 1] = r[i] end
end
return out
LUA

rc=0
mcp_eval "$LIST_LUA" 1 "$MCP_KEY_INDEX" "$MCP_KEY_PREFIX" || rc=$?
if ((rc != 0)); then
    case ${MCP_REPLY[0]:-} in
        badindex) mcp_die "the index key '$MCP_KEY_INDEX' holds a ${MCP_REPLY[1]:-non-set} value, not a set." ;;
        *) mcp_die "unexpected reply from Redis: ${MCP_REPLY[*]:-}." ;;
    esac
fi
count=${MCP_REPLY[0]:-0}
[[ $count =~ ^[0-9]+$ ]] || mcp_die "unexpected reply from Redis."
((${#MCP_REPLY[@]} >= 1 + count * 8)) || mcp_die "truncated reply from Redis."

# Collect the (filtered) rows.
ids=() users=() roles=() created=() expires=() revoked=() last_used=() notes=() statuses=()
for ((i = 0; i < count; i++)); do
    b=$((1 + i * 8))
    u=${MCP_REPLY[b + 1]}
    if ((filter_set)) && [[ $u != "$filter_user" ]]; then continue; fi
    ids+=("${MCP_REPLY[b]}")
    users+=("$u")
    roles+=("${MCP_REPLY[b + 2]}")
    created+=("${MCP_REPLY[b + 3]}")
    expires+=("${MCP_REPLY[b + 4]}")
    revoked+=("${MCP_REPLY[b + 5]}")
    last_used+=("${MCP_REPLY[b + 6]}")
    notes+=("${MCP_REPLY[b + 7]}")
    mcp_status "${MCP_REPLY[b + 5]}" "${MCP_REPLY[b + 4]}" "$now"
    statuses+=("$MCP_STATUS")
done
n=${#ids[@]}

if ((json)); then
    buf='['
    for ((i = 0; i < n; i++)); do
        ((i)) && buf+=','
        role_list=()
        [[ -n ${roles[i]} ]] && IFS=, read -r -a role_list <<<"${roles[i]}"
        rj='['
        for ((r = 0; r < ${#role_list[@]}; r++)); do
            ((r)) && rj+=','
            mcp_json_str_v j "${role_list[r]}"
            rj+=$j
        done
        rj+=']'
        buf+=$'\n  {"id":'
        mcp_json_str_v j "${ids[i]}"; buf+=$j
        mcp_json_str_v j "${users[i]}"; buf+=',"user":'$j
        buf+=',"roles":'$rj
        for field in created expires revoked last_used; do
            case $field in
                created) v=${created[i]} ;;
                expires) v=${expires[i]} ;;
                revoked) v=${revoked[i]:-0} ;;
                last_used) v=${last_used[i]:-0} ;;
            esac
            mcp_json_int_v j "$v"; buf+=",\"$field\":$j"
            mcp_json_time_v j "$v"; buf+=",\"${field}_at\":$j"
        done
        buf+=',"status":"'${statuses[i]}'"'
        if [[ -n ${notes[i]} ]]; then mcp_json_str_v j "${notes[i]}"; else j=null; fi
        buf+=',"note":'$j'}'
    done
    ((n)) && buf+=$'\n'
    printf '%s]\n' "$buf"
    exit 0
fi

if ((n == 0)); then
    if ((filter_set)); then
        printf 'No API keys for user %s.\n' "$filter_user"
    else
        printf 'No API keys.\n'
    fi
    exit 0
fi

headers=(ID USER ROLES CREATED EXPIRES STATUS LAST_USED)
ncol=${#headers[@]}
declare -a cells widths
for ((c = 0; c < ncol; c++)); do widths[c]=${#headers[c]}; done
for ((i = 0; i < n; i++)); do
    lu=${last_used[i]}
    if [[ -z $lu || $lu =~ ^0+$ ]]; then lu_text=never; else mcp_iso_v lu_text "$lu"; fi
    mcp_iso_v c_text "${created[i]}"
    mcp_iso_v e_text "${expires[i]:-0}"
    row=("${ids[i]}" "${users[i]}" "${roles[i]}" "$c_text" "$e_text" "${statuses[i]}" "$lu_text")
    for ((c = 0; c < ncol; c++)); do
        cells[i * ncol + c]=${row[c]}
        mcp_width "${row[c]}"
        ((MCP_W > widths[c])) && widths[c]=$MCP_W
    done
done

print_row() {
    local line='' c v pad
    for ((c = 0; c < ncol; c++)); do
        v=$1; shift
        if ((c < ncol - 1)); then
            mcp_width "$v"
            printf -v pad '%*s' "$((widths[c] - MCP_W + 2))" ''
            line+=$v$pad
        else
            line+=$v
        fi
    done
    printf '%s\n' "$line"
}

print_row "${headers[@]}"
for ((i = 0; i < n; i++)); do
    print_row "${cells[@]:i*ncol:ncol}"
done
