/* test-engine.c: the public API (hart.h) on the golden "tiny" and "small" models: request
 * checks, cancellation, determinism, previews and progress, and independence from the model
 * files after open. Also: the sampled indices do not depend on the thread count (driver). */
#include "test-util.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "generate.h"
#include "hart.h"
#include "replay.h"

typedef struct {
  float *ctx;
  uint8_t *mask;
  int64_t *pos;
  int ct, cd;
} ctx_input;

/* Row 0 of the case's inputs.safetensors. */
static void load_inputs(const char *casename, ctx_input *in)
{
  char *rel = g_strdup_printf("golden/%s/inputs.safetensors", casename);
  hart_tensor_set *set = ht_open_st(rel);
  const hart_tensor *t = hart_tensor_set_get(set, "context");
  float *all = ht_tensor_f32(set, "context", NULL);
  float *m = ht_tensor_f32(set, "context_mask", NULL);
  int64_t *p = g_new(int64_t, hart_tensor_numel(t));
  hart_error err = { 0 };
  in->ct = (int)t->shape[1];
  in->cd = (int)t->shape[2];
  g_assert_cmpint(hart_tensor_to_i64(hart_tensor_set_get(set, "context_position_ids"), p, &err), ==,
                  HART_OK);
  in->ctx = g_memdup2(all, (gsize)in->ct * in->cd * sizeof(float));
  in->mask = g_new(uint8_t, in->ct);
  in->pos = g_memdup2(p, (gsize)in->ct * sizeof(int64_t));
  for (int i = 0; i < in->ct; i++)
    in->mask[i] = m[i] != 0.0f;
  g_free(all);
  g_free(m);
  g_free(p);
  hart_tensor_set_free(set);
  g_free(rel);
}

static void free_inputs(ctx_input *in)
{
  g_free(in->ctx);
  g_free(in->mask);
  g_free(in->pos);
}

static hart_engine *open_engine(const char *dir, int threads)
{
  hart_open_options o;
  hart_engine *e = NULL;
  char errbuf[512];
  hart_open_options_init(&o);
  o.model_dir = dir;
  o.backend = HART_BACKEND_CPU;
  o.n_threads = threads;
  if (hart_engine_open(&o, &e, errbuf, sizeof errbuf) != HART_OK)
    g_error("open %s: %s", dir, errbuf);
  return e;
}

static void request_for(hart_request *r, const ctx_input *in)
{
  hart_request_init(r);
  r->context = in->ctx;
  r->context_mask = in->mask;
  r->context_position_ids = in->pos;
  r->context_numel = (size_t)in->ct * in->cd;
  r->preview_mode = HART_PREVIEW_NONE;
}

static void test_bad_input(void)
{
  char *dir;
  hart_engine *e;
  ctx_input in;
  hart_request r;
  hart_image img = { 0 };
  hart_open_options o;
  char errbuf[512];
  hart_engine *none = NULL;

  if (!ht_require_shared("golden/tiny"))
    return;
  dir = ht_shared_path("golden/tiny");
  load_inputs("tiny", &in);
  e = open_engine(dir, 0);

  request_for(&r, &in);
  r.context_numel = (size_t)in.ct * in.cd - 1; /* wrong size */
  g_assert_cmpint(hart_generate(e, &r, &img), ==, HART_ERR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(hart_engine_last_error(e), "expects"));

  request_for(&r, &in);
  in.ctx[5] = NAN;
  g_assert_cmpint(hart_generate(e, &r, &img), ==, HART_ERR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(hart_engine_last_error(e), "not finite"));
  in.ctx[5] = INFINITY;
  g_assert_cmpint(hart_generate(e, &r, &img), ==, HART_ERR_INVALID_ARGUMENT);
  in.ctx[5] = 0.0f;

  request_for(&r, &in);
  r.cfg = 0.0f;
  g_assert_cmpint(hart_generate(e, &r, &img), ==, HART_ERR_INVALID_ARGUMENT);
  r.cfg = 25.0f;
  g_assert_cmpint(hart_generate(e, &r, &img), ==, HART_ERR_INVALID_ARGUMENT);
  r.cfg = NAN;
  g_assert_cmpint(hart_generate(e, &r, &img), ==, HART_ERR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(hart_engine_last_error(e), "cfg"));

  request_for(&r, &in);
  r.seed = (uint64_t)1 << 63;
  g_assert_cmpint(hart_generate(e, &r, &img), ==, HART_ERR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(hart_engine_last_error(e), "seed"));

  request_for(&r, &in);
  r.top_p = 1.5f;
  g_assert_cmpint(hart_generate(e, &r, &img), ==, HART_ERR_INVALID_ARGUMENT);
  request_for(&r, &in);
  r.top_k_early = 5000;
  g_assert_cmpint(hart_generate(e, &r, &img), ==, HART_ERR_INVALID_ARGUMENT);

  request_for(&r, &in);
  r.context = NULL;
  g_assert_cmpint(hart_generate(e, &r, &img), ==, HART_ERR_INVALID_ARGUMENT);
  r.prompt = "a cat";
  g_assert_cmpint(hart_generate(e, &r, &img), ==, HART_ERR_UNSUPPORTED);
  g_assert_null(img.rgb);

  /* after all that, a good request still works */
  request_for(&r, &in);
  g_assert_cmpint(hart_generate(e, &r, &img), ==, HART_OK);
  g_assert_nonnull(img.rgb);
  hart_image_clear(&img);
  hart_engine_close(e);

  hart_open_options_init(&o);
  o.model_dir = "/nonexistent/model";
  o.backend = HART_BACKEND_CPU;
  g_assert_cmpint(hart_engine_open(&o, &none, errbuf, sizeof errbuf), !=, HART_OK);
  g_assert_null(none);
  g_assert_nonnull(strstr(errbuf, "/nonexistent/model"));
  o.model_dir = dir;
  o.backend = (hart_backend_kind)7;
  g_assert_cmpint(hart_engine_open(&o, &none, errbuf, sizeof errbuf), ==,
                  HART_ERR_INVALID_ARGUMENT);
  free_inputs(&in);
  g_free(dir);
}

typedef struct {
  hart_cancel *cancel;
  int cancel_at_scale;
  int n_scale, n_diff, n_decode, n_done, n_prev_scale, n_prev_diff;
  int prev_w;
} cb_state;

static void on_progress(const hart_progress *p, void *ud)
{
  cb_state *s = ud;
  switch (p->stage) {
  case HART_STAGE_SCALE:
    s->n_scale++;
    if (s->cancel && p->step == s->cancel_at_scale)
      hart_cancel_request(s->cancel); /* takes effect before the next transformer layer */
    break;
  case HART_STAGE_DIFFUSION:
    s->n_diff++;
    break;
  case HART_STAGE_DECODE:
    s->n_decode++;
    break;
  case HART_STAGE_DONE:
    s->n_done++;
    break;
  case HART_STAGE_LOAD:
  case HART_STAGE_TEXT:
  default:
    break;
  }
}

static void on_preview(const hart_preview *p, void *ud)
{
  cb_state *s = ud;
  if (p->stage == HART_STAGE_SCALE)
    s->n_prev_scale++;
  else
    s->n_prev_diff++;
  s->prev_w = p->width;
  g_assert_cmpint(p->width, ==, p->height);
  g_assert_nonnull(p->rgb);
}

static void test_cancel_progress_determinism(void)
{
  char *dir;
  hart_engine *e;
  hart_engine_info info;
  ctx_input in;
  hart_request r;
  hart_image a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
  cb_state s = { 0 };

  if (!ht_require_shared("golden/small"))
    return;
  dir = ht_shared_path("golden/small");
  load_inputs("small", &in);
  e = open_engine(dir, 0);
  hart_engine_get_info(e, &info);
  g_assert_cmpstr(info.backend_name, ==, "cpu");
  g_assert_cmpint(info.n_scales, ==, 9);
  g_assert_cmpint(info.image_size, ==, 256);
  g_assert_cmpint(strlen(info.model_id), ==, 64);

  /* cancel at scale 3: HART_CANCELLED, no image */
  request_for(&r, &in);
  s.cancel = hart_cancel_new();
  s.cancel_at_scale = 3;
  r.cancel = s.cancel;
  r.on_progress = on_progress;
  r.user_data = &s;
  g_assert_cmpint(hart_generate(e, &r, &a), ==, HART_CANCELLED);
  g_assert_null(a.rgb);
  g_assert_cmpint(s.n_scale, ==, 3);
  g_assert_cmpint(s.n_done, ==, 0);
  hart_cancel_free(s.cancel);

  /* full run with cheap previews: one per scale and per diffusion step, then decode, done */
  memset(&s, 0, sizeof s);
  request_for(&r, &in);
  r.seed = 42;
  r.on_progress = on_progress;
  r.on_preview = on_preview;
  r.preview_mode = HART_PREVIEW_CHEAP;
  r.user_data = &s;
  g_assert_cmpint(hart_generate(e, &r, &a), ==, HART_OK);
  g_assert_cmpint(s.n_scale, ==, 9);
  g_assert_cmpint(s.n_diff, ==, 8);
  g_assert_cmpint(s.n_decode, ==, 1);
  g_assert_cmpint(s.n_done, ==, 1);
  g_assert_cmpint(s.n_prev_scale, ==, 9);
  g_assert_cmpint(s.n_prev_diff, ==, 8);
  g_assert_cmpint(s.prev_w, ==, 16);
  g_assert_cmpint(a.width, ==, 256);

  /* the same request again (after a cancelled one on the same engine): identical bytes;
   * previews do not change the result */
  request_for(&r, &in);
  r.seed = 42;
  g_assert_cmpint(hart_generate(e, &r, &b), ==, HART_OK);
  g_assert_cmpmem(a.rgb, 256 * 256 * 3, b.rgb, 256 * 256 * 3);
  /* another seed gives another image */
  r.seed = 43;
  g_assert_cmpint(hart_generate(e, &r, &c), ==, HART_OK);
  g_assert_true(memcmp(a.rgb, c.rgb, 256 * 256 * 3) != 0);
  /* decoder previews: at the scale's own size (16 px per latent pixel) */
  memset(&s, 0, sizeof s);
  request_for(&r, &in);
  r.seed = 42;
  r.on_preview = on_preview;
  r.preview_mode = HART_PREVIEW_DECODER;
  r.user_data = &s;
  g_assert_cmpint(hart_generate(e, &r, &d), ==, HART_OK);
  g_assert_cmpint(s.n_prev_scale, ==, 9);
  g_assert_cmpint(s.prev_w, ==, 256);
  g_assert_cmpmem(a.rgb, 256 * 256 * 3, d.rgb, 256 * 256 * 3);
  hart_image_clear(&a);
  hart_image_clear(&b);
  hart_image_clear(&c);
  hart_image_clear(&d);
  hart_engine_close(e);
  free_inputs(&in);
  g_free(dir);
}

static void copy_file(const char *from, const char *to)
{
  char *data = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(from, &data, &len, NULL));
  g_assert_true(g_file_set_contents(to, data, (gssize)len, NULL));
  g_free(data);
}

/* Weights are copied to the backend at open: changing or removing the files afterwards does
 * not affect generation; a new open then reports the damaged file. */
static void test_files_change(void)
{
  static const char *files[] = { "llm/config.json", "llm/model.safetensors",
                                 "tokenizer/config.json", "tokenizer/model.safetensors" };
  char *src, *tmp;
  hart_engine *e, *e2 = NULL;
  ctx_input in;
  hart_request r;
  hart_image a = { 0 }, b = { 0 };
  hart_open_options o;
  char errbuf[512];

  if (!ht_require_shared("golden/tiny"))
    return;
  src = ht_shared_path("golden/tiny");
  tmp = g_dir_make_tmp("hart-engine-XXXXXX", NULL);
  g_assert_nonnull(tmp);
  for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
    char *f = g_build_filename(src, files[i], NULL), *t = g_build_filename(tmp, files[i], NULL);
    char *d = g_path_get_dirname(t);
    g_mkdir_with_parents(d, 0755);
    copy_file(f, t);
    g_free(f);
    g_free(t);
    g_free(d);
  }
  load_inputs("tiny", &in);
  e = open_engine(tmp, 0);
  request_for(&r, &in);
  g_assert_cmpint(hart_generate(e, &r, &a), ==, HART_OK);
  {
    char *w = g_build_filename(tmp, "llm/model.safetensors", NULL);
    char *t = g_build_filename(tmp, "tokenizer/model.safetensors", NULL);
    g_assert_true(g_file_set_contents(w, "garbage", 7, NULL));
    g_assert_cmpint(g_unlink(t), ==, 0);
    g_free(w);
    g_free(t);
  }
  g_assert_cmpint(hart_generate(e, &r, &b), ==, HART_OK);
  g_assert_cmpmem(a.rgb, a.width * a.height * 3, b.rgb, b.width * b.height * 3);
  hart_engine_close(e);
  hart_open_options_init(&o);
  o.model_dir = tmp;
  o.backend = HART_BACKEND_CPU;
  g_assert_cmpint(hart_engine_open(&o, &e2, errbuf, sizeof errbuf), !=, HART_OK);
  g_assert_nonnull(strstr(errbuf, "model.safetensors"));
  g_test_message("reopening the damaged folder: %s", errbuf);
  hart_image_clear(&a);
  hart_image_clear(&b);
  for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
    char *t = g_build_filename(tmp, files[i], NULL);
    g_unlink(t);
    g_free(t);
  }
  {
    char *d1 = g_build_filename(tmp, "llm", NULL), *d2 = g_build_filename(tmp, "tokenizer", NULL);
    g_rmdir(d1);
    g_rmdir(d2);
    g_free(d1);
    g_free(d2);
  }
  g_rmdir(tmp);
  g_free(tmp);
  g_free(src);
  free_inputs(&in);
}

static void collect_idx(void *ud, const char *name, hart_dtype dt, int ndim, const int64_t *shape,
                        const void *data)
{
  GString *s = ud;
  int64_t n = 1;
  if (!g_str_has_suffix(name, ".idx"))
    return;
  for (int i = 0; i < ndim; i++)
    n *= shape[i];
  g_string_append_len(s, data, (gssize)(n * 8));
}

/* Free sampling (engine Philox draws) with 1 and 2 threads: the same token ids at every scale. */
static void test_threads_same_idx(void)
{
  char *dir;
  GString *ids[2];
  ctx_input in;
  if (!ht_require_shared("golden/small"))
    return;
  dir = ht_shared_path("golden/small");
  load_inputs("small", &in);
  for (int k = 0; k < 2; k++) {
    hart_backend *be = NULL;
    hart_model *m = NULL;
    hart_gen *g = NULL;
    hart_error err = { 0 };
    hart_gen_request r;
    g_assert_cmpint(hart_backend_cpu_new(k + 1, &err, &be), ==, HART_OK);
    g_assert_cmpint(hart_model_load(be, dir, &m, &err), ==, HART_OK);
    g_assert_cmpint(hart_gen_new(m, 1, &g, &err), ==, HART_OK);
    ids[k] = g_string_new(NULL);
    memset(&r, 0, sizeof r);
    r.context = in.ctx;
    r.context_mask = in.mask;
    r.position_ids = in.pos;
    r.seed = 7;
    r.cfg = 4.5f;
    r.smooth = 1;
    r.dump = collect_idx;
    r.dump_ud = ids[k];
    g_assert_cmpint(hart_gen_run(g, &r, NULL, &err), ==, HART_OK);
    hart_gen_free(g);
    hart_model_free(m);
    be->ops->destroy(be);
  }
  g_assert_cmpuint(ids[0]->len, >, 0);
  g_assert_cmpmem(ids[0]->str, ids[0]->len, ids[1]->str, ids[1]->len);
  g_string_free(ids[0], TRUE);
  g_string_free(ids[1], TRUE);
  free_inputs(&in);
  g_free(dir);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/engine/bad-input", test_bad_input);
  g_test_add_func("/engine/cancel-progress-determinism", test_cancel_progress_determinism);
  g_test_add_func("/engine/files-change-after-open", test_files_change);
  g_test_add_func("/engine/threads-same-idx", test_threads_same_idx);
  return g_test_run();
}
