/* cpu_diffusion.c: the IDDPM update step of the residual diffusion. */
#include "cpu_ops.h"

hart_status cpu_ddpm_step(hart_backend *be, const hart_ddpm_args *a)
{
  return hart_fail(be->err, HART_ERR_UNSUPPORTED, "cpu ddpm_step: not implemented yet");
}
