/* bench-ops-pipeline.c: times the HART pipeline's op sequence at the released shapes on a backend,
 * with random weights, independent of the model driver: 14 scales of the transformer (batch 2 for
 * CFG, KV cache growing to 9750), head + sampler + latent update per scale, the 8-step diffusion
 * MLP over 8192 rows, and the VAE decoder to 1024x1024. Prints per-stage median milliseconds
 * (synchronised), peak device memory (CUDA) and the total. Not a test: run by
 * tests/gpu/gpu-check.sh.
 *
 *   bench-ops-pipeline [--backend cpu|cuda] [--depth N] [--runs N] [--scales N] [--no-decoder]
 *                      [--attn-compare]
 *
 * --attn-compare (CUDA): afterwards, times the attention op alone at the last four scales (every
 * layer, over the cache the runs filled) with the flash kernel, with HART_CUDA_ATTN=fa2 and with
 * fa2 in 128-query blocks (HART_CUDA_FLASH_BQ=128), and prints how far apart their outputs are at
 * the last scale. The pipeline itself runs with whatever
 * HART_CUDA_ATTN says (the fa2 kernel by default; HART_CUDA_ATTN=flash times the pipeline with
 * the flash kernel).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"

#define C_ 1536
#define H_ 24
#define HD_ 64
#define V_ 4096
#define CV_ 32
#define FF_ 4096
#define LMAX_ 9750
#define G_ 2
#define SN_ 14

static const int pn[SN_] = { 1, 2, 3, 4, 5, 7, 9, 12, 16, 21, 27, 36, 48, 64 };

static hart_backend *be;
static hart_error err;
static float *host_rand; /* one random host buffer reused for every weight (values irrelevant) */
static size_t host_rand_n;

static void die(const char *what)
{
  fprintf(stderr, "bench-ops-pipeline: %s: %s\n", what, err.msg);
  exit(1);
}

#define OK(call)                                                                                   \
  do {                                                                                             \
    if ((call) != HART_OK)                                                                         \
      die(#call);                                                                                  \
  } while (0)

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static hart_bw *W(int64_t n, int64_t k, hart_wuse use)
{
  int64_t shape[2] = { n, k };
  hart_bw *w;
  if ((size_t)(n * k) > host_rand_n) {
    fprintf(stderr, "weight too large for the random buffer\n");
    exit(1);
  }
  w = be->ops->weight_new(be, host_rand, use == HART_WUSE_VECTOR ? 1 : 2, shape, use);
  if (w == NULL)
    die("weight_new");
  if (use == HART_WUSE_VECTOR)
    w->shape[0] = n * k;
  return w;
}

static hart_bw *Wconv(int64_t co, int64_t ci, int k)
{
  int64_t shape[4] = { co, ci, k, k };
  hart_bw *w = be->ops->weight_new(be, host_rand, 4, shape, HART_WUSE_CONV);
  if (w == NULL)
    die("weight_new conv");
  return w;
}

static float *A(int64_t n)
{
  float *p = be->ops->alloc(be, (size_t)n * sizeof(float));
  if (p == NULL)
    die("alloc");
  return p;
}

/* ---- transformer ---- */

typedef struct {
  hart_bw *ln, *qkv, *qkv_b, *proj, *proj_b, *gate, *up, *down;
} block;

typedef struct {
  int depth;
  block *blk;
  hart_kv_cache *kv; /* all blocks; the backend's element type (CUDA: fp16) */
  hart_bw *head_ln, *head, *head_b, *word, *codebook, *phi, *phi_b;
  float *x, *a, *qkv, *q, *o, *t1, *t2, *t3, *cs, *sn, *logits, *ss, *h, *fhat, *u, *u2, *nxt;
  int32_t *idx;
} xf;

static void xf_init(xf *m, int depth)
{
  int64_t rows = G_ * 4096;
  m->depth = depth;
  m->blk = calloc((size_t)depth, sizeof(block));
  for (int i = 0; i < depth; i++) {
    block *b = &m->blk[i];
    b->ln = W(C_, 1, HART_WUSE_VECTOR);
    b->qkv = W(3 * C_, C_, HART_WUSE_GEMM);
    b->qkv_b = W(3 * C_, 1, HART_WUSE_VECTOR);
    b->proj = W(C_, C_, HART_WUSE_GEMM);
    b->proj_b = W(C_, 1, HART_WUSE_VECTOR);
    b->gate = W(FF_, C_, HART_WUSE_GEMM);
    b->up = W(FF_, C_, HART_WUSE_GEMM);
    b->down = W(C_, FF_, HART_WUSE_GEMM);
  }
  m->kv = be->ops->kv_cache_new(be, depth, G_, H_, HD_, LMAX_);
  if (m->kv == NULL)
    die("kv_cache_new");
  m->head_ln = W(C_, 1, HART_WUSE_VECTOR);
  m->head = W(V_, C_, HART_WUSE_GEMM);
  m->head_b = W(V_, 1, HART_WUSE_VECTOR);
  m->word = W(C_, CV_, HART_WUSE_GEMM);
  m->codebook = W(V_, CV_, HART_WUSE_TABLE);
  m->phi = Wconv(CV_, CV_, 3);
  m->phi_b = W(CV_, 1, HART_WUSE_VECTOR);
  m->x = A(rows * C_);
  m->a = A(rows * C_);
  m->qkv = A(rows * 3 * C_);
  m->q = A(rows * C_);
  m->o = A(rows * C_);
  m->t1 = A(rows * FF_);
  m->t2 = A(rows * FF_);
  m->t3 = A(rows * C_);
  m->cs = A(rows * HD_);
  m->sn = A(rows * HD_);
  m->logits = A(rows * V_);
  m->ss = A(G_ * 2 * C_);
  m->h = A(4096 * CV_);
  m->fhat = A(CV_ * 64 * 64);
  m->u = A(CV_ * 64 * 64);
  m->u2 = A(CV_ * 64 * 64);
  m->nxt = A(CV_ * 64 * 64);
  m->idx = be->ops->alloc(be, 4096 * sizeof(int32_t));
  OK(be->ops->fill(be, m->x, 0.01f, rows * C_));
  OK(be->ops->fill(be, m->cs, 0.8f, rows * HD_));
  OK(be->ops->fill(be, m->sn, 0.6f, rows * HD_));
  OK(be->ops->fill(be, m->ss, 0.1f, G_ * 2 * C_));
}

/* One scale: all blocks over n new tokens (L0 cached before), head, sampler, latent update. */
static void xf_stage(xf *m, int si, int64_t n, int64_t L0)
{
  int64_t R = G_ * n;
  hart_rope_args ra = { 0 };
  hart_sample_args sa = { 0 };
  int p = pn[si];

  for (int i = 0; i < m->depth; i++) {
    block *b = &m->blk[i];
    OK(be->ops->rmsnorm(be, m->a, m->x, b->ln, R, C_, 1e-6f));
    OK(be->ops->linear(be, m->qkv, m->a, b->qkv, b->qkv_b, R, 3 * C_, C_, 0.0f));
    ra.qkv = m->qkv;
    ra.q = m->q;
    ra.kv = m->kv;
    ra.layer = i;
    ra.cos = m->cs;
    ra.sin = m->sn;
    ra.G = G_;
    ra.n = n;
    ra.H = H_;
    ra.hd = HD_;
    ra.L0 = L0;
    OK(be->ops->rope_append(be, &ra));
    OK(be->ops->attention(be, m->o, m->q, m->kv, i, n, L0 + n, 0.03125f));
    OK(be->ops->linear(be, m->x, m->o, b->proj, b->proj_b, R, C_, C_, 1.0f));
    OK(be->ops->rmsnorm(be, m->a, m->x, b->ln, R, C_, 1e-6f));
    OK(be->ops->linear(be, m->t1, m->a, b->gate, NULL, R, FF_, C_, 0.0f));
    OK(be->ops->linear(be, m->t2, m->a, b->up, NULL, R, FF_, C_, 0.0f));
    OK(be->ops->silu_mul(be, m->t1, m->t1, m->t2, R * FF_));
    OK(be->ops->linear(be, m->x, m->t1, b->down, NULL, R, C_, FF_, 1.0f));
  }
  /* Head (stage 0: only the last context position matters). */
  if (si == 0) {
    R = G_;
    n = 1;
  }
  OK(be->ops->rmsnorm(be, m->a, m->x, m->head_ln, R, C_, 1e-6f));
  OK(be->ops->modulate(be, m->a, m->a, m->ss, m->ss + C_, R, C_, n, 2 * C_));
  OK(be->ops->linear(be, m->logits, m->a, m->head, m->head_b, R, V_, C_, 0.0f));
  sa.logits = m->logits;
  sa.B = 1;
  sa.n = n;
  sa.V = V_;
  sa.Cv = CV_;
  sa.t = 4.5f * si / 13.0f;
  sa.top_k = si < 7 ? 600 : 300;
  sa.smooth = 1;
  sa.smooth_mul = 1.0f + si / 13.0f;
  sa.tau = 0.1f;
  sa.codebook = m->codebook;
  sa.seed = 42;
  sa.stage = (uint32_t)si;
  sa.idx_out = m->idx;
  sa.h_out = m->h;
  OK(be->ops->sample(be, &sa));
  /* Latent update: h as [32, p, p] (transpose), bicubic to 64, phi, accumulate, area down. */
  OK(be->ops->transpose(be, m->u2, m->h, 1, (int64_t)p * p, CV_));
  if (si < SN_ - 1) {
    int pnext = pn[si + 1];
    OK(be->ops->resize_bicubic(be, m->u, m->u2, CV_, p, p, 64, 64));
    OK(be->ops->conv2d(be, m->u2, m->u, m->phi, m->phi_b, 1, CV_, 64, 64, CV_, 3));
    OK(be->ops->axpby(be, m->u, 0.5f, m->u, 0.5f, m->u2, CV_ * 64 * 64));
    OK(be->ops->axpby(be, m->fhat, 1.0f, m->fhat, 1.0f, m->u, CV_ * 64 * 64));
    OK(be->ops->resize_area(be, m->nxt, m->fhat, CV_, 64, 64, pnext, pnext));
    OK(be->ops->transpose(be, m->u, m->nxt, 1, CV_, (int64_t)pnext * pnext));
    OK(be->ops->linear(be, m->x, m->u, m->word, NULL, (int64_t)pnext * pnext, C_, CV_, 0.0f));
    OK(be->ops->copy(be, m->x + (int64_t)pnext * pnext * C_, m->x,
                     (size_t)pnext * pnext * C_ * sizeof(float)));
  }
}

/* ---- diffusion MLP (8 steps over 2 x 4096 rows) ---- */

typedef struct {
  hart_bw *in_proj, *in_b, *cond, *cond_b, *ln_w, *ln_b, *ada[6], *ada_b, *m0[6], *m2[6], *mb,
      *fada, *fada_b, *fout, *fout_b;
  float *z, *x, *h, *y, *c, *sy, *mod, *n1, *n2, *out;
} dmlp;

static void dmlp_init(dmlp *d)
{
  int64_t M = 8192;
  d->in_proj = W(1024, CV_, HART_WUSE_GEMM);
  d->in_b = W(1024, 1, HART_WUSE_VECTOR);
  d->cond = W(1024, C_, HART_WUSE_GEMM);
  d->cond_b = W(1024, 1, HART_WUSE_VECTOR);
  d->ln_w = W(1024, 1, HART_WUSE_VECTOR);
  d->ln_b = W(1024, 1, HART_WUSE_VECTOR);
  for (int j = 0; j < 6; j++) {
    d->ada[j] = W(3072, 1024, HART_WUSE_GEMM);
    d->m0[j] = W(1024, 1024, HART_WUSE_GEMM);
    d->m2[j] = W(1024, 1024, HART_WUSE_GEMM);
  }
  d->ada_b = W(3072, 1, HART_WUSE_VECTOR);
  d->mb = W(1024, 1, HART_WUSE_VECTOR);
  d->fada = W(2048, 1024, HART_WUSE_GEMM);
  d->fada_b = W(2048, 1, HART_WUSE_VECTOR);
  d->fout = W(64, 1024, HART_WUSE_GEMM);
  d->fout_b = W(64, 1, HART_WUSE_VECTOR);
  d->z = A(M * C_);
  d->x = A(M * CV_);
  d->h = A(M * 1024);
  d->y = A(M * 1024);
  d->c = A(M * 1024);
  d->sy = A(M * 1024);
  d->mod = A(M * 3072);
  d->n1 = A(M * 1024);
  d->n2 = A(M * 1024);
  d->out = A(M * 64);
  OK(be->ops->fill(be, d->z, 0.02f, M * C_));
  OK(be->ops->fill(be, d->x, 0.3f, M * CV_));
}

static void dmlp_run(dmlp *d)
{
  int64_t M = 8192, N = 4096;
  hart_ddpm_args da = { 0 };
  OK(be->ops->linear(be, d->c, d->z, d->cond, d->cond_b, M, 1024, C_, 0.0f));
  for (int step = 7; step >= 0; step--) {
    OK(be->ops->copy(be, d->x + N * CV_, d->x, (size_t)(N * CV_) * sizeof(float)));
    OK(be->ops->linear(be, d->h, d->x, d->in_proj, d->in_b, M, 1024, CV_, 0.0f));
    OK(be->ops->axpby(be, d->y, 1.0f, d->c, 0.0f, NULL, M * 1024)); /* + time embedding */
    OK(be->ops->silu(be, d->sy, d->y, M * 1024));
    for (int j = 0; j < 6; j++) {
      OK(be->ops->linear(be, d->mod, d->sy, d->ada[j], d->ada_b, M, 3072, 1024, 0.0f));
      OK(be->ops->layernorm(be, d->n1, d->h, d->ln_w, d->ln_b, M, 1024, 1e-6f));
      OK(be->ops->modulate(be, d->n1, d->n1, d->mod + 1024, d->mod, M, 1024, 1, 3072));
      OK(be->ops->linear(be, d->n2, d->n1, d->m0[j], d->mb, M, 1024, 1024, 0.0f));
      OK(be->ops->silu(be, d->n2, d->n2, M * 1024));
      OK(be->ops->linear(be, d->n1, d->n2, d->m2[j], d->mb, M, 1024, 1024, 0.0f));
      OK(be->ops->gated_add(be, d->h, d->mod + 2048, d->n1, M, 1024, 1, 3072));
    }
    OK(be->ops->linear(be, d->mod, d->sy, d->fada, d->fada_b, M, 2048, 1024, 0.0f));
    OK(be->ops->layernorm(be, d->n1, d->h, NULL, NULL, M, 1024, 1e-6f));
    OK(be->ops->modulate(be, d->n1, d->n1, d->mod + 1024, d->mod, M, 1024, 1, 2048));
    OK(be->ops->linear(be, d->out, d->n1, d->fout, d->fout_b, M, 64, 1024, 0.0f));
    da.x = d->x;
    da.out = d->out;
    da.N = N;
    da.Cv = CV_;
    da.cfg = 4.15f;
    da.A = 1.1f;
    da.Bm = 0.5f;
    da.P1 = 0.7f;
    da.P2 = 0.3f;
    da.LP = -3.0f;
    da.LB = -2.0f;
    da.add_noise = step > 0;
    da.seed = 7;
    da.stage = 13;
    da.step = (uint32_t)step;
    OK(be->ops->ddpm_step(be, &da));
  }
}

/* ---- VAE decoder (ch 160, mult 1,1,2,2,4, 3 resblocks per level, attention at 64) ---- */

typedef struct {
  hart_bw *n1w, *n1b, *c1, *c1b, *n2w, *n2b, *c2, *c2b, *nin, *ninb;
  int cin, cout;
} resblk;

typedef struct {
  resblk rb[20];
  int nrb;
  hart_bw *pq, *pqb, *cin, *cinb, *up[4], *upb[4], *attn_qkv, *attn_qkvb, *attn_o, *attn_ob, *gnw,
      *gnb, *nout_w, *nout_b, *cout, *coutb;
  float *a, *b, *t, *qkv, *qt;
} vae;

static void rb_init(resblk *r, int cin, int cout)
{
  r->cin = cin;
  r->cout = cout;
  r->nin = r->ninb = NULL; /* only blocks that change the channel count have a shortcut conv */
  r->n1w = W(cin, 1, HART_WUSE_VECTOR);
  r->n1b = W(cin, 1, HART_WUSE_VECTOR);
  r->c1 = Wconv(cout, cin, 3);
  r->c1b = W(cout, 1, HART_WUSE_VECTOR);
  r->n2w = W(cout, 1, HART_WUSE_VECTOR);
  r->n2b = W(cout, 1, HART_WUSE_VECTOR);
  r->c2 = Wconv(cout, cout, 3);
  r->c2b = W(cout, 1, HART_WUSE_VECTOR);
  if (cin != cout) {
    r->nin = Wconv(cout, cin, 1);
    r->ninb = W(cout, 1, HART_WUSE_VECTOR);
  }
}

/* x (in a) -> out (in a); b, t scratch. */
static void rb_run(vae *v, resblk *r, int64_t S)
{
  int64_t HW = S * S;
  OK(be->ops->groupnorm(be, v->b, v->a, r->n1w, r->n1b, 1, r->cin, HW, 32, 1e-6f, 1));
  OK(be->ops->conv2d(be, v->t, v->b, r->c1, r->c1b, 1, r->cin, S, S, r->cout, 3));
  OK(be->ops->groupnorm(be, v->b, v->t, r->n2w, r->n2b, 1, r->cout, HW, 32, 1e-6f, 1));
  OK(be->ops->conv2d(be, v->t, v->b, r->c2, r->c2b, 1, r->cout, S, S, r->cout, 3));
  if (r->nin) {
    OK(be->ops->conv2d(be, v->b, v->a, r->nin, r->ninb, 1, r->cin, S, S, r->cout, 1));
    OK(be->ops->axpby(be, v->a, 1.0f, v->b, 1.0f, v->t, r->cout * HW));
  } else {
    OK(be->ops->axpby(be, v->a, 1.0f, v->a, 1.0f, v->t, r->cout * HW));
  }
}

/* The engine's VAE attention (vae.c): w = softmax(q^T k / sqrt(c)), o = v w^T, all [c, N]. */
static void attn_run(vae *v)
{
  int64_t c = 640, N = 4096;
  const float *q = v->qkv, *k = v->qkv + c * N, *vv = v->qkv + 2 * c * N;
  OK(be->ops->groupnorm(be, v->b, v->a, v->gnw, v->gnb, 1, c, N, 32, 1e-6f, 0));
  OK(be->ops->conv2d(be, v->qkv, v->b, v->attn_qkv, v->attn_qkvb, 1, c, 64, 64, 3 * c, 1));
  OK(be->ops->bmm(be, v->qt, q, k, 1, N, N, c, 1, 0, 1.0f / sqrtf((float)c)));
  OK(be->ops->softmax_rows(be, v->qt, v->qt, N, N));
  OK(be->ops->bmm(be, v->b, vv, v->qt, 1, c, N, N, 0, 1, 1.0f));
  OK(be->ops->conv2d(be, v->t, v->b, v->attn_o, v->attn_ob, 1, c, 64, 64, c, 1));
  OK(be->ops->axpby(be, v->a, 1.0f, v->a, 1.0f, v->t, c * N));
}

static void vae_init(vae *v)
{
  static const int ch[5] = { 160, 160, 320, 320, 640 };
  int k = 0, cin = 640;
  int64_t big = 160LL * 1024 * 1024;
  v->pq = Wconv(32, 32, 3);
  v->pqb = W(32, 1, HART_WUSE_VECTOR);
  v->cin = Wconv(640, 32, 3);
  v->cinb = W(640, 1, HART_WUSE_VECTOR);
  rb_init(&v->rb[k++], 640, 640); /* mid */
  rb_init(&v->rb[k++], 640, 640);
  for (int lvl = 4; lvl >= 0; lvl--) {
    for (int j = 0; j < 3; j++) {
      rb_init(&v->rb[k++], cin, ch[lvl]);
      cin = ch[lvl];
    }
    if (lvl > 0) {
      v->up[lvl - 1] = Wconv(cin, cin, 3);
      v->upb[lvl - 1] = W(cin, 1, HART_WUSE_VECTOR);
    }
  }
  v->nrb = k;
  v->attn_qkv = Wconv(1920, 640, 1);
  v->attn_qkvb = W(1920, 1, HART_WUSE_VECTOR);
  v->attn_o = Wconv(640, 640, 1);
  v->attn_ob = W(640, 1, HART_WUSE_VECTOR);
  v->gnw = W(640, 1, HART_WUSE_VECTOR);
  v->gnb = W(640, 1, HART_WUSE_VECTOR);
  v->nout_w = W(160, 1, HART_WUSE_VECTOR);
  v->nout_b = W(160, 1, HART_WUSE_VECTOR);
  v->cout = Wconv(3, 160, 3);
  v->coutb = W(3, 1, HART_WUSE_VECTOR);
  v->a = A(big);
  v->b = A(big);
  v->t = A(big);
  v->qkv = A(3 * 640 * 4096);
  v->qt = A(4096 * 4096); /* attention weights [N, N] */
}

static void vae_run(vae *v, const float *fhat)
{
  int64_t S = 64;
  int k = 0, cin = 640;
  static const int ch[5] = { 160, 160, 320, 320, 640 };
  OK(be->ops->conv2d(be, v->b, fhat, v->pq, v->pqb, 1, 32, S, S, 32, 3));
  OK(be->ops->conv2d(be, v->a, v->b, v->cin, v->cinb, 1, 32, S, S, 640, 3));
  rb_run(v, &v->rb[k++], S);
  attn_run(v);
  rb_run(v, &v->rb[k++], S);
  for (int lvl = 4; lvl >= 0; lvl--) {
    for (int j = 0; j < 3; j++) {
      rb_run(v, &v->rb[k++], S);
      if (lvl == 4)
        attn_run(v);
    }
    cin = ch[lvl];
    if (lvl > 0) {
      OK(be->ops->upsample2x(be, v->b, v->a, cin, S, S));
      S *= 2;
      OK(be->ops->conv2d(be, v->a, v->b, v->up[lvl - 1], v->upb[lvl - 1], 1, cin, S, S, cin, 3));
    }
  }
  OK(be->ops->groupnorm(be, v->b, v->a, v->nout_w, v->nout_b, 1, 160, S * S, 32, 1e-6f, 1));
  OK(be->ops->conv2d(be, v->t, v->b, v->cout, v->coutb, 1, 160, S, S, 3, 3));
}

static int cmp_d(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* --attn-compare: see the header. The cache holds every scale's keys (the runs left it full), q the
 * last layer's queries of the last scale, so the last scale's outputs are the pipeline's. The
 * variants: the flash kernel (the default), fa2, and fa2 with 128-query blocks (8 warps). */
#define NVAR 3
static const char *const var_name[NVAR] = { "flash", "fa2", "fa2-128q" };
static const char *const var_attn[NVAR] = { "flash", "fa2", "fa2" };
static const char *const var_bq[NVAR] = { NULL, NULL, "128" };

static char *env_save(const char *name)
{
  const char *v = getenv(name);
  return v ? strdup(v) : NULL;
}

static void env_set(const char *name, const char *value)
{
  if (value != NULL)
    setenv(name, value, 1);
  else
    unsetenv(name);
}

static void attn_compare(xf *m, int scales, int runs)
{
  char *saved_attn = env_save("HART_CUDA_ATTN"), *saved_bq = env_save("HART_CUDA_FLASH_BQ");
  int64_t ns[SN_], Ls[SN_], L0 = 0, n_last, nv;
  float *out[NVAR], *host[NVAR];
  double t[16], med[NVAR];

  for (int si = 0; si < scales; si++) {
    ns[si] = si == 0 ? 300 : (int64_t)pn[si] * pn[si];
    Ls[si] = L0 + ns[si];
    L0 += ns[si];
  }
  n_last = ns[scales - 1];
  nv = G_ * n_last * C_;
  for (int k = 0; k < NVAR; k++) {
    out[k] = A(nv);
    host[k] = malloc((size_t)nv * sizeof(float));
  }
  printf("attention alone, %d layers, median of %d runs (+1 warm-up); TFLOPS = 4 n L hd G H "
         "layers / time:\n",
         m->depth, runs);
  for (int si = scales > 4 ? scales - 4 : 0; si < scales; si++) {
    double flop = 4.0 * ns[si] * Ls[si] * HD_ * G_ * H_ * m->depth;
    printf("attn scale %-2d n %4lld L %5lld", si, (long long)ns[si], (long long)Ls[si]);
    for (int k = 0; k < NVAR; k++) {
      env_set("HART_CUDA_ATTN", var_attn[k]);
      env_set("HART_CUDA_FLASH_BQ", var_bq[k]);
      for (int r = 0; r <= runs; r++) {
        double t0 = now_ms();
        for (int i = 0; i < m->depth; i++)
          OK(be->ops->attention(be, out[k], m->q, m->kv, i, ns[si], Ls[si], 0.03125f));
        OK(be->ops->sync(be));
        if (r > 0)
          t[r - 1] = now_ms() - t0;
      }
      qsort(t, (size_t)runs, sizeof(double), cmp_d);
      med[k] = t[runs / 2];
      printf("  %s %8.2f ms (%5.1f TFLOPS, x%.2f)", var_name[k], med[k], flop / med[k] * 1e-9,
             med[0] / med[k]);
    }
    printf("\n");
  }
  for (int k = 0; k < NVAR; k++)
    OK(be->ops->download(be, host[k], out[k], (size_t)nv * sizeof(float)));
  for (int k = 1; k < NVAR; k++) {
    double dmax = 0.0, amax = 0.0;
    int64_t bad = 0;
    for (int64_t i = 0; i < nv; i++) {
      if (!isfinite(host[0][i]) || !isfinite(host[k][i])) {
        bad++;
        continue;
      }
      dmax = fmax(dmax, fabs((double)host[k][i] - host[0][i]));
      amax = fmax(amax, fabs((double)host[0][i]));
    }
    printf("attn %s vs flash at scale %d, layer %d: max |diff| %.3g, max |flash| %.3g, rel %.3g, "
           "%lld non-finite\n",
           var_name[k], scales - 1, m->depth - 1, dmax, amax, amax > 0 ? dmax / amax : dmax,
           (long long)bad);
  }
  env_set("HART_CUDA_ATTN", saved_attn);
  env_set("HART_CUDA_FLASH_BQ", saved_bq);
  free(saved_attn);
  free(saved_bq);
  for (int k = 0; k < NVAR; k++) {
    be->ops->free(be, out[k]);
    free(host[k]);
  }
}

int main(int argc, char **argv)
{
  const char *backend = "cuda";
  int depth = 24, runs = 3, scales = SN_, decoder = 1, attn_cmp = 0;
  xf m;
  dmlp d;
  vae v;
  double t[SN_ + 2][16], med[SN_ + 2], total = 0.0;
  size_t used = 0, peak = 0, tot = 0;

  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--backend") && i + 1 < argc)
      backend = argv[++i];
    else if (!strcmp(argv[i], "--depth") && i + 1 < argc)
      depth = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--scales") && i + 1 < argc)
      scales = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--no-decoder"))
      decoder = 0;
    else if (!strcmp(argv[i], "--attn-compare"))
      attn_cmp = 1;
    else {
      fprintf(stderr,
              "usage: %s [--backend cpu|cuda] [--depth N] [--runs N] [--scales N] "
              "[--no-decoder] [--attn-compare]\n",
              argv[0]);
      return 2;
    }
  }
  if (runs < 1 || runs > 15 || depth < 1 || depth > 64 || scales < 1 || scales > SN_) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  if (!strcmp(backend, "cuda")) {
    if (hart_backend_cuda_new(0, &err, &be) != HART_OK) {
      printf("SKIP: CUDA backend unavailable: %s\n", err.msg);
      return 77;
    }
  } else if (hart_backend_cpu_new(0, &err, &be) != HART_OK) {
    die("cpu backend");
  }
  printf("backend %s: %s; depth %d, %d scales, %d timed runs (+1 warm-up)\n", be->name, be->device,
         depth, scales, runs);
  if (!strcmp(backend, "cuda"))
    printf("attention kernel: %s (HART_CUDA_ATTN)\n",
           getenv("HART_CUDA_ATTN") ? getenv("HART_CUDA_ATTN") : "fa2, the default");
  host_rand_n = 3 * C_ * C_; /* the largest weight: qkv */
  host_rand = malloc(host_rand_n * sizeof(float));
  srand(1);
  for (size_t i = 0; i < host_rand_n; i++)
    host_rand[i] = ((float)rand() / (float)RAND_MAX - 0.5f) * 0.04f;
  xf_init(&m, depth);
  dmlp_init(&d);
  if (decoder)
    vae_init(&v);

  for (int r = 0; r <= runs; r++) {
    int64_t L0 = 0;
    double t0;
    for (int si = 0; si < scales; si++) {
      int64_t n = si == 0 ? 300 : (int64_t)pn[si] * pn[si];
      t0 = now_ms();
      xf_stage(&m, si, n, L0);
      OK(be->ops->sync(be));
      if (r > 0)
        t[si][r - 1] = now_ms() - t0;
      L0 += n;
    }
    t0 = now_ms();
    if (scales == SN_)
      dmlp_run(&d);
    OK(be->ops->sync(be));
    if (r > 0)
      t[SN_][r - 1] = now_ms() - t0;
    t0 = now_ms();
    if (decoder)
      vae_run(&v, m.fhat);
    OK(be->ops->sync(be));
    if (r > 0)
      t[SN_ + 1][r - 1] = now_ms() - t0;
  }
  printf("%-12s %10s\n", "stage", "median ms");
  for (int s = 0; s < SN_ + 2; s++) {
    if (s < SN_ && s >= scales)
      continue;
    qsort(t[s], (size_t)runs, sizeof(double), cmp_d);
    med[s] = t[s][runs / 2];
    total += med[s];
    if (s < SN_)
      printf("scale %-2d %2dx%-2d %9.2f\n", s, pn[s], pn[s], med[s]);
    else
      printf("%-15s %9.2f\n", s == SN_ ? "diffusion" : "decoder", med[s]);
  }
  printf("%-15s %9.2f\n", "TOTAL", total);
  if (be->ops->mem_stats && be->ops->mem_stats(be, &used, &peak, &tot) == HART_OK)
    printf("device memory: peak %.2f GiB (in use now %.2f GiB of %.2f GiB)\n", peak / 1073741824.0,
           used / 1073741824.0, tot / 1073741824.0);
  if (attn_cmp && !strcmp(backend, "cuda"))
    attn_compare(&m, scales, runs);
  be->ops->destroy(be); /* process exit releases the rest */
  free(host_rand);
  return 0;
}
