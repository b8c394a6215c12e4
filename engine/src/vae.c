/* vae.c: codebook, phi convolutions and the decoder of the hybrid tokenizer. */
#include "vae.h"

hart_status hart_vae_load(hart_backend *be, const hart_tensor_set *tok, const hart_vae_config *cfg,
                          hart_vae **out, hart_error *err)
{
  *out = NULL;
  return hart_fail(err, HART_ERR_UNSUPPORTED, "VAE: not implemented yet");
}

void hart_vae_free(hart_vae *vae)
{
}

const hart_bw *hart_vae_codebook(const hart_vae *vae)
{
  return NULL;
}

hart_status hart_vae_phi(hart_vae *vae, int j, float *y, const float *x, int64_t B, int64_t S)
{
  return HART_ERR_UNSUPPORTED;
}

hart_status hart_vae_decode(hart_vae *vae, float *img, const float *fhat, int64_t B, int64_t S)
{
  return HART_ERR_UNSUPPORTED;
}

int hart_vae_upscale(const hart_vae *vae)
{
  return 16;
}
