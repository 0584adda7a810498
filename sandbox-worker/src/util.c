/* util.c - logging, framing and UTF-8 helpers. */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* Set once at start-up, before any thread exists. */
static const char *sw_component = "daemon";

void
sw_log_set_component(const char *component)
{
    sw_component = component;
}

void
sw_log(const char *level, const char *event, json_t *fields)
{
    struct timespec  ts;
    json_t          *line;
    char            *text;
    char             stamp[64];
    struct tm        tm;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        ts.tv_sec = 0;
        ts.tv_nsec = 0;
    }
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    line = json_object();
    if (line == NULL) {
        json_decref(fields);
        return;
    }
    json_object_set_new(line, "ts", json_string(stamp));
    json_object_set_new(line, "level", json_string(level));
    json_object_set_new(line, "component", json_string(sw_component));
    json_object_set_new(line, "event", json_string(event));
    if (fields != NULL) {
        json_object_update(line, fields);
        json_decref(fields);
    }

    text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(line);
    if (text == NULL) {
        return;
    }
    /* One write per line so lines from several processes do not mix. */
    size_t n = strlen(text);
    text[n] = '\n';
    (void) sw_write_full(STDERR_FILENO, text, n + 1);
    free(text);
}

/* struct sched_attr (linux/sched/types.h clashes with <sched.h>). */
typedef struct {
    uint32_t  size;
    uint32_t  sched_policy;
    uint64_t  sched_flags;
    int32_t   sched_nice;
    uint32_t  sched_priority;
    uint64_t  sched_runtime;    /* SCHED_OTHER/BATCH: the slice, ns */
    uint64_t  sched_deadline;
    uint64_t  sched_period;
} sw_sched_attr_t;

int
sw_sched_slice(pid_t pid, int policy, long slice_us)
{
    sw_sched_attr_t attr;

    memset(&attr, 0, sizeof(attr));
    if (syscall(SYS_sched_getattr, pid, &attr, sizeof(attr), 0) != 0) {
        return -1;
    }
    attr.size = sizeof(attr);
    attr.sched_policy = (uint32_t) policy;
    attr.sched_flags = 0;
    attr.sched_priority = 0;
    attr.sched_runtime = (uint64_t) slice_us * 1000;
    attr.sched_deadline = 0;
    attr.sched_period = 0;
    return syscall(SYS_sched_setattr, pid, &attr, 0) == 0 ? 0 : -1;
}

int64_t
sw_now_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        return 0;
    }
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
sw_write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

int
sw_read_full(int fd, void *buf, size_t len)
{
    char   *p = buf;
    size_t  got = 0;

    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (n == 0) {
            return got == 0 ? 1 : -1;
        }
        got += (size_t) n;
    }
    return 0;
}

/* Header and body in one writev, so the reader wakes up once; the rest
 * of a partial write goes out with sw_write_full. */
static int
sw_writev_full(int fd, const void *a, size_t alen, const void *b, size_t blen)
{
    struct iovec iov[2] = { { (void *) a, alen }, { (void *) b, blen } };
    ssize_t      n;

    do {
        n = writev(fd, iov, 2);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -1;
    }
    if ((size_t) n < alen) {
        return sw_write_full(fd, (const char *) a + n, alen - (size_t) n)
               || sw_write_full(fd, b, blen) ? -1 : 0;
    }
    n -= (ssize_t) alen;
    return sw_write_full(fd, (const char *) b + n, blen - (size_t) n);
}

int
sw_frame_write(int fd, json_t *obj)
{
    char          *text;
    size_t         len;
    unsigned char  hdr[4];
    int            rc;

    text = json_dumps(obj, JSON_COMPACT);
    if (text == NULL) {
        return -1;
    }
    len = strlen(text);
    if (len > UINT32_MAX) {
        free(text);
        return -1;
    }
    hdr[0] = (unsigned char) (len >> 24);
    hdr[1] = (unsigned char) (len >> 16);
    hdr[2] = (unsigned char) (len >> 8);
    hdr[3] = (unsigned char) len;
    rc = sw_writev_full(fd, hdr, 4, text, len);
    free(text);
    return rc;
}

int
sw_frame_read(int fd, json_t **out, uint32_t max_len)
{
    unsigned char  hdr[4];
    uint32_t       len;
    char          *buf;
    json_error_t   err;
    int            rc;

    *out = NULL;
    rc = sw_read_full(fd, hdr, 4);
    if (rc != 0) {
        return rc;
    }
    len = ((uint32_t) hdr[0] << 24) | ((uint32_t) hdr[1] << 16)
          | ((uint32_t) hdr[2] << 8) | hdr[3];
    if (len == 0 || len > max_len) {
        return -1;
    }
    buf = malloc(len);
    if (buf == NULL) {
        return -1;
    }
    if (sw_read_full(fd, buf, len) != 0) {
        free(buf);
        return -1;
    }
    *out = json_loadb(buf, len, 0, &err);
    free(buf);
    if (*out == NULL || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t
sw_utf8_seq_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    size_t        need, i;
    uint32_t      cp;

    if (c >= 0x01 && c < 0x80) {
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        cp = c & 0x07;
    } else {
        return 0;               /* NUL, continuation byte, or 0xf5.. */
    }
    if (avail < need) {
        return 0;
    }
    for (i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    /* Reject overlong forms, surrogates and code points past U+10FFFF. */
    if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000)
        || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
    {
        return 0;
    }
    return need;
}

char *
sw_utf8_sanitize(const char *in, size_t len, size_t *out_len)
{
    const unsigned char *p = (const unsigned char *) in;
    char                *out, *q;
    size_t               i = 0;

    /* Worst case: every byte becomes the 3-byte U+FFFD. */
    if (len > (SIZE_MAX - 1) / 3) {
        return NULL;
    }
    out = malloc(len * 3 + 1);
    if (out == NULL) {
        return NULL;
    }
    q = out;
    while (i < len) {
        size_t n = sw_utf8_seq_len(p + i, len - i);
        if (n == 0) {
            memcpy(q, "\xef\xbf\xbd", 3);
            q += 3;
            i++;
        } else {
            memcpy(q, p + i, n);
            q += n;
            i += n;
        }
    }
    *q = '\0';
    if (out_len != NULL) {
        *out_len = (size_t) (q - out);
    }
    return out;
}
