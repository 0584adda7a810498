# shellcheck shell=bash
# Shared helpers for the ngx_mcp API-key admin scripts (tools/*.sh).
#
# Sourced, never executed. Provides:
#   - Redis connection options (REDIS_URL, -h/-p/-a/--user/-n, TLS pass-through),
#     resolved into redis-cli arguments; the password only ever travels to redis-cli
#     through the REDISCLI_AUTH environment variable, never through argv.
#   - mcp_eval: runs a Lua script atomically (EVAL) and checks a sentinel reply, because
#     redis-cli exits 0 even when the server answers with an error.
#   - validation of user names, roles, notes, expiry and duration specifications.
#   - a JSON string escaper and a shell quoter for the printed snippets.
#
# Record format: docs/internals.md ("API keys").

# Everything we print or parse is in UTC.
export TZ=UTC

MCP_PROG=${MCP_PROG:-${0##*/}}

# Key prefix and index set; the gateway's prefix is configurable, so these are too.
MCP_KEY_PREFIX=${MCP_APIKEY_PREFIX:-mcp:apikey:}
MCP_KEY_INDEX=${MCP_APIKEY_INDEX:-mcp:apikeys}
# Records of expired keys stay listable for this long after expiry (docs/internals.md).
MCP_EXPIRED_RETENTION=604800

MCP_DEFAULT_GATEWAY_URL=http://127.0.0.1:8787/mcp/log-analysis

# ---------------------------------------------------------------------------------------
# Messages and exits

# mcp_usage_error MESSAGE: one-sentence usage error on stderr, exit 2.
mcp_usage_error() {
    printf '%s: error: %s\n' "$MCP_PROG" "$1" >&2
    printf "Run '%s --help' for usage.\n" "$MCP_PROG" >&2
    exit 2
}

# mcp_die MESSAGE: one-sentence runtime error on stderr, exit 1.
mcp_die() {
    printf '%s: error: %s\n' "$MCP_PROG" "$1" >&2
    exit 1
}

mcp_warn() {
    printf '%s: warning: %s\n' "$MCP_PROG" "$1" >&2
}

# mcp_now: sets MCP_NOW to the current Unix time.
mcp_now() {
    printf -v MCP_NOW '%(%s)T' -1
}

# mcp_iso_v VAR SECONDS: sets VAR to the UTC ISO-8601 form; "never" for 0, "-" for
# empty, "?" for garbage. mcp_iso SECONDS prints it.
mcp_iso_v() {
    local t=${2:-}
    if [[ -z $t ]]; then
        printf -v "$1" '%s' -
    elif [[ $t =~ ^0+$ ]]; then
        printf -v "$1" '%s' never
    elif [[ $t =~ ^[0-9]{1,12}$ ]]; then
        printf -v "$1" '%(%Y-%m-%dT%H:%M:%SZ)T' "$((10#$t))"
    else
        printf -v "$1" '%s' '?'
    fi
}
mcp_iso() {
    local _iso
    mcp_iso_v _iso "${1:-}"
    printf '%s' "$_iso"
}

# ---------------------------------------------------------------------------------------
# Redis connection options

MCP_OPT_HOST=''
MCP_OPT_PORT=''
MCP_OPT_PASS=''
MCP_OPT_PASS_SET=0
MCP_OPT_USER=''
MCP_OPT_DB=''
MCP_OPT_URL=''
MCP_TLS_ARGS=()

MCP_CONN_HELP='Redis connection (defaults: REDIS_URL, else 127.0.0.1:6379 db 0):
  -u, --url URL        redis://[user:pass@]host:port[/db] (rediss:// turns on --tls);
                       default: $REDIS_URL.
  -h, --host HOST      Redis host (overrides the URL).
  -p, --port PORT      Redis port (overrides the URL).
  -n, --db N           Redis database number (overrides the URL).
      --user NAME      Redis ACL user name (overrides the URL).
  -a, --pass PASS      Redis password. Visible in "ps" for this script; prefer
                       REDISCLI_AUTH=... in the environment. Precedence:
                       -a, then the URL password, then $REDISCLI_AUTH.
      --tls, --insecure, --cacert FILE, --cacertdir DIR, --cert FILE, --key FILE,
      --sni NAME, --tls-ciphers LIST, --tls-ciphersuites LIST
                       passed through to redis-cli.
The password is handed to redis-cli only through REDISCLI_AUTH, never on its
command line.

Environment:
  REDIS_URL, REDISCLI_AUTH   as above.
  MCP_APIKEY_PREFIX          record key prefix (default mcp:apikey:).
  MCP_APIKEY_INDEX           index set (default mcp:apikeys).'

# mcp_conn_opt ARGS...: if "$1" is a connection option, consumes it (and its value)
# and sets MCP_SHIFT to the number of words consumed; otherwise sets MCP_SHIFT=0.
# Options written as --opt=value must be split by the caller (mcp_split_eq does it).
mcp_conn_opt() {
    MCP_SHIFT=0
    local opt=$1
    case $opt in
        -h|--host|-p|--port|-a|--pass|--password|--user|-n|--db|-u|--url| \
        --cacert|--cacertdir|--cert|--key|--sni|--tls-ciphers|--tls-ciphersuites)
            [[ $# -ge 2 ]] || mcp_usage_error "option $opt needs a value."
            ;;
    esac
    case $opt in
        -h|--host) MCP_OPT_HOST=$2; MCP_SHIFT=2 ;;
        -p|--port) MCP_OPT_PORT=$2; MCP_SHIFT=2 ;;
        -a|--pass|--password) MCP_OPT_PASS=$2; MCP_OPT_PASS_SET=1; MCP_SHIFT=2 ;;
        --user) MCP_OPT_USER=$2; MCP_SHIFT=2 ;;
        -n|--db) MCP_OPT_DB=$2; MCP_SHIFT=2 ;;
        -u|--url) MCP_OPT_URL=$2; MCP_SHIFT=2 ;;
        --cacert|--cacertdir|--cert|--key|--sni|--tls-ciphers|--tls-ciphersuites)
            MCP_TLS_ARGS+=("$opt" "$2"); MCP_SHIFT=2 ;;
        --tls|--insecure)
            MCP_TLS_ARGS+=("$opt"); MCP_SHIFT=1 ;;
    esac
}

# mcp_split_eq ARGS...: rewrites --opt=value into "--opt" "value"; result in MCP_ARGS.
mcp_split_eq() {
    MCP_ARGS=()
    local a seen_dd=0
    for a in "$@"; do
        if [[ $seen_dd == 0 && $a == --?*=* ]]; then
            MCP_ARGS+=("${a%%=*}" "${a#*=}")
        else
            [[ $a == -- ]] && seen_dd=1
            MCP_ARGS+=("$a")
        fi
    done
}

# mcp_wants_help ARGS...: true if --help appears before any "--".
mcp_wants_help() {
    local a
    for a in "$@"; do
        [[ $a == -- ]] && return 1
        [[ $a == --help ]] && return 0
    done
    return 1
}

# mcp_urldecode STRING: percent-decoding for the user/password parts of a URL.
mcp_urldecode() {
    local s=$1 out='' hex
    while [[ $s == *%* ]]; do
        out+=${s%%\%*}
        s=${s#*%}
        hex=${s:0:2}
        [[ $hex =~ ^[0-9A-Fa-f]{2}$ ]] || mcp_usage_error "the Redis URL has a malformed percent escape."
        printf -v hex '%b' "\\x$hex"
        out+=$hex
        s=${s:2}
    done
    printf '%s' "$out$s"
}

# mcp_parse_url URL: sets U_HOST U_PORT U_USER U_PASS U_PASS_SET U_DB U_TLS.
mcp_parse_url() {
    local url=$1 rest auth hostport
    U_HOST='' U_PORT='' U_USER='' U_PASS='' U_PASS_SET=0 U_DB='' U_TLS=0
    case $url in
        redis://*) rest=${url#redis://} ;;
        rediss://*) rest=${url#rediss://}; U_TLS=1 ;;
        *) mcp_usage_error "the Redis URL must start with redis:// or rediss://." ;;
    esac
    rest=${rest%%\?*}
    if [[ $rest == *@* ]]; then
        auth=${rest%@*}
        rest=${rest##*@}
        if [[ $auth == *:* ]]; then
            U_USER=$(mcp_urldecode "${auth%%:*}")
            U_PASS=$(mcp_urldecode "${auth#*:}")
            U_PASS_SET=1
        else
            # redis://secret@host is how several clients spell a password-only URL.
            U_PASS=$(mcp_urldecode "$auth")
            U_PASS_SET=1
        fi
    fi
    hostport=${rest%%/*}
    if [[ $rest == */* ]]; then
        U_DB=${rest#*/}
        U_DB=${U_DB%/}
    fi
    if [[ $hostport =~ ^\[([0-9A-Fa-f:.]+)\](:([0-9]*))?$ ]]; then
        U_HOST=${BASH_REMATCH[1]}
        U_PORT=${BASH_REMATCH[3]}
    elif [[ $hostport =~ ^([^:]*)(:([0-9]*))?$ ]]; then
        U_HOST=${BASH_REMATCH[1]}
        U_PORT=${BASH_REMATCH[3]}
    else
        mcp_usage_error "the Redis URL has a malformed host:port part."
    fi
}

# mcp_conn_finalize: resolves defaults, REDIS_URL and options into MCP_RCLI (the
# redis-cli argument vector, without any password) and MCP_RPASS/MCP_RPASS_SET.
mcp_conn_finalize() {
    local url=${MCP_OPT_URL:-${REDIS_URL:-}}
    local host=127.0.0.1 port=6379 user='' db='' tls=0
    MCP_RPASS='' MCP_RPASS_SET=0
    if [[ -n ${REDISCLI_AUTH+x} && -n ${REDISCLI_AUTH} ]]; then
        MCP_RPASS=$REDISCLI_AUTH; MCP_RPASS_SET=1
    fi
    if [[ -n $url ]]; then
        mcp_parse_url "$url"
        [[ -n $U_HOST ]] && host=$U_HOST
        [[ -n $U_PORT ]] && port=$U_PORT
        [[ -n $U_USER ]] && user=$U_USER
        [[ -n $U_DB ]] && db=$U_DB
        [[ $U_TLS == 1 ]] && tls=1
        if [[ $U_PASS_SET == 1 ]]; then MCP_RPASS=$U_PASS; MCP_RPASS_SET=1; fi
    fi
    [[ -n $MCP_OPT_HOST ]] && host=$MCP_OPT_HOST
    [[ -n $MCP_OPT_PORT ]] && port=$MCP_OPT_PORT
    [[ -n $MCP_OPT_USER ]] && user=$MCP_OPT_USER
    [[ -n $MCP_OPT_DB ]] && db=$MCP_OPT_DB
    if [[ $MCP_OPT_PASS_SET == 1 ]]; then MCP_RPASS=$MCP_OPT_PASS; MCP_RPASS_SET=1; fi

    [[ $port =~ ^[0-9]{1,5}$ ]] && ((10#$port >= 1 && 10#$port <= 65535)) ||
        mcp_usage_error "the Redis port must be a number from 1 to 65535."
    [[ -z $db || $db =~ ^[0-9]{1,5}$ ]] ||
        mcp_usage_error "the Redis database must be a non-negative number."
    [[ -n $host && $host != -* && $host != *[[:space:][:cntrl:]]* ]] ||
        mcp_usage_error "the Redis host name is empty or malformed."
    [[ -z $user || ($user != -* && $user != *[[:cntrl:]]*) ]] ||
        mcp_usage_error "the Redis user name is malformed."
    [[ $MCP_RPASS != *$'\n'* ]] || mcp_usage_error "the Redis password contains a newline."

    MCP_REDIS_DESC="$host:$port"
    MCP_RCLI=(--no-auth-warning --raw -h "$host" -p "$port")
    [[ -n $db ]] && MCP_RCLI+=(-n "$db")
    [[ -n $user ]] && MCP_RCLI+=(--user "$user")
    if [[ $tls == 1 ]]; then
        local a has=0
        for a in "${MCP_TLS_ARGS[@]}"; do [[ $a == --tls ]] && has=1; done
        [[ $has == 1 ]] || MCP_RCLI+=(--tls)
    fi
    MCP_RCLI+=("${MCP_TLS_ARGS[@]}")
    return 0
}

# mcp_rcli ARGS...: runs redis-cli with the resolved connection; the password goes
# through the environment only (an env assignment, not an argument).
mcp_rcli() {
    if [[ $MCP_RPASS_SET == 1 ]]; then
        REDISCLI_AUTH=$MCP_RPASS redis-cli "${MCP_RCLI[@]}" "$@"
    else
        env -u REDISCLI_AUTH redis-cli "${MCP_RCLI[@]}" "$@"
    fi
}

# mcp_eval [-x STDIN_VALUE] SCRIPT NUMKEYS KEYS... ARGS...
# Runs EVAL (atomic). With -x, STDIN_VALUE is appended as the last ARGV through
# redis-cli's stdin, so it never shows up in "ps". The script must return an array
# whose first element is "MCPOK" or "MCPERR"; the remaining elements (one per line;
# values must not contain newlines) land in the array MCP_REPLY. A missing sentinel
# (connection, authentication or server error) is a runtime error: exit 1.
# Returns 0 for MCPOK, 3 for MCPERR (MCP_REPLY[0] then holds the error code).
mcp_eval() {
    local stdin_val='' use_x=0 out err rc
    if [[ $1 == -x ]]; then use_x=1; stdin_val=$2; shift 2; fi
    command -v redis-cli >/dev/null 2>&1 || mcp_die "redis-cli is not installed or not on PATH."
    local errf
    errf=$(mktemp "${TMPDIR:-/tmp}/mcp-admin.XXXXXX") || mcp_die "cannot create a temporary file."
    set +e
    if [[ $use_x == 1 ]]; then
        out=$(printf '%s' "$stdin_val" | mcp_rcli -x EVAL "$@" 2>"$errf"; echo "rc=$?")
    else
        out=$(mcp_rcli EVAL "$@" 2>"$errf" </dev/null; echo "rc=$?")
    fi
    set -e
    err=$(<"$errf")
    rm -f -- "$errf"
    rc=${out##*rc=}
    out=${out%rc=*}
    out=${out%$'\n'}
    local lines=()
    [[ -n $out ]] && mapfile -t lines <<<"$out"
    if [[ ${lines[0]:-} == MCPOK ]]; then
        MCP_REPLY=("${lines[@]:1}")
        return 0
    elif [[ ${lines[0]:-} == MCPERR ]]; then
        MCP_REPLY=("${lines[@]:1}")
        return 3
    fi
    local msg=${lines[0]:-}
    [[ -z $msg ]] && msg=${err%%$'\n'*}
    if [[ $err == *"AUTH failed"* ]]; then
        msg=${err%%$'\n'*}
    fi
    [[ -z $msg ]] && msg="redis-cli exited with status $rc and no message"
    mcp_die "Redis at $MCP_REDIS_DESC: ${msg%.}."
}

# ---------------------------------------------------------------------------------------
# Validation

# mcp_valid_text STRING: true if STRING is valid UTF-8 without control characters
# (C0, DEL, C1). Byte-level check, independent of the caller's locale.
mcp_valid_text() {
    local LC_ALL=C
    local s=$1
    local re=$'^([\x20-\x7e]|\xc2[\xa0-\xbf]|[\xc3-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf][\x80-\xbf]|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf][\x80-\xbf]|[\xf1-\xf3][\x80-\xbf][\x80-\xbf][\x80-\xbf]|\xf4[\x80-\x8f][\x80-\xbf][\x80-\xbf])*$'
    [[ $s =~ $re ]]
}

# mcp_byte_len STRING
mcp_byte_len() {
    local LC_ALL=C
    local s=$1
    printf '%s' "${#s}"
}

# mcp_check_user USER: exits 2 unless USER is acceptable.
mcp_check_user() {
    [[ -n $1 ]] || mcp_usage_error "the user name must not be empty."
    (($(mcp_byte_len "$1") <= 256)) || mcp_usage_error "the user name is longer than 256 bytes."
    mcp_valid_text "$1" || mcp_usage_error "the user name must be valid UTF-8 without control characters."
}

# mcp_check_note NOTE
mcp_check_note() {
    (($(mcp_byte_len "$1") <= 1024)) || mcp_usage_error "the note is longer than 1024 bytes."
    mcp_valid_text "$1" || mcp_usage_error "the note must be valid UTF-8 without control characters."
}

# mcp_parse_roles LIST: validates comma-separated roles (blanks around names are
# trimmed), drops duplicates keeping the first occurrence; result in MCP_ROLES
# (comma-joined) and MCP_ROLE_LIST (array).
mcp_parse_roles() {
    local list=$1 r seen=','
    local parts=()
    MCP_ROLE_LIST=()
    [[ -n ${list//[[:space:],]/} ]] || mcp_usage_error "at least one role is required."
    IFS=, read -r -a parts <<<"$list,"
    for r in "${parts[@]}"; do
        r=${r#"${r%%[![:space:]]*}"}
        r=${r%"${r##*[![:space:]]}"}
        [[ -n $r ]] || mcp_usage_error "the role list has an empty element."
        [[ $r =~ ^[A-Za-z0-9._:-]+$ ]] ||
            mcp_usage_error "role '$r' is invalid: a role may contain only letters, digits, '.', '_', ':' and '-'."
        ((${#r} <= 128)) || mcp_usage_error "a role name is longer than 128 characters."
        [[ $seen == *",$r,"* ]] && continue
        seen+="$r,"
        MCP_ROLE_LIST+=("$r")
    done
    local IFS=,
    MCP_ROLES="${MCP_ROLE_LIST[*]}"
}

# mcp_parse_duration SPEC: "0" or N followed by s, m, h, d or w; sets MCP_SECONDS.
mcp_parse_duration() {
    local spec=$1
    if [[ $spec == 0 ]]; then MCP_SECONDS=0; return 0; fi
    [[ $spec =~ ^([0-9]{1,6})([smhdw])$ ]] || return 1
    local n=$((10#${BASH_REMATCH[1]}))
    case ${BASH_REMATCH[2]} in
        s) MCP_SECONDS=$n ;;
        m) MCP_SECONDS=$((n * 60)) ;;
        h) MCP_SECONDS=$((n * 3600)) ;;
        d) MCP_SECONDS=$((n * 86400)) ;;
        w) MCP_SECONDS=$((n * 604800)) ;;
    esac
}

# mcp_parse_expiry SPEC NOW: sets MCP_EXPIRES (Unix seconds; 0 = never). Exits 2 on
# a malformed spec or one that is not in the future.
#   never | Nm | Nh | Nd | Nw | YYYY-MM-DD (00:00:00 UTC of that day) |
#   YYYY-MM-DDTHH:MM[:SS](Z|+HH:MM|-HH:MM)
mcp_parse_expiry() {
    local spec=$1 now=$2 t
    case $spec in
        never) MCP_EXPIRES=0; return 0 ;;
    esac
    if [[ $spec =~ ^[0-9]{1,6}[mhdw]$ ]]; then
        mcp_parse_duration "$spec"
        ((MCP_SECONDS > 0)) || mcp_usage_error "the expiry '$spec' is not in the future."
        MCP_EXPIRES=$((now + MCP_SECONDS))
        return 0
    fi
    if [[ $spec =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]]; then
        t=$(date -u -d "${spec}T00:00:00Z" +%s 2>/dev/null) ||
            mcp_usage_error "the expiry date '$spec' is not a valid calendar date."
        # date(1) normalises some out-of-range values; insist on a round trip.
        [[ $(date -u -d "@$t" +%Y-%m-%d) == "$spec" ]] ||
            mcp_usage_error "the expiry date '$spec' is not a valid calendar date."
    elif [[ $spec =~ ^([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}:[0-9]{2})(:[0-9]{2})?(Z|[+-][0-9]{2}:[0-9]{2})$ ]]; then
        local d=${BASH_REMATCH[1]} hm=${BASH_REMATCH[2]} sec=${BASH_REMATCH[3]:-:00}
        local h=$((10#${hm%%:*})) mi=$((10#${hm#*:})) ss=$((10#${sec#:}))
        ((h <= 23 && mi <= 59 && ss <= 59)) ||
            mcp_usage_error "the expiry time '$spec' is not a valid time of day."
        [[ $(date -u -d "${d}T00:00:00Z" +%Y-%m-%d 2>/dev/null) == "$d" ]] ||
            mcp_usage_error "the expiry date '$spec' is not a valid calendar date."
        t=$(date -u -d "$spec" +%s 2>/dev/null) ||
            mcp_usage_error "the expiry '$spec' could not be parsed."
    else
        mcp_usage_error "the expiry '$spec' is not one of: never, <N>m, <N>h, <N>d, <N>w, YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ."
    fi
    ((t > now)) || mcp_usage_error "the expiry '$spec' is not in the future."
    MCP_EXPIRES=$t
}

# mcp_check_key_id ID: exits 2 unless ID is 16 lower-case hex characters. An entire
# key (mcp_<id>_<secret>) is refused with a hint, so secrets do not end up in
# shell histories of further commands.
mcp_check_key_id() {
    if [[ $1 =~ ^mcp_[0-9a-f]{16}_ ]]; then
        mcp_usage_error "give the key id (the 16 hex characters after 'mcp_'), not the whole key."
    fi
    [[ $1 =~ ^[0-9a-f]{16}$ ]] || mcp_usage_error "the key id must be 16 lower-case hex characters."
}

# ---------------------------------------------------------------------------------------
# Keys

# mcp_new_key: sets MCP_KEY_ID, MCP_KEY (the plaintext key) and MCP_KEY_HASH.
mcp_new_key() {
    command -v openssl >/dev/null 2>&1 || mcp_die "openssl is not installed or not on PATH."
    local id secret
    id=$(openssl rand -hex 8) || mcp_die "openssl could not generate random bytes."
    secret=$(openssl rand -hex 32) || mcp_die "openssl could not generate random bytes."
    [[ $id =~ ^[0-9a-f]{16}$ && $secret =~ ^[0-9a-f]{64}$ ]] ||
        mcp_die "openssl returned malformed random output."
    MCP_KEY_ID=$id
    MCP_KEY="mcp_${id}_${secret}"
    MCP_KEY_HASH=$(mcp_sha256 "$MCP_KEY")
}

# mcp_sha256 STRING: lower-case hex SHA-256 of STRING (fed through a pipe, not argv).
mcp_sha256() {
    local h
    h=$(printf '%s' "$1" | sha256sum) || mcp_die "sha256sum failed."
    h=${h%% *}
    [[ $h =~ ^[0-9a-f]{64}$ ]] || mcp_die "sha256sum returned malformed output."
    printf '%s' "$h"
}

# mcp_status REVOKED EXPIRES NOW: sets MCP_STATUS to active, expired or revoked.
# A malformed revoked/expires value counts as revoked/expired (fail closed).
mcp_status() {
    local rev=${1:-0} exp=${2:-0} now=$3
    [[ $rev =~ ^[0-9]{1,15}$ ]] || rev=1
    [[ $exp =~ ^[0-9]{1,15}$ ]] || exp=1
    if ((10#$rev > 0)); then
        MCP_STATUS=revoked
    elif ((10#$exp > 0 && 10#$exp <= now)); then
        MCP_STATUS=expired
    else
        MCP_STATUS=active
    fi
}

# ---------------------------------------------------------------------------------------
# Output helpers

# mcp_json_str STRING: prints STRING as a JSON string literal (with quotes).
# Escapes backslash, double quote and all control characters U+0000..U+001F; other
# bytes (UTF-8) pass through unchanged. mcp_json_str_v VAR STRING sets VAR instead.
mcp_json_str() {
    local _js
    mcp_json_str_v _js "$1"
    printf '%s' "$_js"
}
mcp_json_str_v() {
    local LC_ALL=C
    local s=$2
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    if [[ $s == *[$'\x01'-$'\x1f']* ]]; then
        local out='' c i code
        for ((i = 0; i < ${#s}; i++)); do
            c=${s:i:1}
            case $c in
                $'\n') out+='\n' ;;
                $'\r') out+='\r' ;;
                $'\t') out+='\t' ;;
                $'\b') out+='\b' ;;
                $'\f') out+='\f' ;;
                [$'\x01'-$'\x1f'])
                    printf -v code '%d' "'$c"
                    printf -v c '\\u%04x' "$code"
                    out+=$c
                    ;;
                *) out+=$c ;;
            esac
        done
        s=$out
    fi
    printf -v "$1" '"%s"' "$s"
}

# mcp_json_str_array ITEMS...: prints a JSON array of strings.
mcp_json_str_array() {
    local first=1 x
    printf '['
    for x in "$@"; do
        ((first)) || printf ','
        first=0
        mcp_json_str "$x"
    done
    printf ']'
}

# mcp_json_time SECONDS: ISO string or null (0/empty/garbage); _v VAR variant.
mcp_json_time_v() {
    if [[ ! ${2:-} =~ ^[0-9]{1,12}$ || ${2:-} =~ ^0+$ ]]; then
        printf -v "$1" null
    else
        printf -v "$1" '"%(%Y-%m-%dT%H:%M:%SZ)T"' "$((10#$2))"
    fi
}
mcp_json_time() {
    local _jt
    mcp_json_time_v _jt "${1:-}"
    printf '%s' "$_jt"
}

# mcp_json_int VALUE: the number, or null when empty/non-numeric; _v VAR variant.
mcp_json_int_v() {
    if [[ ${2:-} =~ ^[0-9]{1,15}$ ]]; then
        printf -v "$1" '%d' "$((10#$2))"
    else
        printf -v "$1" null
    fi
}
mcp_json_int() {
    local _ji
    mcp_json_int_v _ji "${1:-}"
    printf '%s' "$_ji"
}

# mcp_shquote STRING: single-quoted for POSIX shells.
mcp_shquote() {
    local s=$1
    printf "'%s'" "${s//\'/\'\\\'\'}"
}

# mcp_width STRING: sets MCP_W to the number of characters (UTF-8 aware when the
# C.UTF-8 locale exists; bytes otherwise).
mcp_width() {
    local LC_ALL=C.UTF-8
    local s=$1
    MCP_W=${#s}
} 2>/dev/null

# mcp_gateway_url: validated MCP_GATEWAY_URL or the default.
mcp_gateway_url() {
    local u=${MCP_GATEWAY_URL:-$MCP_DEFAULT_GATEWAY_URL}
    if [[ ! $u =~ ^https?://[^[:space:][:cntrl:]\'\"\\]+$ ]]; then
        mcp_warn "MCP_GATEWAY_URL is not an http(s) URL without spaces or quotes; using $MCP_DEFAULT_GATEWAY_URL."
        u=$MCP_DEFAULT_GATEWAY_URL
    fi
    printf '%s' "$u"
}

# mcp_print_client_config KEY: curl example and an mcpServers JSON snippet.
mcp_print_client_config() {
    local key=$1 url name
    url=$(mcp_gateway_url)
    name=${url%%\?*}
    name=${name%/}
    name=${name##*/}
    [[ $name =~ ^[A-Za-z0-9._-]{1,64}$ ]] || name=ngx-mcp
    cat <<EOF
Try it with curl:

  curl -sS $(mcp_shquote "$url") \\
    -H 'Authorization: Bearer $key' \\
    -H 'Content-Type: application/json' \\
    -H 'Accept: application/json, text/event-stream' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'

MCP client configuration (e.g. .cursor/mcp.json, .vscode/mcp.json or claude_desktop_config.json):

{
  "mcpServers": {
    $(mcp_json_str "$name"): {
      "type": "http",
      "url": $(mcp_json_str "$url"),
      "headers": {
        "Authorization": $(mcp_json_str "Bearer $key")
      }
    }
  }
}
EOF
}

# mcp_confirm QUESTION YES_FLAG WHAT: returns when confirmed; refuses without a TTY.
mcp_confirm() {
    local question=$1 yes=$2 what=$3 answer=''
    [[ $yes == 1 ]] && return 0
    if [[ ! -t 0 ]] || ! { : </dev/tty; } 2>/dev/null; then
        mcp_usage_error "refusing to $what without confirmation: there is no terminal to ask on, so pass --yes."
    fi
    printf '%s [y/N] ' "$question" >/dev/tty
    IFS= read -r answer </dev/tty || answer=''
    case $answer in
        y|Y|yes|YES|Yes) return 0 ;;
    esac
    printf '%s: aborted; nothing was changed.\n' "$MCP_PROG" >&2
    exit 1
}

# ---------------------------------------------------------------------------------------
# Helpers for the gateway self-test scripts (test-api-keys.sh, test-mcp-endpoints.sh,
# get-mcp-credentials.sh). They talk HTTP with curl; secrets reach curl only through a
# config file read from stdin (curl -K -), never through its command line.

# mcp_curl_cfg_str STRING: prints STRING as a double-quoted curl config value.
mcp_curl_cfg_str() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
    s=${s//$'\t'/\\t}
    printf '"%s"' "$s"
}

# mcp_check_http_url URL WHAT: exits 2 unless URL is an http(s) URL without blanks,
# quotes or control characters.
mcp_check_http_url() {
    [[ $1 =~ ^https?://[^[:space:][:cntrl:]\'\"\\]+$ ]] ||
        mcp_usage_error "$2 must be an http:// or https:// URL without spaces or quotes."
}

# mcp_need_cmd NAME...: exits 1 unless every NAME is on PATH.
mcp_need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || mcp_die "$c is not installed or not on PATH."
    done
}

# mcp_pass NAME / mcp_fail NAME DETAIL: one PASS/FAIL line on stdout; mcp_fail also
# increments MCP_FAILS.
MCP_FAILS=0
mcp_pass() {
    printf 'PASS  %s\n' "$1"
}
mcp_fail() {
    printf 'FAIL  %s: %s\n' "$1" "$2"
    MCP_FAILS=$((MCP_FAILS + 1))
}

# mcp_snippet TEXT: TEXT on one line, control characters replaced, at most 200 bytes
# (for quoting a response body in a FAIL line).
mcp_snippet() {
    local LC_ALL=C
    local s=${1//[$'\x01'-$'\x1f\x7f']/ }
    ((${#s} > 200)) && s="${s:0:200}..."
    printf '%s' "$s"
}
