/* error.h: the engine's internal error record: a status plus a message naming the file/key. */
#ifndef HART_ERROR_H
#define HART_ERROR_H

#include "hart.h"

#define HART_ERROR_MAX 512

typedef struct {
  hart_status code;
  char msg[HART_ERROR_MAX];
} hart_error;

/* Sets err (if non-NULL) and returns code, so callers can `return hart_fail(err, ...)`. */
hart_status hart_fail(hart_error *err, hart_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void hart_error_clear(hart_error *err);

#endif
