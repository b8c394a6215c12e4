/* preview.h: cheap previews of a latent: a per-model linear map from the Cv latent channels
 * (plus a constant) to RGB, fitted once by least squares against the decoder.
 *
 * Fitting (hart_preview_fit, at model load or on the first cheap preview):
 *   1. build n sample latents of S x S (default 2 of 8x8) the way f_hat is built: a sum over
 *      scales pn = 1, 2, 4, ... S of codebook rows on a pn x pn grid (indices from Philox with a
 *      fixed key), bicubic-upsampled to S x S;
 *   2. decode them (hart_vae_decode) and area-downsample each image to S x S, so every latent
 *      pixel has the mean colour of the 16x16 (release) patch it decodes to;
 *   3. solve min ||X w - Y||^2 + lambda ||w||^2 over the n*S*S latent pixels (X = [latent, 1],
 *      Y = RGB in [-1, 1]) in double precision (normal equations, Cholesky). Each latent is
 *      first divided by its RMS (fit and use alike): the decoder's GroupNorms make the image
 *      nearly independent of the latent's overall scale, which grows during generation.
 * Cost: one decode of n*S*S latent pixels (the release decoder at 2 x 8x8 is ~1/32 of a 1024 px
 * decode); the projection itself is Cv+1 multiply-adds per channel and pixel.
 *
 * Use: hart_preview_rgb maps a latent [B, Cv, S, S] (backend memory, e.g. f_hat after a scale,
 * or f_hat + the current diffusion estimate) to S x S RGB8 for image b; the UI upscales it
 * (nearest). The bytes follow the image convention (clamp to [-1, 1], (x+1)/2*255 truncated). */
#ifndef HART_PREVIEW_H
#define HART_PREVIEW_H

#include <stdint.h>

#include "backend.h"
#include "vae.h"

#define HART_PREVIEW_MAX_CV 64
#define HART_PREVIEW_FIT_LATENTS 2
#define HART_PREVIEW_FIT_SIZE 8

typedef struct {
  int Cv;
  /* rgb[k] = sum_c w[k][c] * latent[c] + w[k][Cv], in the decoder's [-1, 1] units. */
  double w[3][HART_PREVIEW_MAX_CV + 1];
  double fit_psnr_db; /* PSNR (8-bit scale) of the fit on its own sample pixels */
} hart_preview_proj;

/* Fits the projection. n_latents, S: sample count and latent size (0: the defaults above). */
hart_status hart_preview_fit(hart_vae *vae, hart_backend *be, int n_latents, int S,
                             hart_preview_proj *proj, hart_error *err);

/* The least-squares step alone, from host data: latents lat [n][Cv][HW] and their decoded
 * colours tgt [n][3][HW] (in [-1, 1], downsampled to the latent grid). */
hart_status hart_preview_fit_data(const float *lat, const float *tgt, int n, int64_t HW, int Cv,
                                  hart_preview_proj *proj, hart_error *err);

/* rgb_out [S, S, 3] for image b of latent [B, Cv, S, S] in backend memory. */
hart_status hart_preview_rgb(const hart_preview_proj *proj, hart_backend *be, const float *latent,
                             int64_t b, int64_t S, uint8_t *rgb_out, hart_error *err);

/* The same from host memory: one latent [Cv, S, S]. */
void hart_preview_rgb_host(const hart_preview_proj *proj, const float *latent, int64_t S,
                           uint8_t *rgb_out);

#endif
