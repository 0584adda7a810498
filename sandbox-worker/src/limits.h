/*
 * limits.h - every limit and default of the sandbox worker, in one place.
 *
 * Per-call limits (wall, CPU, memory, output) have a default here, may be
 * changed at start-up by a CLI flag within [MIN, MAX], and a call may only
 * LOWER the wall limit (execute_code's "timeout" argument).
 */
#ifndef SW_LIMITS_H
#define SW_LIMITS_H

/* ---- per-call limits (defaults, and the range a CLI flag may set) ---- */

/* Wall clock of one tool call, measured by the zygote from fork to reap. */
#define SW_DEFAULT_WALL_MS          30000
#define SW_MIN_WALL_MS              100
#define SW_MAX_WALL_MS              600000

/* CPU time (user+system) of one call; RLIMIT_CPU has 1 s granularity, so
 * the kernel enforces ceil(ms / 1000) s (SIGXCPU), then +1 s (SIGKILL). */
#define SW_DEFAULT_CPU_MS           10000
#define SW_MIN_CPU_MS               1000
#define SW_MAX_CPU_MS               600000

/* Address space of one call (RLIMIT_AS). It includes the ~60 MiB of
 * virtual memory the child inherits from the zygote's interpreter. */
#define SW_DEFAULT_MEMORY_MB        512
#define SW_MIN_MEMORY_MB            128
#define SW_MAX_MEMORY_MB            16384

/* Bytes of stdout+stderr kept from one call; more is truncated. */
#define SW_DEFAULT_OUTPUT_BYTES     (1024 * 1024)
#define SW_MIN_OUTPUT_BYTES         1024
#define SW_MAX_OUTPUT_BYTES         (8 * 1024 * 1024)

/* Extra room after the output cap for the runner's result trailer (the
 * JSON of a tool's return value). Past cap + reserve the child is killed. */
#define SW_TRAILER_RESERVE_BYTES    (256 * 1024)

/* Largest file a call may write (RLIMIT_FSIZE); lowered further to what
 * is left of the user's workspace quota. */
#define SW_CHILD_FSIZE_BYTES        (64L * 1024 * 1024)

/* Open files in a child (RLIMIT_NOFILE). Python needs a handful. */
#define SW_CHILD_NOFILE             32

/* ---- daemon-wide limits ---- */

/* Children the zygote keeps forked and confined (all but the per-user
 * Landlock layer), waiting for a call: fork and the seccomp filter are
 * then off the call's path. 0: fork when the call arrives. */
#define SW_DEFAULT_PREFORK          2
#define SW_MIN_PREFORK              0
#define SW_MAX_PREFORK              16

/* Warm-up calls a tool set may name (runner.REHEARSALS). A spare runs the
 * first one at once; the others once no call has been running for this
 * long, one at a time, and none after its call has arrived: they move the
 * copy-on-write faults of the modules calls use off the call's path while
 * the worker is idle, and cost nothing when calls come back to back. */
#define SW_MAX_REHEARSALS           8
#define SW_REHEARSAL_IDLE_MS        5

/* A child that has written its result waits this long for the zygote to
 * take its figures and kill it, then exits on its own. */
#define SW_CHILD_LINGER_MS          1000

/* A call that found the worker idle (no answer for SW_REHEARSAL_IDLE_MS)
 * has its child killed this long after its answer, not at once: tearing
 * down the child's memory keeps a core busy in the kernel for about a
 * millisecond, unpreempted, and would hold up the answer on its way out.
 * Calls back to back kill at once (the next call would meet the teardown
 * instead), and so does the arrival of any call. */
#define SW_ANSWERED_KILL_DELAY_MS   2

/* After a waiting child died unused, no new one is forked for this long
 * (a child that cannot confine itself must not make the zygote spin). */
#define SW_PREFORK_RETRY_MS         1000

/*
 * Scheduling (EEVDF; the slice needs Linux >= 6.12, older kernels ignore
 * it). A call's path is a chain of short wake-ups (daemon thread, zygote,
 * the call's child): they ask for the shortest time slice, which gives
 * them earlier deadlines, so a wake-up preempts sooner. The work off that
 * path (the nursery forking spares, spares warming up, answered children
 * being torn down) runs SCHED_BATCH, which never preempts on wake-up, with
 * the default slice; while calls wait for a spare the nursery is on their
 * path and gets the short slice too. Hints only: CPU shares do not change
 * and no limit depends on them.
 */
#define SW_SLICE_CALL_US            100         /* the kernel's minimum */

/* Calls running at once (one child process each). */
#define SW_DEFAULT_CONCURRENCY      4
#define SW_MIN_CONCURRENCY          1
#define SW_MAX_CONCURRENCY          256

/* Calls waiting for a free slot; past this a call is answered "busy". */
#define SW_DEFAULT_QUEUE            16
#define SW_MIN_QUEUE                0
#define SW_MAX_QUEUE                4096

/* Largest accepted HTTP request body (larger -> 413). */
#define SW_MAX_BODY_BYTES           (1024 * 1024)

/*
 * Simultaneous HTTP connections (one thread each).  A gateway under load
 * opens one upstream connection per request in flight; a connection past
 * this limit is closed unanswered (the client sees 502), so it is set well
 * above a busy nginx's.  Threads keep the default stack: jansson parses
 * nested JSON recursively.
 */
#define SW_MAX_CONNECTIONS          4096

/* Idle HTTP connection timeout, seconds. */
#define SW_HTTP_CONN_TIMEOUT_S      120

/* Largest daemon <-> zygote frame (JSON). Output can expand up to 6x when
 * JSON-escaped, so this must stay > 6 * (SW_MAX_OUTPUT_BYTES + reserve). */
#define SW_MAX_FRAME_BYTES          (64u * 1024 * 1024)

/* How long past its wall limit the daemon waits for a result frame before
 * giving up on a call (covers reaping and a slow zygote). */
#define SW_RESULT_GRACE_MS          10000

/* Minimum pause between two zygote restarts (crash-loop damping). */
#define SW_ZYGOTE_RESTART_DELAY_MS  500

/* ---- identity (docs/internals.md, "Signed identity") ---- */

/* Accepted clock difference between gateway and worker, seconds. */
#define SW_IDENTITY_MAX_SKEW_S      60

/* Shortest accepted HMAC key (bytes after stripping white space). */
#define SW_IDENTITY_MIN_SECRET      32

/* Largest accepted secret file, identity field and decoded identity
 * message ("v1" and six fields, each after a newline). */
#define SW_IDENTITY_MAX_SECRET      4096
#define SW_IDENTITY_MAX_FIELD       1024
#define SW_IDENTITY_MAX_MESSAGE     (2 + 6 * (1 + SW_IDENTITY_MAX_FIELD))

/* ---- workspaces ---- */

/* Hex characters of SHA-256(user) used as the directory name (128 bits). */
#define SW_WORKSPACE_NAME_HEX       32

/* Disk space (allocated blocks) a user's workspace may use, MiB. Usage is
 * measured before each call; a call may write at most what is left (its
 * RLIMIT_FSIZE), and an over-quota workspace is read+remove only. */
#define SW_DEFAULT_QUOTA_MB         100
#define SW_MIN_QUOTA_MB             1
#define SW_MAX_QUOTA_MB             (1024 * 1024)

/* Measuring a workspace stops past this many entries or this depth; such
 * a workspace counts as over quota (the user can still delete). */
#define SW_WORKSPACE_MAX_ENTRIES    100000
#define SW_WORKSPACE_MAX_DEPTH      64

/* ---- misc ---- */

#define SW_VERSION                  "0.1.0"
#define SW_PATH_MAX                 4096

#endif /* SW_LIMITS_H */
