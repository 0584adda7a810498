/* schema.c - minimal JSON Schema validation of tool arguments. */
#include "schema.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int
sw_type_matches(const char *type, const json_t *v)
{
    if (strcmp(type, "string") == 0) {
        return json_is_string(v);
    }
    if (strcmp(type, "number") == 0) {
        return json_is_number(v);
    }
    if (strcmp(type, "integer") == 0) {
        if (json_is_integer(v)) {
            return 1;
        }
        /* 5.0 is an integer in JSON Schema. */
        return json_is_real(v) && floor(json_real_value(v)) == json_real_value(v);
    }
    if (strcmp(type, "boolean") == 0) {
        return json_is_boolean(v);
    }
    if (strcmp(type, "object") == 0) {
        return json_is_object(v);
    }
    if (strcmp(type, "array") == 0) {
        return json_is_array(v);
    }
    if (strcmp(type, "null") == 0) {
        return json_is_null(v);
    }
    return 0;
}

/* Counts UTF-8 code points, as JSON Schema's minLength/maxLength do. */
static size_t
sw_utf8_length(const char *s, size_t n)
{
    size_t i, count = 0;

    for (i = 0; i < n; i++) {
        if (((unsigned char) s[i] & 0xc0) != 0x80) {
            count++;
        }
    }
    return count;
}

static int
sw_check(const json_t *schema, const json_t *v, const char *where,
    char *err, size_t err_size)
{
    const json_t *t, *kw;

    if (!json_is_object(schema)) {
        return 0;
    }

    t = json_object_get(schema, "type");
    if (json_is_string(t) && !sw_type_matches(json_string_value(t), v)) {
        snprintf(err, err_size, "%s must be of type %s", where,
                 json_string_value(t));
        return -1;
    }

    kw = json_object_get(schema, "enum");
    if (json_is_array(kw)) {
        size_t  i;
        json_t *e;
        int     found = 0;
        json_array_foreach(kw, i, e) {
            if (json_equal(e, (json_t *) v)) {
                found = 1;
                break;
            }
        }
        if (!found) {
            snprintf(err, err_size, "%s is not one of the allowed values",
                     where);
            return -1;
        }
    }

    if (json_is_number(v)) {
        double d = json_number_value(v);
        kw = json_object_get(schema, "minimum");
        if (json_is_number(kw) && d < json_number_value(kw)) {
            snprintf(err, err_size, "%s must be >= %g", where,
                     json_number_value(kw));
            return -1;
        }
        kw = json_object_get(schema, "exclusiveMinimum");
        if (json_is_number(kw) && d <= json_number_value(kw)) {
            snprintf(err, err_size, "%s must be > %g", where,
                     json_number_value(kw));
            return -1;
        }
        kw = json_object_get(schema, "maximum");
        if (json_is_number(kw) && d > json_number_value(kw)) {
            snprintf(err, err_size, "%s must be <= %g", where,
                     json_number_value(kw));
            return -1;
        }
    }

    if (json_is_string(v)) {
        size_t len = sw_utf8_length(json_string_value(v),
                                    json_string_length(v));
        kw = json_object_get(schema, "minLength");
        if (json_is_integer(kw) && (json_int_t) len < json_integer_value(kw)) {
            snprintf(err, err_size, "%s is too short", where);
            return -1;
        }
        kw = json_object_get(schema, "maxLength");
        if (json_is_integer(kw) && (json_int_t) len > json_integer_value(kw)) {
            snprintf(err, err_size, "%s is too long", where);
            return -1;
        }
    }

    if (json_is_object(v)) {
        const json_t *props = json_object_get(schema, "properties");
        const json_t *req = json_object_get(schema, "required");
        const json_t *addl = json_object_get(schema, "additionalProperties");
        const char   *key;
        json_t       *val, *e;
        size_t        i;

        if (json_is_array(req)) {
            json_array_foreach(req, i, e) {
                if (json_is_string(e)
                    && json_object_get(v, json_string_value(e)) == NULL)
                {
                    snprintf(err, err_size, "missing required argument \"%s\"",
                             json_string_value(e));
                    return -1;
                }
            }
        }
        json_object_foreach((json_t *) v, key, val) {
            const json_t *sub = json_is_object(props)
                                ? json_object_get(props, key) : NULL;
            char          path[160];
            if (sub == NULL) {
                if (json_is_false(addl)) {
                    snprintf(err, err_size, "unexpected argument \"%.100s\"",
                             key);
                    return -1;
                }
                continue;
            }
            snprintf(path, sizeof(path), "argument \"%.100s\"", key);
            if (sw_check(sub, val, path, err, err_size) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

int
sw_schema_check(const json_t *schema, const json_t *value, char *err,
    size_t err_size)
{
    return sw_check(schema, value, "arguments", err, err_size);
}
