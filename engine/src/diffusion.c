/* diffusion.c: the residual diffusion MLP and its IDDPM sampler. */
#include "diffusion.h"

hart_status hart_diffusion_load(hart_backend *be, const hart_tensor_set *llm,
                                const hart_llm_config *cfg, int z_channels, hart_diffusion **out,
                                hart_error *err)
{
  *out = NULL;
  return hart_fail(err, HART_ERR_UNSUPPORTED, "diffusion: not implemented yet");
}

void hart_diffusion_free(hart_diffusion *d)
{
}

hart_status hart_diffusion_mlp(hart_diffusion *d, float *out, const float *x, float t_model,
                               const float *z, int64_t M)
{
  return HART_ERR_UNSUPPORTED;
}

hart_status hart_diffusion_sample(hart_diffusion *d, float *res, const float *z, int64_t N,
                                  float cfg, const hart_diffusion_opts *opts)
{
  return HART_ERR_UNSUPPORTED;
}

int hart_diffusion_steps(const hart_diffusion *d)
{
  return 8;
}
