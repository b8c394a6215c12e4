/* cpu_diffusion.c: the IDDPM update step of the residual diffusion (hart-spec §1.8; the formula
 * is documented with hart_ddpm_args in backend.h).
 *
 * Without replay noise the standard normals come from hart_philox_normal (philox.h): element
 * i = r*Cv + c of the step's noise is normal number i of Philox stream (a->stage, 2 + a->step)
 * under key a->seed (Box-Muller on uniforms 2*(i/2), 2*(i/2)+1, double math rounded to float).
 * The CUDA backend uses the same function, so both draw the same noise. */
#include "cpu_ops.h"

#include <math.h>

#include "../philox.h"

hart_status cpu_ddpm_step(hart_backend *be, const hart_ddpm_args *a)
{
  int64_t N = a->N, Cv = a->Cv;

#pragma omp parallel for
  for (int64_t r = 0; r < N; r++) {
    const float *oc = a->out + r * 2 * Cv;       /* conditional row: [eps | v] */
    const float *ou = a->out + (N + r) * 2 * Cv; /* unconditional row */
    float *x = a->x + r * Cv;
    for (int64_t c = 0; c < Cv; c++) {
      float eps = (1.0f + a->cfg) * oc[c] - a->cfg * ou[c];
      float v = oc[Cv + c];
      float x0 = a->A * x[c] - a->Bm * eps;
      float mean, f, logv, nz;
      x0 = x0 < -1.0f ? -1.0f : (x0 > 1.0f ? 1.0f : x0);
      mean = a->P1 * x0 + a->P2 * x[c];
      f = (v + 1.0f) / 2.0f;
      logv = f * a->LB + (1.0f - f) * a->LP;
      if (a->add_noise) {
        nz = a->noise ? a->noise[r * Cv + c]
                      : hart_philox_normal(a->seed, a->stage, 2u + a->step, (uint64_t)(r * Cv + c));
        x[c] = mean + expf(0.5f * logv) * nz;
      } else {
        x[c] = mean;
      }
    }
  }
  return HART_OK;
}
