/* vae_random.c: a tokenizer tensor set with seeded random weights at a configuration's shapes,
 * for benchmarks and tests at the released shapes without the real files. Distributions as the
 * golden models (shared/golden/README.md): conv weights N(0, 1/fan_in), biases N(0, 0.05^2),
 * norm weights 1 + N(0, 0.01^2), norm biases N(0, 0.01^2), codebook N(0, 0.25). */
#include "vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "philox.h"
#include "tensor_set.h"

typedef struct {
  hart_tensor_set *set;
  uint64_t seed;
  uint32_t stream;
  int failed;
} rnd_builder;

static void add_tensor(rnd_builder *r, const char *name, int ndim, const int64_t *shape,
                       double mean, double std)
{
  hart_tensor *t;
  int64_t n = 1;
  float *data;
  if (r->failed)
    return;
  for (int i = 0; i < ndim; i++)
    n *= shape[i];
  data = malloc((size_t)n * sizeof(float));
  if (data == NULL || hart_tensor_set_keep_buffer(r->set, data) != 0 ||
      (t = hart_tensor_set_add(r->set, name)) == NULL) {
    r->failed = 1;
    return;
  }
  for (int64_t i = 0; i < n; i++)
    data[i] = (float)(mean + std * hart_philox_normal(r->seed, 0x30000u, r->stream, (uint64_t)i));
  r->stream++;
  t->dtype = HART_DT_F32;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++)
    t->shape[i] = shape[i];
  t->data = data;
  t->nbytes = (size_t)n * sizeof(float);
}

/* Name buffers shrink towards the callers (128 -> 192 -> 256) so that every composed name
 * provably fits: the compiler checks the worst case at -O3. */
static void add_conv(rnd_builder *r, const char *prefix, int cout, int cin, int k)
{
  char name[256];
  int64_t ws[4] = { cout, cin, k, k }, bs[1] = { cout };
  snprintf(name, sizeof name, "%s.weight", prefix);
  add_tensor(r, name, 4, ws, 0.0, 1.0 / sqrt((double)cin * k * k));
  snprintf(name, sizeof name, "%s.bias", prefix);
  add_tensor(r, name, 1, bs, 0.0, 0.05);
}

static void add_norm(rnd_builder *r, const char *prefix, int c)
{
  char name[256];
  int64_t s[1] = { c };
  snprintf(name, sizeof name, "%s.weight", prefix);
  add_tensor(r, name, 1, s, 1.0, 0.01);
  snprintf(name, sizeof name, "%s.bias", prefix);
  add_tensor(r, name, 1, s, 0.0, 0.01);
}

static void add_resblock(rnd_builder *r, const char *prefix, int cin, int cout)
{
  char name[192];
  snprintf(name, sizeof name, "%s.norm1", prefix);
  add_norm(r, name, cin);
  snprintf(name, sizeof name, "%s.conv1", prefix);
  add_conv(r, name, cout, cin, 3);
  snprintf(name, sizeof name, "%s.norm2", prefix);
  add_norm(r, name, cout);
  snprintf(name, sizeof name, "%s.conv2", prefix);
  add_conv(r, name, cout, cout, 3);
  if (cin != cout) {
    snprintf(name, sizeof name, "%s.nin_shortcut", prefix);
    add_conv(r, name, cout, cin, 1);
  }
}

static void add_attn(rnd_builder *r, const char *prefix, int c)
{
  char name[192];
  snprintf(name, sizeof name, "%s.norm", prefix);
  add_norm(r, name, c);
  snprintf(name, sizeof name, "%s.qkv", prefix);
  add_conv(r, name, 3 * c, c, 1);
  snprintf(name, sizeof name, "%s.proj_out", prefix);
  add_conv(r, name, c, c, 1);
}

hart_status hart_vae_random_weights(const hart_vae_config *cfg, uint64_t seed,
                                    hart_tensor_set **out, hart_error *err)
{
  rnd_builder r = { 0 };
  int n = cfg->n_ch_mult, Cv = cfg->z_channels, block_in;
  int64_t cb[2] = { cfg->vocab_size, Cv };
  char name[128];

  *out = NULL;
  r.set = hart_tensor_set_new("random tokenizer weights");
  r.seed = seed;
  if (r.set == NULL)
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory");
  add_tensor(&r, "vae.quantize.embedding.weight", 2, cb, 0.0, 0.5);
  for (int j = 0; j < cfg->share_quant_resi; j++) {
    snprintf(name, sizeof name, "vae.quantize.quant_resi.qresi_ls.%d", j);
    add_conv(&r, name, Cv, Cv, 3);
  }
  add_conv(&r, "vae.post_quant_conv", Cv, Cv, 3);
  block_in = cfg->ch * cfg->ch_mult[n - 1];
  add_conv(&r, "vae.decoder.conv_in", block_in, Cv, 3);
  add_resblock(&r, "vae.decoder.mid.block_1", block_in, block_in);
  add_attn(&r, "vae.decoder.mid.attn_1", block_in);
  add_resblock(&r, "vae.decoder.mid.block_2", block_in, block_in);
  for (int lv = n - 1; lv >= 0; lv--) {
    int block_out = cfg->ch * cfg->ch_mult[lv];
    for (int i = 0; i < 3; i++) {
      snprintf(name, sizeof name, "vae.decoder.up.%d.block.%d", lv, i);
      add_resblock(&r, name, block_in, block_out);
      block_in = block_out;
      if (lv == n - 1) {
        snprintf(name, sizeof name, "vae.decoder.up.%d.attn.%d", lv, i);
        add_attn(&r, name, block_in);
      }
    }
    if (lv > 0) {
      snprintf(name, sizeof name, "vae.decoder.up.%d.upsample.conv", lv);
      add_conv(&r, name, block_in, block_in, 3);
    }
  }
  add_norm(&r, "vae.decoder.norm_out", block_in);
  add_conv(&r, "vae.decoder.conv_out", 3, block_in, 3);
  if (r.failed) {
    hart_tensor_set_free(r.set);
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory for random tokenizer weights");
  }
  *out = r.set;
  return HART_OK;
}
