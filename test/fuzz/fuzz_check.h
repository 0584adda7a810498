/*
 * The harnesses' invariant check: a failed one aborts, which libFuzzer
 * reports as a crash with the input that broke it.
 */

#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define check(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond,          \
                    __FILE__, __LINE__);                                      \
            abort();                                                          \
        }                                                                     \
    } while (0)

#endif
