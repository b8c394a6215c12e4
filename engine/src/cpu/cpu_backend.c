/* cpu_backend.c: the CPU backend: host memory, fp32 weights, and the op table. */
#include "cpu_ops.h"

#include <cblas.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static void cpu_destroy(hart_backend *be)
{
  cpu_priv *p = be->priv;
  if (p)
    free(p->attn_scratch);
  free(p);
  free(be);
}

float *cpu_attn_scratch(hart_backend *be, size_t n)
{
  cpu_priv *p = be->priv;
  /* grows to the largest stage once, then is reused by every later call */
  if (n > p->attn_cap) {
    float *q = realloc(p->attn_scratch, n * sizeof(float));
    if (q == NULL)
      return NULL;
    p->attn_scratch = q;
    p->attn_cap = n;
  }
  return p->attn_scratch;
}

static void *cpu_alloc(hart_backend *be, size_t bytes)
{
  /* 64-byte alignment for SIMD loads; calloc semantics promised by the op table. */
  void *p = NULL;
  size_t rounded = (bytes + 63) & ~(size_t)63;
  if (rounded == 0)
    rounded = 64;
  if (posix_memalign(&p, 64, rounded) != 0) {
    hart_fail(be->err, HART_ERR_NO_MEMORY, "out of memory allocating %zu bytes", bytes);
    return NULL;
  }
  memset(p, 0, rounded);
  return p;
}

static void cpu_free(hart_backend *be, void *p)
{
  free(p);
}

static hart_status cpu_memcpy(hart_backend *be, void *dst, const void *src, size_t bytes)
{
  if (bytes)
    memmove(dst, src, bytes);
  return HART_OK;
}

static hart_status cpu_fill(hart_backend *be, float *dst, float value, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    dst[i] = value;
  return HART_OK;
}

static hart_status cpu_sync(hart_backend *be)
{
  return HART_OK;
}

static hart_bw *cpu_weight_new(hart_backend *be, const float *host, int ndim, const int64_t *shape,
                               hart_wuse use)
{
  hart_bw *w = calloc(1, sizeof *w);
  if (w == NULL || ndim > 4) {
    free(w);
    hart_fail(be->err, HART_ERR_NO_MEMORY, "out of memory for a weight");
    return NULL;
  }
  w->ndim = ndim;
  w->numel = 1;
  for (int i = 0; i < ndim; i++) {
    w->shape[i] = shape[i];
    w->numel *= shape[i];
  }
  w->use = use;
  w->data = cpu_alloc(be, (size_t)w->numel * sizeof(float));
  if (w->data == NULL) {
    free(w);
    return NULL;
  }
  memcpy(w->data, host, (size_t)w->numel * sizeof(float));
  return w;
}

static void cpu_weight_free(hart_backend *be, hart_bw *w)
{
  if (w == NULL)
    return;
  free(w->data);
  free(w);
}

static const hart_backend_ops cpu_ops = {
  .destroy = cpu_destroy,
  .alloc = cpu_alloc,
  .free = cpu_free,
  .upload = cpu_memcpy,
  .download = cpu_memcpy,
  .copy = cpu_memcpy,
  .fill = cpu_fill,
  .sync = cpu_sync,
  .weight_new = cpu_weight_new,
  .weight_free = cpu_weight_free,
  .linear = cpu_linear,
  .matmul_w = cpu_matmul_w,
  .embed_rows = cpu_embed_rows,
  .rmsnorm = cpu_rmsnorm,
  .layernorm = cpu_layernorm,
  .groupnorm = cpu_groupnorm,
  .silu = cpu_silu,
  .silu_mul = cpu_silu_mul,
  .axpby = cpu_axpby,
  .add_row = cpu_add_row,
  .modulate = cpu_modulate,
  .gated_add = cpu_gated_add,
  .pool_max = cpu_pool_max,
  .pool_mean_masked = cpu_pool_mean_masked,
  .transpose = cpu_transpose,
  .kv_cache_new = cpu_kv_cache_new,
  .kv_cache_free = cpu_kv_cache_free,
  .kv_cache_read = cpu_kv_cache_read,
  .rope_append = cpu_rope_append,
  .attention = cpu_attention,
  .sample = cpu_sample,
  .ddpm_step = cpu_ddpm_step,
  .conv2d = cpu_conv2d,
  .upsample2x = cpu_upsample2x,
  .resize_bicubic = cpu_resize_bicubic,
  .resize_area = cpu_resize_area,
  .bmm = cpu_bmm,
  .softmax_rows = cpu_softmax_rows,
  .clamp = cpu_clamp,
  .rope_inplace = cpu_rope_inplace,
  .attention_causal = cpu_attention_causal,
};

hart_status hart_backend_cpu_new(int n_threads, hart_error *err, hart_backend **out)
{
  hart_backend *be = calloc(1, sizeof *be);

  *out = NULL;
  if (be == NULL)
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory");
  if (n_threads <= 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    n_threads = n > 0 ? (int)n : 1;
  }
  be->priv = calloc(1, sizeof(cpu_priv));
  if (be->priv == NULL) {
    free(be);
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory");
  }
  be->ops = &cpu_ops;
  be->err = err;
  be->n_threads = n_threads;
  strcpy(be->name, "cpu");
  snprintf(be->device, sizeof be->device, "CPU (%d threads)", n_threads);
#ifdef _OPENMP
  omp_set_num_threads(n_threads);
#endif
  /* OpenBLAS keeps its own pool: give it the same count. */
  openblas_set_num_threads(n_threads);
  *out = be;
  return HART_OK;
}
