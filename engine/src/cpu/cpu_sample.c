/* cpu_sample.c: CFG mixing, top-k/top-p filtering, hard sampling and the Gumbel soft embedding. */
#include "cpu_ops.h"

hart_status cpu_sample(hart_backend *be, const hart_sample_args *a)
{
  return hart_fail(be->err, HART_ERR_UNSUPPORTED, "cpu sample: not implemented yet");
}
