/* http.h - the libmicrohttpd front end. */
#ifndef SW_HTTP_H
#define SW_HTTP_H

#include <stddef.h>
#include "mcp.h"
#include "pool.h"

typedef struct {
    sw_mcp_t            *mcp;
    sw_pool_t           *pool;
    const unsigned char *secret;
    size_t               secret_len;
    int                  landlock_required;
    struct MHD_Daemon   *daemon;
} sw_http_t;

/* Starts serving on an already bound and listening socket. */
int sw_http_start(sw_http_t *h, int listen_fd);
void sw_http_stop(sw_http_t *h);

#endif /* SW_HTTP_H */
