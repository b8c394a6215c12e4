/* backend_profile.c: the op-level profiler (backend_profile.h).
 *
 * One wrapper per op: sync the wrapped backend, read the clock, run the op, sync, read the clock,
 * and add the difference to the entry of its key. Memory management and queries are forwarded
 * untimed. Ops the wrapped backend lacks stay NULL, so callers that test for an op still see
 * what the real backend offers. */
#include "backend_profile.h"

#include <glib.h>
#include <inttypes.h>
#include <string.h>

typedef struct {
  char *key;
  char *op; /* the op's name alone, for the per-op totals */
  double seconds;
  int64_t calls;
} ProfEntry;

typedef struct {
  hart_backend *inner;
  hart_backend_ops ops;
  GHashTable *entries; /* key -> ProfEntry */
} Profiler;

static Profiler *prof_of(hart_backend *be)
{
  return be->priv;
}

/* The wrapped backend, with the owner's error slot (set on the wrapper after creation). */
static hart_backend *inner_of(hart_backend *be)
{
  Profiler *p = prof_of(be);
  p->inner->err = be->err;
  return p->inner;
}

static void entry_free(gpointer data)
{
  ProfEntry *e = data;
  g_free(e->key);
  g_free(e->op);
  g_free(e);
}

/* Waits for the wrapped backend's queued work, so that the clock read next starts clean. */
static double clock_start(hart_backend *be)
{
  hart_backend *in = inner_of(be);
  in->ops->sync(in);
  return (double)g_get_monotonic_time() / 1e6;
}

static hart_status clock_stop(hart_backend *be, double t0, hart_status st, const char *op,
                              const char *shape)
{
  Profiler *p = prof_of(be);
  char *key = g_strdup_printf("%s%s%s", op, shape[0] ? " " : "", shape);
  ProfEntry *e;
  if (st == HART_OK)
    st = p->inner->ops->sync(p->inner);
  e = g_hash_table_lookup(p->entries, key);
  if (e == NULL) {
    e = g_new0(ProfEntry, 1);
    e->key = key;
    e->op = g_strdup(op);
    g_hash_table_insert(p->entries, e->key, e);
  } else {
    g_free(key);
  }
  e->seconds += (double)g_get_monotonic_time() / 1e6 - t0;
  e->calls++;
  return st;
}

/* TIMED(be, op, shape-format, shape-args...)(call): times one forwarded call. */
#define TIMED(opname, call, ...)                                                                   \
  do {                                                                                             \
    char shape_[96];                                                                               \
    double t0_ = clock_start(be);                                                                  \
    hart_status st_ = (call);                                                                      \
    snprintf(shape_, sizeof shape_, __VA_ARGS__);                                                  \
    return clock_stop(be, t0_, st_, opname, shape_);                                               \
  } while (0)

#define IN inner_of(be)
#define I64(x) ((long long)(x))

/* ---- forwarded untimed ---- */

static void w_destroy(hart_backend *be)
{
  Profiler *p = prof_of(be);
  p->inner->ops->destroy(p->inner);
  g_hash_table_destroy(p->entries);
  g_free(p);
  g_free(be);
}

static void *w_alloc(hart_backend *be, size_t bytes)
{
  return IN->ops->alloc(IN, bytes);
}

static void w_free(hart_backend *be, void *ptr)
{
  IN->ops->free(IN, ptr);
}

static hart_status w_sync(hart_backend *be)
{
  return IN->ops->sync(IN);
}

static hart_bw *w_weight_new(hart_backend *be, const float *host, int ndim, const int64_t *shape,
                             hart_wuse use)
{
  return IN->ops->weight_new(IN, host, ndim, shape, use);
}

static void w_weight_free(hart_backend *be, hart_bw *w)
{
  IN->ops->weight_free(IN, w);
}

static hart_kv_cache *w_kv_cache_new(hart_backend *be, int64_t layers, int64_t G, int64_t H,
                                     int64_t hd, int64_t capacity)
{
  return IN->ops->kv_cache_new(IN, layers, G, H, hd, capacity);
}

static void w_kv_cache_free(hart_backend *be, hart_kv_cache *kv)
{
  IN->ops->kv_cache_free(IN, kv);
}

static hart_status w_kv_cache_read(hart_backend *be, const hart_kv_cache *kv, int64_t layer,
                                   int64_t L, float *k_host, float *v_host)
{
  return IN->ops->kv_cache_read(IN, kv, layer, L, k_host, v_host);
}

static hart_status w_mem_stats(hart_backend *be, size_t *used, size_t *peak, size_t *total)
{
  return IN->ops->mem_stats(IN, used, peak, total);
}

/* ---- memory traffic ---- */

static hart_status w_upload(hart_backend *be, void *dst, const void *src, size_t bytes)
{
  TIMED("upload", IN->ops->upload(IN, dst, src, bytes), "%zu B", bytes);
}

static hart_status w_download(hart_backend *be, void *dst, const void *src, size_t bytes)
{
  TIMED("download", IN->ops->download(IN, dst, src, bytes), "%zu B", bytes);
}

static hart_status w_copy(hart_backend *be, void *dst, const void *src, size_t bytes)
{
  TIMED("copy", IN->ops->copy(IN, dst, src, bytes), "%zu B", bytes);
}

static hart_status w_fill(hart_backend *be, float *dst, float value, int64_t n)
{
  TIMED("fill", IN->ops->fill(IN, dst, value, n), "%lld", I64(n));
}

/* ---- dense and normalisation ---- */

static hart_status w_linear(hart_backend *be, float *y, const float *x, const hart_bw *w,
                            const hart_bw *b, int64_t M, int64_t N, int64_t K, float beta)
{
  TIMED("linear", IN->ops->linear(IN, y, x, w, b, M, N, K, beta), "M%lld N%lld K%lld", I64(M),
        I64(N), I64(K));
}

static hart_status w_matmul_w(hart_backend *be, float *y, const float *x, const hart_bw *w,
                              int64_t M, int64_t N, int64_t K)
{
  TIMED("matmul_w", IN->ops->matmul_w(IN, y, x, w, M, N, K), "M%lld N%lld K%lld", I64(M), I64(N),
        I64(K));
}

static hart_status w_embed_rows(hart_backend *be, float *y, const hart_bw *table,
                                const int32_t *idx, int64_t n, int64_t C)
{
  TIMED("embed_rows", IN->ops->embed_rows(IN, y, table, idx, n, C), "%lldx%lld", I64(n), I64(C));
}

static hart_status w_rmsnorm(hart_backend *be, float *y, const float *x, const hart_bw *w,
                             int64_t rows, int64_t C, float eps)
{
  TIMED("rmsnorm", IN->ops->rmsnorm(IN, y, x, w, rows, C, eps), "%lldx%lld", I64(rows), I64(C));
}

static hart_status w_layernorm(hart_backend *be, float *y, const float *x, const hart_bw *w,
                               const hart_bw *b, int64_t rows, int64_t C, float eps)
{
  TIMED("layernorm", IN->ops->layernorm(IN, y, x, w, b, rows, C, eps), "%lldx%lld", I64(rows),
        I64(C));
}

static hart_status w_groupnorm(hart_backend *be, float *y, const float *x, const hart_bw *w,
                               const hart_bw *b, int64_t N, int64_t C, int64_t HW, int groups,
                               float eps, int silu)
{
  TIMED("groupnorm", IN->ops->groupnorm(IN, y, x, w, b, N, C, HW, groups, eps, silu),
        "%lldx%lld HW%lld%s", I64(N), I64(C), I64(HW), silu ? " +silu" : "");
}

/* ---- element-wise ---- */

static hart_status w_silu(hart_backend *be, float *y, const float *x, int64_t n)
{
  TIMED("silu", IN->ops->silu(IN, y, x, n), "%lld", I64(n));
}

static hart_status w_silu_mul(hart_backend *be, float *y, const float *a, const float *b, int64_t n)
{
  TIMED("silu_mul", IN->ops->silu_mul(IN, y, a, b, n), "%lld", I64(n));
}

static hart_status w_axpby(hart_backend *be, float *y, float alpha, const float *a, float beta,
                           const float *b, int64_t n)
{
  TIMED("axpby", IN->ops->axpby(IN, y, alpha, a, beta, b, n), "%lld", I64(n));
}

static hart_status w_add_row(hart_backend *be, float *y, const float *x, const float *v,
                             int64_t rows, int64_t C)
{
  TIMED("add_row", IN->ops->add_row(IN, y, x, v, rows, C), "%lldx%lld", I64(rows), I64(C));
}

static hart_status w_modulate(hart_backend *be, float *y, const float *x, const float *scale,
                              const float *shift, int64_t rows, int64_t C, int64_t rpg, int64_t ld)
{
  TIMED("modulate", IN->ops->modulate(IN, y, x, scale, shift, rows, C, rpg, ld), "%lldx%lld",
        I64(rows), I64(C));
}

static hart_status w_gated_add(hart_backend *be, float *y, const float *gate, const float *x,
                               int64_t rows, int64_t C, int64_t rpg, int64_t ld)
{
  TIMED("gated_add", IN->ops->gated_add(IN, y, gate, x, rows, C, rpg, ld), "%lldx%lld", I64(rows),
        I64(C));
}

static hart_status w_pool_max(hart_backend *be, float *y, const float *x, int64_t G, int64_t n,
                              int64_t C)
{
  TIMED("pool_max", IN->ops->pool_max(IN, y, x, G, n, C), "%lldx%lldx%lld", I64(G), I64(n), I64(C));
}

static hart_status w_pool_mean_masked(hart_backend *be, float *y, const float *x, const float *mask,
                                      int64_t G, int64_t n, int64_t C)
{
  TIMED("pool_mean_masked", IN->ops->pool_mean_masked(IN, y, x, mask, G, n, C), "%lldx%lldx%lld",
        I64(G), I64(n), I64(C));
}

static hart_status w_transpose(hart_backend *be, float *y, const float *x, int64_t batch,
                               int64_t rows, int64_t cols)
{
  TIMED("transpose", IN->ops->transpose(IN, y, x, batch, rows, cols), "%lldx%lldx%lld", I64(batch),
        I64(rows), I64(cols));
}

/* ---- attention, sampling, diffusion ---- */

static hart_status w_rope_append(hart_backend *be, const hart_rope_args *a)
{
  TIMED("rope_append", IN->ops->rope_append(IN, a), "G%lld n%lld", I64(a->G), I64(a->n));
}

static hart_status w_attention(hart_backend *be, float *o, const float *q, const hart_kv_cache *kv,
                               int64_t layer, int64_t n, int64_t L, float scale)
{
  TIMED("attention", IN->ops->attention(IN, o, q, kv, layer, n, L, scale), "n%lld L%lld", I64(n),
        I64(L));
}

static hart_status w_sample(hart_backend *be, const hart_sample_args *a)
{
  TIMED("sample", IN->ops->sample(IN, a), "n%lld V%lld", I64(a->B * a->n), I64(a->V));
}

static hart_status w_ddpm_step(hart_backend *be, const hart_ddpm_args *a)
{
  TIMED("ddpm_step", IN->ops->ddpm_step(IN, a), "N%lld", I64(a->N));
}

/* ---- images ---- */

static hart_status w_conv2d(hart_backend *be, float *y, const float *x, const hart_bw *w,
                            const hart_bw *b, int64_t N, int64_t Cin, int64_t H, int64_t W,
                            int64_t Cout, int k)
{
  TIMED("conv2d", IN->ops->conv2d(IN, y, x, w, b, N, Cin, H, W, Cout, k),
        "%lld->%lld k%d %lldx%lld", I64(Cin), I64(Cout), k, I64(H), I64(W));
}

static hart_status w_upsample2x(hart_backend *be, float *y, const float *x, int64_t NC, int64_t H,
                                int64_t W)
{
  TIMED("upsample2x", IN->ops->upsample2x(IN, y, x, NC, H, W), "%lld %lldx%lld", I64(NC), I64(H),
        I64(W));
}

static hart_status w_resize_bicubic(hart_backend *be, float *y, const float *x, int64_t NC,
                                    int64_t hin, int64_t win, int64_t hout, int64_t wout)
{
  TIMED("resize_bicubic", IN->ops->resize_bicubic(IN, y, x, NC, hin, win, hout, wout),
        "%lld %lld->%lld", I64(NC), I64(hin), I64(hout));
}

static hart_status w_resize_area(hart_backend *be, float *y, const float *x, int64_t NC,
                                 int64_t hin, int64_t win, int64_t hout, int64_t wout)
{
  TIMED("resize_area", IN->ops->resize_area(IN, y, x, NC, hin, win, hout, wout), "%lld %lld->%lld",
        I64(NC), I64(hin), I64(hout));
}

static hart_status w_bmm(hart_backend *be, float *c, const float *a, const float *b, int64_t batch,
                         int64_t M, int64_t N, int64_t K, int trans_a, int trans_b, float alpha)
{
  TIMED("bmm", IN->ops->bmm(IN, c, a, b, batch, M, N, K, trans_a, trans_b, alpha),
        "%lldx M%lld N%lld K%lld", I64(batch), I64(M), I64(N), I64(K));
}

static hart_status w_softmax_rows(hart_backend *be, float *y, const float *x, int64_t rows,
                                  int64_t n)
{
  TIMED("softmax_rows", IN->ops->softmax_rows(IN, y, x, rows, n), "%lldx%lld", I64(rows), I64(n));
}

static hart_status w_clamp(hart_backend *be, float *y, const float *x, int64_t n, float lo,
                           float hi)
{
  TIMED("clamp", IN->ops->clamp(IN, y, x, n, lo, hi), "%lld", I64(n));
}

/* ---- text encoder ---- */

static hart_status w_rope_inplace(hart_backend *be, float *x, const float *cos, const float *sin,
                                  int64_t G, int64_t n, int64_t H, int64_t hd)
{
  TIMED("rope_inplace", IN->ops->rope_inplace(IN, x, cos, sin, G, n, H, hd), "G%lld n%lld", I64(G),
        I64(n));
}

static hart_status w_attention_causal(hart_backend *be, float *o, const float *q, const float *k,
                                      const float *v, const float *key_mask, int64_t G, int64_t n,
                                      int64_t H, int64_t KV, int64_t hd, float scale)
{
  TIMED("attention_causal",
        IN->ops->attention_causal(IN, o, q, k, v, key_mask, G, n, H, KV, hd, scale), "G%lld n%lld",
        I64(G), I64(n));
}

/* Points each op of `p->ops` at its wrapper where the wrapped backend has the op. The graph_*
 * ops stay NULL: callers then issue every op, which is what a profile must see. */
#define SET(name) p->ops.name = src->name ? w_##name : NULL
static void fill_ops(Profiler *p, const hart_backend_ops *src)
{
  SET(destroy);
  SET(alloc);
  SET(free);
  SET(upload);
  SET(download);
  SET(copy);
  SET(fill);
  SET(sync);
  SET(weight_new);
  SET(weight_free);
  SET(linear);
  SET(matmul_w);
  SET(embed_rows);
  SET(rmsnorm);
  SET(layernorm);
  SET(groupnorm);
  SET(silu);
  SET(silu_mul);
  SET(axpby);
  SET(add_row);
  SET(modulate);
  SET(gated_add);
  SET(pool_max);
  SET(pool_mean_masked);
  SET(transpose);
  SET(kv_cache_new);
  SET(kv_cache_free);
  SET(kv_cache_read);
  SET(rope_append);
  SET(attention);
  SET(sample);
  SET(ddpm_step);
  SET(conv2d);
  SET(upsample2x);
  SET(resize_bicubic);
  SET(resize_area);
  SET(bmm);
  SET(softmax_rows);
  SET(clamp);
  SET(rope_inplace);
  SET(attention_causal);
  SET(mem_stats);
}
#undef SET

hart_backend *hart_backend_profile_new(hart_backend *inner)
{
  /* GLib's allocators abort when memory is out; two small blocks are not worth a failure path. */
  hart_backend *be = g_new0(hart_backend, 1);
  Profiler *p = g_new0(Profiler, 1);
  p->inner = inner;
  p->entries = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, entry_free);
  fill_ops(p, inner->ops);
  be->ops = &p->ops;
  be->err = inner->err;
  be->n_threads = inner->n_threads;
  memcpy(be->name, inner->name, sizeof be->name);
  memcpy(be->device, inner->device, sizeof be->device);
  be->priv = p;
  return be;
}

void hart_backend_profile_reset(hart_backend *be)
{
  g_hash_table_remove_all(prof_of(be)->entries);
}

static gint by_seconds_desc(gconstpointer a, gconstpointer b)
{
  const ProfEntry *x = *(ProfEntry *const *)a, *y = *(ProfEntry *const *)b;
  return x->seconds < y->seconds ? 1 : x->seconds > y->seconds ? -1 : 0;
}

void hart_backend_profile_print(hart_backend *be, FILE *out, int top, int per)
{
  Profiler *p = prof_of(be);
  GPtrArray *rows = g_ptr_array_new(), *ops = g_ptr_array_new_with_free_func(entry_free);
  GHashTable *by_op = g_hash_table_new(g_str_hash, g_str_equal);
  GHashTableIter it;
  gpointer value;
  double total = 0.0;
  if (per < 1)
    per = 1;
  g_hash_table_iter_init(&it, p->entries);
  while (g_hash_table_iter_next(&it, NULL, &value)) {
    ProfEntry *e = value, *o = g_hash_table_lookup(by_op, e->op);
    g_ptr_array_add(rows, e);
    total += e->seconds;
    if (o == NULL) {
      o = g_new0(ProfEntry, 1);
      o->key = g_strdup(e->op);
      o->op = g_strdup(e->op);
      g_ptr_array_add(ops, o);
      g_hash_table_insert(by_op, o->key, o);
    }
    o->seconds += e->seconds;
    o->calls += e->calls;
  }
  g_ptr_array_sort(rows, by_seconds_desc);
  g_ptr_array_sort(ops, by_seconds_desc);
  fprintf(out, "op profile (%s, synchronised after every op; per image over %d): %.1f ms\n",
          be->name, per, total * 1e3 / per);
  fprintf(out, "  %-44s %10s %7s %6s\n", "op and shape", "ms", "calls", "share");
  for (guint i = 0; i < rows->len && (int)i < top; i++) {
    ProfEntry *e = rows->pdata[i];
    fprintf(out, "  %-44s %10.2f %7" PRId64 " %5.1f%%\n", e->key, e->seconds * 1e3 / per,
            e->calls / per, total > 0 ? 100.0 * e->seconds / total : 0.0);
  }
  fprintf(out, "  by op:\n");
  for (guint i = 0; i < ops->len; i++) {
    ProfEntry *e = ops->pdata[i];
    fprintf(out, "  %-44s %10.2f %7" PRId64 " %5.1f%%\n", e->key, e->seconds * 1e3 / per,
            e->calls / per, total > 0 ? 100.0 * e->seconds / total : 0.0);
  }
  g_hash_table_destroy(by_op);
  g_ptr_array_free(ops, TRUE);
  g_ptr_array_free(rows, TRUE);
}
