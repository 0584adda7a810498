/* schema.h - the subset of JSON Schema used by tools.json inputSchema:
 * type, properties, required, additionalProperties:false, enum, minimum,
 * maximum, exclusiveMinimum, minLength, maxLength. Unknown keywords are
 * ignored. Pure logic, unit-tested. */
#ifndef SW_SCHEMA_H
#define SW_SCHEMA_H

#include <stddef.h>
#include <jansson.h>

/* Returns 0 when value matches schema; otherwise -1 and a sentence in err
 * naming the offending argument. */
int sw_schema_check(const json_t *schema, const json_t *value, char *err,
    size_t err_size);

#endif /* SW_SCHEMA_H */
