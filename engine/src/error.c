/* error.c: setting error records and naming status codes. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

hart_status hart_fail(hart_error *err, hart_status code, const char *fmt, ...)
{
  va_list ap;

  if (err == NULL)
    return code;
  err->code = code;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return code;
}

void hart_error_clear(hart_error *err)
{
  if (err == NULL)
    return;
  err->code = HART_OK;
  err->msg[0] = '\0';
}

const char *hart_status_name(hart_status status)
{
  switch (status) {
  case HART_OK:
    return "ok";
  case HART_CANCELLED:
    return "cancelled";
  case HART_ERR_INVALID_ARGUMENT:
    return "invalid argument";
  case HART_ERR_IO:
    return "I/O error";
  case HART_ERR_FORMAT:
    return "format error";
  case HART_ERR_UNSUPPORTED:
    return "unsupported";
  case HART_ERR_NO_MEMORY:
    return "out of memory";
  case HART_ERR_DEVICE:
    return "device error";
  case HART_ERR_DEVICE_MEMORY:
    return "out of device memory";
  case HART_ERR_INTERNAL:
    return "internal error";
  default:
    return "unknown status";
  }
}

const char *hart_version(void)
{
  return HART_VERSION;
}
