
/*
 * Copyright (C) ngx_mcp authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * OAuth 2.0 Protected Resource Metadata (RFC 9728), which MCP clients
 * read to find the identity provider of an endpoint.  Each endpoint with
 * "mcp_resource URL" is registered at configuration time; a location with
 * "mcp_protected_resource_metadata" answers
 *
 *     GET /.well-known/oauth-protected-resource<path of URL>
 *
 * from that configuration, and 401s point there (resource_metadata=).
 */


#include "ngx_http_mcp_module.h"


#define NGX_HTTP_MCP_WELL_KNOWN  "/.well-known/oauth-protected-resource"


static ngx_int_t ngx_http_mcp_resource_path(ngx_str_t *resource,
    ngx_str_t *origin, ngx_str_t *path);
static ngx_http_mcp_loc_conf_t *ngx_http_mcp_metadata_find(
    ngx_http_request_t *r);
static char *ngx_http_mcp_metadata_json(ngx_http_mcp_loc_conf_t *mlcf);


ngx_int_t
ngx_http_mcp_metadata_register(ngx_conf_t *cf, ngx_http_mcp_loc_conf_t *mlcf)
{
    u_char                    *p;
    ngx_str_t                  origin, path;
    ngx_http_mcp_loc_conf_t  **slot;
    ngx_http_mcp_main_conf_t  *mmcf;

    if (mlcf->resource.len == 0) {
        return NGX_OK;
    }

    if (ngx_http_mcp_resource_path(&mlcf->resource, &origin, &path)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_resource\" must be an absolute http(s) URL "
                           "without query or fragment, not \"%V\"",
                           &mlcf->resource);
        return NGX_ERROR;
    }

    /* RFC 9728 3.1: the well-known part goes between host and path */
    mlcf->resource_metadata.len = origin.len
                                  + sizeof(NGX_HTTP_MCP_WELL_KNOWN) - 1
                                  + path.len;
    mlcf->resource_metadata.data = ngx_pnalloc(cf->pool,
                                               mlcf->resource_metadata.len);
    if (mlcf->resource_metadata.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(mlcf->resource_metadata.data, origin.data, origin.len);
    p = ngx_cpymem(p, NGX_HTTP_MCP_WELL_KNOWN,
                   sizeof(NGX_HTTP_MCP_WELL_KNOWN) - 1);
    ngx_memcpy(p, path.data, path.len);

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_module);

    slot = ngx_array_push(&mmcf->endpoints);
    if (slot == NULL) {
        return NGX_ERROR;
    }

    *slot = mlcf;

    return NGX_OK;
}


/* "https://host:port/a/b" -> origin "https://host:port", path "/a/b" */

static ngx_int_t
ngx_http_mcp_resource_path(ngx_str_t *resource, ngx_str_t *origin,
    ngx_str_t *path)
{
    u_char  *p, *last, *host;

    p = resource->data;
    last = p + resource->len;

    if (resource->len > 8 && ngx_strncmp(p, "https://", 8) == 0) {
        host = p + 8;

    } else if (resource->len > 7 && ngx_strncmp(p, "http://", 7) == 0) {
        host = p + 7;

    } else {
        return NGX_ERROR;
    }

    if (ngx_strlchr(p, last, '?') || ngx_strlchr(p, last, '#')) {
        return NGX_ERROR;
    }

    path->data = ngx_strlchr(host, last, '/');
    if (path->data == NULL) {
        path->data = last;
    }

    if (path->data == host) {
        return NGX_ERROR;
    }

    path->len = last - path->data;
    origin->data = p;
    origin->len = path->data - p;

    return NGX_OK;
}


ngx_int_t
ngx_http_mcp_metadata_handler(ngx_http_request_t *r)
{
    char                     *json;
    size_t                    len;
    ngx_int_t                 rc;
    ngx_buf_t                *b;
    ngx_chain_t               out;
    ngx_table_elt_t          *h;
    ngx_http_mcp_loc_conf_t  *endpoint;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    endpoint = ngx_http_mcp_metadata_find(r);
    if (endpoint == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    json = ngx_http_mcp_metadata_json(endpoint);
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(json);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        free(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, json, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    free(json);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "max-age=300");
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_http_mcp_loc_conf_t *
ngx_http_mcp_metadata_find(ngx_http_request_t *r)
{
    ngx_str_t                  want, origin, path;
    ngx_uint_t                 i;
    ngx_http_mcp_loc_conf_t  **endpoints;
    ngx_http_mcp_main_conf_t  *mmcf;

    if (r->uri.len < sizeof(NGX_HTTP_MCP_WELL_KNOWN) - 1
        || ngx_strncmp(r->uri.data, NGX_HTTP_MCP_WELL_KNOWN,
                       sizeof(NGX_HTTP_MCP_WELL_KNOWN) - 1) != 0)
    {
        return NULL;
    }

    want.data = r->uri.data + sizeof(NGX_HTTP_MCP_WELL_KNOWN) - 1;
    want.len = r->uri.len - (sizeof(NGX_HTTP_MCP_WELL_KNOWN) - 1);

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_module);
    endpoints = mmcf->endpoints.elts;

    for (i = 0; i < mmcf->endpoints.nelts; i++) {
        (void) ngx_http_mcp_resource_path(&endpoints[i]->resource, &origin,
                                          &path);

        if (path.len == want.len
            && ngx_strncmp(path.data, want.data, want.len) == 0)
        {
            return endpoints[i];
        }
    }

    return NULL;
}


static char *
ngx_http_mcp_metadata_json(ngx_http_mcp_loc_conf_t *mlcf)
{
    char        *text;
    json_t      *doc, *list;
    ngx_str_t   *scopes;
    ngx_uint_t   i;

    doc = json_object();
    if (doc == NULL) {
        return NULL;
    }

    json_object_set_new(doc, "resource",
                        json_stringn((const char *) mlcf->resource.data,
                                     mlcf->resource.len));

    if (mlcf->jwt_issuer.len) {
        list = json_array();
        json_array_append_new(list,
                              json_stringn((const char *) mlcf->jwt_issuer.data,
                                           mlcf->jwt_issuer.len));
        json_object_set_new(doc, "authorization_servers", list);
    }

    list = json_array();
    json_array_append_new(list, json_string("header"));
    json_object_set_new(doc, "bearer_methods_supported", list);

    if (mlcf->resource_scopes) {
        list = json_array();
        scopes = mlcf->resource_scopes->elts;

        for (i = 0; i < mlcf->resource_scopes->nelts; i++) {
            json_array_append_new(list,
                                  json_stringn((const char *) scopes[i].data,
                                               scopes[i].len));
        }

        json_object_set_new(doc, "scopes_supported", list);
    }

    json_object_set_new(doc, "resource_name",
                        json_stringn((const char *) mlcf->tenant.data,
                                     mlcf->tenant.len));

    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    return text;
}
