/* cpu_sample.c: CFG mixing, top-k/top-p filtering, hard sampling and the Gumbel soft embedding.
 *
 * One row (= one token of one prompt) is independent of every other, so rows run in parallel and
 * every random draw is addressed by (seed, stage, stream, row*V + v): the result does not depend
 * on the thread count. Only kept entries matter after filtering (the others have probability 0
 * in both softmaxes), so draws are made for kept entries only. */
#include "cpu_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../philox.h"

/* Exp(1) draw -log(u), u in (0,1) from the engine's Philox stream. */
static float exp1_draw(uint64_t seed, uint32_t stage, uint32_t stream, uint64_t i)
{
  return -logf(hart_philox_uniform(seed, stage, stream, i));
}

/* The k-th largest of x[0..n) (1-based k), by quickselect on scratch (destroyed). */
static float kth_largest(float *w, int64_t n, int64_t k)
{
  int64_t lo = 0, hi = n - 1, target = k - 1;
  while (lo < hi) {
    float pivot = w[lo + (hi - lo) / 2];
    int64_t i = lo, j = hi;
    while (i <= j) {
      while (w[i] > pivot)
        i++;
      while (w[j] < pivot)
        j--;
      if (i <= j) {
        float tmp = w[i];
        w[i] = w[j];
        w[j] = tmp;
        i++;
        j--;
      }
    }
    if (target <= j)
      hi = j;
    else if (target >= i)
      lo = i;
    else
      break;
  }
  return w[target];
}

static int cmp_asc(const void *a, const void *b, void *ctx)
{
  const float *g = ctx;
  float x = g[*(const int32_t *)a], y = g[*(const int32_t *)b];
  if (x != y)
    return x < y ? -1 : 1;
  return *(const int32_t *)a - *(const int32_t *)b;
}

/* VAR's top-p on the top-k-filtered row: sort ascending, drop entries whose cumulative softmax
 * mass is <= 1 - top_p, never the largest. keep[] is updated in place. */
static void apply_top_p(const float *g, uint8_t *keep, int32_t *order, int64_t V, float top_p)
{
  float m = -INFINITY, sum = 0.0f, cum = 0.0f;
  for (int64_t v = 0; v < V; v++) {
    order[v] = (int32_t)v;
    if (keep[v])
      m = fmaxf(m, g[v]);
  }
  qsort_r(order, (size_t)V, sizeof(int32_t), cmp_asc, (void *)g);
  for (int64_t v = 0; v < V; v++)
    if (keep[v])
      sum += expf(g[v] - m);
  for (int64_t i = 0; i < V - 1; i++) {
    int32_t v = order[i];
    if (keep[v])
      cum += expf(g[v] - m) / sum;
    if (cum <= 1.0f - top_p)
      keep[v] = 0;
  }
}

typedef struct {
  float *g;       /* [V] mixed logits */
  uint8_t *keep;  /* [V] */
  int32_t *order; /* [V] */
  float *work;    /* [V] */
  int32_t *kept;  /* [V] kept ids, ascending */
} row_scratch;

/* Builds the kept set of one row; returns the number kept (ids ascending in s->kept). */
static int64_t filter_row(const hart_sample_args *a, int64_t r, row_scratch *s, int own)
{
  int64_t V = a->V, nk = 0;

  if (a->replay_keep && !own) {
    memset(s->keep, 0, (size_t)V);
    for (int64_t j = 0; j < a->replay_K; j++) {
      int64_t v = a->replay_keep[r * a->replay_K + j];
      if (v >= 0 && v < V)
        s->keep[v] = 1;
    }
  } else if (a->top_k > 0 && a->top_k < V) {
    float thr;
    memcpy(s->work, s->g, (size_t)V * sizeof(float));
    thr = kth_largest(s->work, V, a->top_k);
    for (int64_t v = 0; v < V; v++)
      s->keep[v] = !(s->g[v] < thr); /* ties at the threshold survive */
  } else {
    memset(s->keep, 1, (size_t)V);
  }
  if ((own || !a->replay_keep) && a->top_p > 0.0f)
    apply_top_p(s->g, s->keep, s->order, V, a->top_p);
  for (int64_t v = 0; v < V; v++)
    if (s->keep[v])
      s->kept[nk++] = (int32_t)v;
  return nk;
}

/* Hard sample: argmax_v softmax(g)_v / E_v over the kept entries (torch's exponential race). */
static int32_t hard_sample_row(const hart_sample_args *a, int64_t r, const row_scratch *s,
                               int64_t nk)
{
  float m = -INFINITY, sum = 0.0f, best = -1.0f;
  int32_t arg = s->kept[0];
  for (int64_t j = 0; j < nk; j++)
    m = fmaxf(m, s->g[s->kept[j]]);
  for (int64_t j = 0; j < nk; j++)
    sum += expf(s->g[s->kept[j]] - m);
  for (int64_t j = 0; j < nk; j++) {
    int32_t v = s->kept[j];
    float p = expf(s->g[v] - m) / sum;
    float e = exp1_draw(a->seed, a->stage, 0, (uint64_t)r * (uint64_t)a->V + (uint64_t)v);
    float q = p / e;
    if (q > best) {
      best = q;
      arg = v;
    }
  }
  return arg;
}

/* Gumbel soft embedding: h = softmax((g*mul + gumbel)/tau) @ codebook over the kept entries. */
static void soft_embed_row(const hart_sample_args *a, int64_t r, row_scratch *s, int64_t nk,
                           float *h)
{
  const float *cb = a->codebook->data;
  float *y = s->work, m = -INFINITY, sum = 0.0f;
  int64_t Cv = a->Cv;

  for (int64_t j = 0; j < nk; j++) {
    int32_t v = s->kept[j];
    float gum;
    if (a->replay_gumbel) {
      /* replay arrays hold the recorded noise at the recorded kept ids, in the same order */
      gum = a->replay_gumbel[r * a->replay_K + j];
    } else {
      gum = -logf(exp1_draw(a->seed, a->stage, 1, (uint64_t)r * (uint64_t)a->V + (uint64_t)v));
    }
    y[j] = (s->g[v] * a->smooth_mul + gum) / a->tau;
    m = fmaxf(m, y[j]);
  }
  for (int64_t j = 0; j < nk; j++) {
    y[j] = expf(y[j] - m);
    sum += y[j];
  }
  for (int64_t c = 0; c < Cv; c++)
    h[c] = 0.0f;
  for (int64_t j = 0; j < nk; j++) {
    float p = y[j] / sum;
    const float *e = cb + (int64_t)s->kept[j] * Cv;
    for (int64_t c = 0; c < Cv; c++)
      h[c] += p * e[c];
  }
}

hart_status cpu_sample(hart_backend *be, const hart_sample_args *a)
{
  int64_t rows = a->B * a->n, V = a->V, Cv = a->Cv;
  int failed = 0;

  if (a->codebook == NULL || a->codebook->shape[0] != V || a->codebook->shape[1] != Cv)
    return hart_fail(be->err, HART_ERR_INTERNAL, "sample: codebook shape mismatch");
  if (a->replay_gumbel && !a->replay_keep)
    return hart_fail(be->err, HART_ERR_INTERNAL, "sample: replayed Gumbel noise needs kept ids");
  if (a->smooth && !(a->tau > 0.0f))
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "sample: tau must be positive");

#pragma omp parallel
  {
    row_scratch s;
    s.g = malloc((size_t)V * sizeof(float));
    s.keep = malloc((size_t)V);
    s.order = malloc((size_t)V * sizeof(int32_t));
    s.work = malloc((size_t)V * sizeof(float));
    s.kept = malloc((size_t)V * sizeof(int32_t));
    if (!s.g || !s.keep || !s.order || !s.work || !s.kept) {
#pragma omp atomic write
      failed = 1;
    } else {
#pragma omp for
      for (int64_t r = 0; r < rows; r++) {
        const float *lc = a->logits + r * V, *lu = a->logits + (rows + r) * V;
        float tc = (float)(1.0 + (double)a->t), tu = a->t;
        int64_t nk;
        int32_t idx;

        /* CFG in fp32, as torch multiplies an fp32 tensor by a Python scalar. */
        for (int64_t v = 0; v < V; v++)
          s.g[v] = tc * lc[v] - tu * lu[v];
        if (a->keep_idx_host) {
          /* the dump reports the engine's own kept set, also when replaying another one */
          int64_t K = a->top_k > 0 ? a->top_k : V;
          nk = filter_row(a, r, &s, 1);
          for (int64_t j = 0; j < K; j++) {
            a->keep_idx_host[r * K + j] = j < nk ? s.kept[j] : -1;
            if (a->keep_logit_host)
              a->keep_logit_host[r * K + j] = j < nk ? s.g[s.kept[j]] : -INFINITY;
          }
        }
        nk = filter_row(a, r, &s, 0);
        if (nk == 0) {
#pragma omp atomic write
          failed = 2;
          continue;
        }
        if (a->replay_idx) {
          idx = (int32_t)a->replay_idx[r];
          if (idx < 0 || idx >= V) {
#pragma omp atomic write
            failed = 3;
            continue;
          }
        } else {
          idx = hard_sample_row(a, r, &s, nk);
        }
        a->idx_out[r] = idx;
        if (a->idx_host)
          a->idx_host[r] = idx;
        if (a->smooth)
          soft_embed_row(a, r, &s, nk, a->h_out + r * Cv);
        else
          memcpy(a->h_out + r * Cv, a->codebook->data + (int64_t)idx * Cv,
                 (size_t)Cv * sizeof(float));
      }
    }
    free(s.g);
    free(s.keep);
    free(s.order);
    free(s.work);
    free(s.kept);
  }
  if (failed == 1)
    return hart_fail(be->err, HART_ERR_NO_MEMORY, "sample: out of memory");
  if (failed == 2)
    return hart_fail(be->err, HART_ERR_INVALID_ARGUMENT,
                     "sample: a row has no finite logit left after filtering");
  if (failed == 3)
    return hart_fail(be->err, HART_ERR_FORMAT, "sample: replayed token id out of range");
  return HART_OK;
}
