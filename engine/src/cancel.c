/* cancel.c: thread-safe cancellation tokens. */
#include "hart.h"

#include <stdatomic.h>
#include <stdlib.h>

struct hart_cancel {
  atomic_int requested;
};

hart_cancel *hart_cancel_new(void)
{
  hart_cancel *c = malloc(sizeof *c);
  if (c)
    atomic_init(&c->requested, 0);
  return c;
}

void hart_cancel_request(hart_cancel *cancel)
{
  if (cancel)
    atomic_store(&cancel->requested, 1);
}

int hart_cancel_is_requested(const hart_cancel *cancel)
{
  return cancel ? atomic_load(&((hart_cancel *)cancel)->requested) : 0;
}

void hart_cancel_reset(hart_cancel *cancel)
{
  if (cancel)
    atomic_store(&cancel->requested, 0);
}

void hart_cancel_free(hart_cancel *cancel)
{
  free(cancel);
}
