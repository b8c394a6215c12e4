/* cpu_attn.c: rotary embedding + KV cache append, and attention over the cache. */
#include "cpu_ops.h"

hart_status cpu_rope_append(hart_backend *be, const hart_rope_args *a)
{
  return hart_fail(be->err, HART_ERR_UNSUPPORTED, "cpu rope_append: not implemented yet");
}

hart_status cpu_attention(hart_backend *be, float *o, const float *q, const float *k_cache,
                          const float *v_cache, int64_t G, int64_t H, int64_t n, int64_t L,
                          int64_t Lmax, int64_t hd, float scale)
{
  return hart_fail(be->err, HART_ERR_UNSUPPORTED, "cpu attention: not implemented yet");
}
