/* zygote.h - the single-threaded process that embeds CPython and forks one
 * confined child per tool call.
 *
 * Protocol on the socketpair (frames, see util.h), daemon -> zygote:
 *   {"type":"call","id":N,"tool":S,"arguments":{..},"workspace":S,
 *    "workspace_writable":B,
 *    "limits":{"wall_ms","cpu_ms","memory_mb","output_bytes","fsize_bytes"}}
 * (workspace_writable false: over quota, read+remove only; fsize_bytes:
 * the largest file the call may write, what is left of the quota).
 * The zygote passes the same frame on to the child that runs the call.
 * zygote -> daemon:
 *   {"type":"hello","landlock_abi":N,"python":S}         once, when ready
 *   {"type":"result","id":N,"outcome":S,"is_error":B,"output":S,
 *    "result":any?,"error":S?,"message":S?,"wall_ms","cpu_ms","maxrss_kb",
 *    "exit_code","signal"}
 * The daemon adds "quota" (a sentence) to a result before answering.
 */
#ifndef SW_ZYGOTE_H
#define SW_ZYGOTE_H

#include "config.h"

/* Marker the runner writes before its JSON result trailer. */
#define SW_TRAILER_MARKER       "\x1e\x1eSW-RESULT "

/* Exit status of a child whose confinement failed (nothing ran). */
#define SW_EXIT_CONFINE_FAILED  125

/* Runs the zygote on cfg->zygote_fd; returns the process exit status. */
int sw_zygote_main(const sw_config_t *cfg);

#endif /* SW_ZYGOTE_H */
