/* fake-engine-runtime.c: the parts of hart.h that libhart keeps outside engine.c (status names,
 * version, cancellation flags), for tests that run the engine double without libhart at all.
 * Tests that link libhart anyway (the model manager needs its file checks) take these from the
 * library and link only fake-engine.c. */
#include "fake-engine.h"

#include <stdlib.h>

struct hart_cancel {
  gint requested;
};

const char *hart_status_name(hart_status status)
{
  return status == HART_OK ? "ok" : "fake error";
}

const char *hart_version(void)
{
  return "fake";
}

hart_cancel *hart_cancel_new(void)
{
  return calloc(1, sizeof(hart_cancel));
}

void hart_cancel_request(hart_cancel *cancel)
{
  g_atomic_int_set(&cancel->requested, 1);
}

int hart_cancel_is_requested(const hart_cancel *cancel)
{
  return g_atomic_int_get(&((hart_cancel *)cancel)->requested);
}

void hart_cancel_reset(hart_cancel *cancel)
{
  g_atomic_int_set(&cancel->requested, 0);
}

void hart_cancel_free(hart_cancel *cancel)
{
  free(cancel);
}
