/* util.h - small helpers shared by the daemon and the zygote. */
#ifndef SW_UTIL_H
#define SW_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

/* Logs one JSON line to stderr: {"ts":..,"level":..,"component":..,"event":..,
 * ...fields}. Steals the reference to fields (may be NULL). Never pass
 * secrets or user code in fields. */
void sw_log(const char *level, const char *event, json_t *fields);

/* Names this process in its log lines ("daemon", "zygote"). */
void sw_log_set_component(const char *component);

/* Sets the scheduling policy (SCHED_OTHER or SCHED_BATCH) and time slice
 * (0: the kernel's default) of process pid (0: the calling thread),
 * keeping its nice value. New threads and children inherit both. Returns
 * 0, or -1 with errno. */
int sw_sched_slice(pid_t pid, int policy, long slice_us);

/* Monotonic clock in milliseconds. */
int64_t sw_now_ms(void);

/* Full write/read with EINTR handling. Return 0 on success, -1 on error;
 * sw_read_full returns 1 on clean EOF before the first byte. */
int sw_write_full(int fd, const void *buf, size_t len);
int sw_read_full(int fd, void *buf, size_t len);

/* Frames are a 4-byte big-endian length followed by that many bytes of
 * JSON. sw_frame_read returns 0 and a new reference, 1 on EOF, -1 on error
 * (including frames over max_len or that are not a JSON object). */
int sw_frame_write(int fd, json_t *obj);
int sw_frame_read(int fd, json_t **out, uint32_t max_len);

/* Copies len bytes into a new NUL-terminated string in which every invalid
 * UTF-8 sequence (and NUL) is replaced by U+FFFD, so jansson accepts it.
 * Returns NULL on allocation failure; *out_len gets the new length. */
char *sw_utf8_sanitize(const char *in, size_t len, size_t *out_len);

#endif /* SW_UTIL_H */
