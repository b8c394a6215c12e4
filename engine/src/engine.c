/* engine.c: the public engine API (open, info, generate, close) on top of the generation driver.
 * Everything a request needs (KV caches, activations, preview buffers) is allocated at open, once
 * per model; hart_generate() only allocates the returned image. */
#include "hart.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "generate.h"
#include "image.h"
#include "preview.h"
#include "text_encoder.h"

struct hart_engine {
  hart_error err;
  hart_backend *be;
  hart_model *m;
  hart_gen *gen; /* batch 1 */
  hart_engine_info info;
  char backend_name[16];
  char device_name[128];
  char backend_note[HART_ERROR_MAX + 64];
  /* previews */
  float *pv_lat, *pv_small, *pv_img, *h_img;
  uint8_t *pv_rgb;
  hart_preview_proj proj; /* cheap previews: latent-to-RGB map fitted at open */
  int have_proj;
  /* per request */
  const hart_request *req;
  double t0;
  hart_status cb_status; /* a failure inside a callback (previews) that stopped the run */
  hart_error cb_err;
  int64_t *pos_buf;
  uint8_t *mask_buf;
  /* text encoder (prompt requests) */
  char *text_dir;          /* NULL: no text model */
  int release_text;        /* load it per request and free it after encoding */
  hart_text_encoder *text; /* loaded encoder (NULL between requests when release_text) */
  float *ctx_buf;          /* [context_token, context_dim] host */
  hart_backend *text_be;   /* a CPU backend for the encoder when be lacks its ops */
};

void hart_open_options_init(hart_open_options *opts)
{
  memset(opts, 0, sizeof *opts);
  opts->backend = HART_BACKEND_AUTO;
}

void hart_request_init(hart_request *req)
{
  memset(req, 0, sizeof *req);
  req->use_system_prompt = 1;
  req->seed = 1;
  req->cfg = 4.5f;
  req->smooth = 1;
  req->preview_mode = HART_PREVIEW_CHEAP;
}

const char *hart_stage_name(hart_stage stage)
{
  switch (stage) {
  case HART_STAGE_LOAD:
    return "load";
  case HART_STAGE_TEXT:
    return "text";
  case HART_STAGE_SCALE:
    return "scale";
  case HART_STAGE_DIFFUSION:
    return "diffusion";
  case HART_STAGE_DECODE:
    return "decode";
  case HART_STAGE_DONE:
    return "done";
  default:
    return "unknown";
  }
}

/* The model identity: SHA-256 over both config.json files and the weight files' safetensors
 * headers (names, dtypes, shapes), so a changed configuration or tensor layout changes it. */
static void model_id(const char *dir, char out[65])
{
  static const char *files[] = { "llm/config.json", "tokenizer/config.json" };
  static const char *weights[] = { "llm/ema_model.safetensors", "llm/model.safetensors",
                                   "tokenizer/model.safetensors" };
  GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
  for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
    char *p = g_build_filename(dir, files[i], NULL), *text = NULL;
    gsize len = 0;
    if (g_file_get_contents(p, &text, &len, NULL))
      g_checksum_update(ck, (const guchar *)text, (gssize)len);
    g_free(text);
    g_free(p);
  }
  for (size_t i = 0; i < G_N_ELEMENTS(weights); i++) {
    char *p = g_build_filename(dir, weights[i], NULL);
    FILE *f = fopen(p, "rb");
    uint8_t n8[8];
    if (f && fread(n8, 1, 8, f) == 8) {
      uint64_t n = 0;
      for (int b = 7; b >= 0; b--)
        n = (n << 8) | n8[b];
      if (n < 100000000u) {
        guchar *hdr = g_malloc(n + 1);
        if (fread(hdr, 1, n, f) == n)
          g_checksum_update(ck, hdr, (gssize)n);
        g_free(hdr);
      }
    }
    if (f)
      fclose(f);
    g_free(p);
  }
  snprintf(out, 65, "%s", g_checksum_get_string(ck));
  g_checksum_free(ck);
}

static hart_status open_backend(hart_engine *e, const hart_open_options *o)
{
  hart_error cerr = { 0 };
  hart_status st;
  e->backend_note[0] = '\0';
  switch (o->backend) {
  case HART_BACKEND_CUDA:
    return hart_backend_cuda_new(o->cuda_device, &e->err, &e->be);
  case HART_BACKEND_AUTO:
    st = hart_backend_cuda_new(o->cuda_device, &cerr, &e->be);
    if (st == HART_OK)
      return HART_OK;
    snprintf(e->backend_note, sizeof e->backend_note, "using the CPU: %s", cerr.msg);
    return hart_backend_cpu_new(o->n_threads, &e->err, &e->be);
  case HART_BACKEND_CPU:
    return hart_backend_cpu_new(o->n_threads, &e->err, &e->be);
  default:
    return hart_fail(&e->err, HART_ERR_INVALID_ARGUMENT, "unknown backend kind %d",
                     (int)o->backend);
  }
}

static hart_status alloc_previews(hart_engine *e)
{
  hart_backend *be = e->be;
  int64_t Cv = e->m->vae_cfg.z_channels, P = e->m->llm.patch_nums[e->m->llm.n_scales - 1];
  int64_t S = hart_model_image_size(e->m);
  e->pv_lat = be->ops->alloc(be, (size_t)(Cv * P * P) * sizeof(float));
  e->pv_small = be->ops->alloc(be, (size_t)(Cv * P * P) * sizeof(float));
  e->pv_img = be->ops->alloc(be, (size_t)(3 * S * S) * sizeof(float));
  e->h_img = malloc((size_t)(3 * S * S) * sizeof(float));
  e->pv_rgb = malloc((size_t)(3 * S * S));
  e->pos_buf = malloc((size_t)e->m->llm.context_token * sizeof(int64_t));
  e->mask_buf = malloc((size_t)e->m->llm.context_token);
  if (!e->pv_lat || !e->pv_small || !e->pv_img || !e->h_img || !e->pv_rgb || !e->pos_buf ||
      !e->mask_buf)
    return hart_fail(&e->err, HART_ERR_NO_MEMORY, "out of memory for the preview buffers");
  return HART_OK;
}

/* Loads the text encoder (text_dir/tokenizer.json with the Qwen2 weights) and checks that its
 * hidden size is the transformer's context_dim. */
static hart_status load_text(hart_engine *e)
{
  hart_backend *be = e->be;
  hart_status st = HART_OK;

  /* A backend without the encoder's ops (a CUDA module older than them) falls back to the CPU
   * for the encoder only. */
  if (be->ops->rope_inplace == NULL || be->ops->attention_causal == NULL) {
    if (e->text_be == NULL && (st = hart_backend_cpu_new(0, &e->err, &e->text_be)) == HART_OK)
      e->text_be->err = &e->err;
    be = e->text_be;
  }
  if (st == HART_OK)
    st = hart_text_encoder_load(be, e->text_dir, NULL, &e->text, &e->err);
  if (st == HART_OK && hart_text_encoder_hidden(e->text) != e->m->llm.context_dim)
    st = hart_fail(&e->err, HART_ERR_FORMAT,
                   "%s: the text model's hidden size %d is not the transformer's context_dim %d",
                   e->text_dir, hart_text_encoder_hidden(e->text), e->m->llm.context_dim);
  if (st != HART_OK) {
    hart_text_encoder_free(e->text);
    e->text = NULL;
  }
  return st;
}

/* The text model is loaded (and checked) at open; with release_text_model it is freed again and
 * reloaded for each prompt, so its weights do not stay in memory during generation. */
static hart_status open_text(hart_engine *e, const hart_open_options *opts)
{
  hart_status st;
  e->text_dir = g_strdup(opts->text_model_dir);
  e->release_text = opts->release_text_model;
  e->ctx_buf =
      malloc((size_t)e->m->llm.context_token * (size_t)e->m->llm.context_dim * sizeof(float));
  if (e->ctx_buf == NULL)
    return hart_fail(&e->err, HART_ERR_NO_MEMORY, "out of memory for the context");
  st = load_text(e);
  if (st == HART_OK && e->release_text) {
    hart_text_encoder_free(e->text);
    e->text = NULL;
  }
  return st;
}

/* Prompt -> context, mask and positions in ctx_buf/mask_buf/pos_buf. */
static hart_status encode_prompt(hart_engine *e, const hart_request *req, double *t_text)
{
  double t0 = (double)g_get_monotonic_time() / 1e6;
  hart_status st = e->text == NULL ? load_text(e) : HART_OK;

  if (st == HART_OK)
    st = hart_text_encode(e->text, req->prompt, req->use_system_prompt, e->m->llm.context_token,
                          e->ctx_buf, e->mask_buf, e->pos_buf, &e->err);
  if (e->release_text) {
    hart_text_encoder_free(e->text);
    e->text = NULL;
  }
  *t_text = (double)g_get_monotonic_time() / 1e6 - t0;
  return st;
}

hart_status hart_engine_open(const hart_open_options *opts, hart_engine **out, char *errbuf,
                             size_t errbuf_len)
{
  hart_engine *e;
  hart_status st;

  *out = NULL;
  if (opts == NULL || opts->model_dir == NULL) {
    if (errbuf && errbuf_len)
      snprintf(errbuf, errbuf_len, "no model folder given");
    return HART_ERR_INVALID_ARGUMENT;
  }
  e = calloc(1, sizeof *e);
  if (e == NULL) {
    if (errbuf && errbuf_len)
      snprintf(errbuf, errbuf_len, "out of memory");
    return HART_ERR_NO_MEMORY;
  }
  st = open_backend(e, opts);
  if (st == HART_OK) {
    e->be->err = &e->err;
    st = hart_model_load(e->be, opts->model_dir, &e->m, &e->err);
  }
  if (st == HART_OK)
    st = hart_gen_new(e->m, 1, &e->gen, &e->err);
  if (st == HART_OK)
    st = alloc_previews(e);
  if (st == HART_OK && e->m->vae) {
    /* one small decode (~1/16 of a full one at the release size), once per model */
    st = hart_preview_fit(e->m->vae, e->be, 0, 0, &e->proj, &e->err);
    e->have_proj = st == HART_OK;
  }
  if (st == HART_OK && opts->text_model_dir)
    st = open_text(e, opts);
  if (st != HART_OK) {
    if (errbuf && errbuf_len)
      snprintf(errbuf, errbuf_len, "%s", e->err.msg);
    hart_engine_close(e);
    return st;
  }
  snprintf(e->backend_name, sizeof e->backend_name, "%s", e->be->name);
  snprintf(e->device_name, sizeof e->device_name, "%s", e->be->device);
  e->info.backend_name = e->backend_name;
  e->info.device_name = e->device_name;
  e->info.backend_note = e->backend_note;
  e->info.image_size = hart_model_image_size(e->m);
  e->info.context_tokens = e->m->llm.context_token;
  e->info.context_dim = e->m->llm.context_dim;
  e->info.n_scales = e->m->llm.n_scales;
  e->info.n_diffusion_steps = e->m->diff ? hart_diffusion_steps(e->m->diff) : 0;
  e->info.has_text_model = e->text_dir != NULL;
  model_id(opts->model_dir, e->info.model_id);
  hart_error_clear(&e->err);
  *out = e;
  return HART_OK;
}

void hart_engine_close(hart_engine *e)
{
  if (e == NULL)
    return;
  if (e->be) {
    if (e->pv_lat)
      e->be->ops->free(e->be, e->pv_lat);
    if (e->pv_small)
      e->be->ops->free(e->be, e->pv_small);
    if (e->pv_img)
      e->be->ops->free(e->be, e->pv_img);
  }
  free(e->h_img);
  free(e->pv_rgb);
  free(e->pos_buf);
  free(e->mask_buf);
  hart_text_encoder_free(e->text);
  if (e->text_be)
    e->text_be->ops->destroy(e->text_be);
  free(e->ctx_buf);
  g_free(e->text_dir);
  if (e->gen)
    hart_gen_free(e->gen);
  hart_model_free(e->m);
  if (e->be)
    e->be->ops->destroy(e->be);
  free(e);
}

const char *hart_engine_last_error(const hart_engine *e)
{
  return e ? e->err.msg : "";
}

void hart_engine_get_info(const hart_engine *e, hart_engine_info *info)
{
  if (e == NULL) {
    memset(info, 0, sizeof *info);
    return;
  }
  *info = e->info;
}

/* ---------------------------------------------------------------- callbacks ---- */

static void progress(hart_engine *e, hart_stage stage, int step, int n_steps)
{
  hart_progress p;
  if (e->req->on_progress == NULL)
    return;
  p.stage = stage;
  p.step = step;
  p.n_steps = n_steps;
  p.elapsed_s = (double)g_get_monotonic_time() / 1e6 - e->t0;
  e->req->on_progress(&p, e->req->user_data);
}

/* Renders latent lat [1, Cv, P, P] as a preview. Cheap mode: the fitted linear projection at
 * the latent's resolution (P x P; the UI scales it up). Decoder mode: the VAE decoder at the
 * scale's own resolution (lat area-resampled to side x side). */
static hart_status preview(hart_engine *e, hart_stage stage, int step, int n_steps,
                           const float *lat, int64_t side)
{
  hart_backend *be = e->be;
  int64_t Cv = e->m->vae_cfg.z_channels, P = e->m->llm.patch_nums[e->m->llm.n_scales - 1];
  int64_t S;
  hart_preview pv;
  hart_status st = HART_OK;

  if (e->req->preview_mode == HART_PREVIEW_NONE || e->req->on_preview == NULL || e->m->vae == NULL)
    return HART_OK;
  if (e->req->preview_mode == HART_PREVIEW_CHEAP) {
    if (!e->have_proj)
      return HART_OK;
    S = P;
    st = hart_preview_rgb(&e->proj, be, lat, 0, P, e->pv_rgb, &e->err);
  } else {
    if (side == P)
      st = be->ops->copy(be, e->pv_small, lat, (size_t)(Cv * P * P) * sizeof(float));
    else
      st = be->ops->resize_area(be, e->pv_small, lat, Cv, P, P, side, side);
    if (st == HART_OK)
      st = hart_vae_decode(e->m->vae, e->pv_img, e->pv_small, 1, side);
    S = side * hart_vae_upscale(e->m->vae);
    if (st == HART_OK)
      st = be->ops->download(be, e->h_img, e->pv_img, (size_t)(3 * S * S) * sizeof(float));
    if (st == HART_OK)
      hart_image_to_rgb8(e->h_img, (int)S, (int)S, e->pv_rgb);
  }
  if (st != HART_OK)
    return st;
  pv.stage = stage;
  pv.step = step;
  pv.n_steps = n_steps;
  pv.width = (int)S;
  pv.height = (int)S;
  pv.rgb = e->pv_rgb;
  e->req->on_preview(&pv, e->req->user_data);
  return HART_OK;
}

static int on_scale(void *ud, int si, int n_scales, const float *f_hat)
{
  hart_engine *e = ud;
  progress(e, HART_STAGE_SCALE, si + 1, n_scales);
  if (si == n_scales - 1)
    progress(e, HART_STAGE_DECODE, 1, 1); /* the decoder runs next */
  if (preview(e, HART_STAGE_SCALE, si + 1, n_scales, f_hat, e->m->llm.patch_nums[si]) != HART_OK) {
    e->cb_status = e->err.code ? e->err.code : HART_ERR_INTERNAL;
    e->cb_err = e->err;
    return 1;
  }
  return hart_cancel_is_requested(e->req->cancel);
}

static int on_diffusion_step(int k, int n_steps, const float *x, void *ud)
{
  hart_engine *e = ud;
  int64_t P = e->m->llm.patch_nums[e->m->llm.n_scales - 1];
  progress(e, HART_STAGE_DIFFUSION, k + 1, n_steps);
  if (e->req->preview_mode != HART_PREVIEW_NONE && e->req->on_preview && e->m->vae) {
    if (hart_gen_latent_with(e->gen, e->pv_lat, x) != HART_OK ||
        preview(e, HART_STAGE_DIFFUSION, k + 1, n_steps, e->pv_lat, P) != HART_OK) {
      e->cb_status = e->err.code ? e->err.code : HART_ERR_INTERNAL;
      e->cb_err = e->err;
      return 1;
    }
  }
  return hart_cancel_is_requested(e->req->cancel);
}

/* ---------------------------------------------------------------- generate ---- */

static hart_status check_request(hart_engine *e, const hart_request *req)
{
  int64_t n = (int64_t)e->m->llm.context_token * e->m->llm.context_dim;
  int V = e->m->vae_cfg.vocab_size;
  if (req->prompt != NULL && e->text_dir == NULL)
    return hart_fail(&e->err, HART_ERR_UNSUPPORTED,
                     "prompts need a text model (open the engine with text_model_dir); or pass "
                     "a context tensor");
  if (req->prompt == NULL && req->context == NULL)
    return hart_fail(&e->err, HART_ERR_INVALID_ARGUMENT, "request: no prompt and no context");
  if (req->context_numel != 0 && req->context_numel != (size_t)n)
    return hart_fail(&e->err, HART_ERR_INVALID_ARGUMENT,
                     "request: the context has %zu values, the model expects %d x %d = %lld",
                     req->context_numel, e->m->llm.context_token, e->m->llm.context_dim,
                     (long long)n);
  for (int64_t i = 0; req->prompt == NULL && i < n; i++)
    if (!isfinite(req->context[i]))
      return hart_fail(&e->err, HART_ERR_INVALID_ARGUMENT,
                       "request: context value %lld (token %lld, channel %lld) is not finite",
                       (long long)i, (long long)(i / e->m->llm.context_dim),
                       (long long)(i % e->m->llm.context_dim));
  if (!isfinite(req->cfg) || req->cfg < 0.1f || req->cfg > 20.0f)
    return hart_fail(&e->err, HART_ERR_INVALID_ARGUMENT, "request: cfg %g out of range (0.1 .. 20)",
                     (double)req->cfg);
  if (req->seed > (uint64_t)INT64_MAX)
    return hart_fail(&e->err, HART_ERR_INVALID_ARGUMENT,
                     "request: seed %llu out of range (0 .. 2^63-1)",
                     (unsigned long long)req->seed);
  if (req->top_k_early < 0 || req->top_k_early > V || req->top_k_late < 0 || req->top_k_late > V)
    return hart_fail(&e->err, HART_ERR_INVALID_ARGUMENT,
                     "request: top-k %d/%d out of range (0 = default, 1 .. %d)", req->top_k_early,
                     req->top_k_late, V);
  if (!isfinite(req->top_p) || req->top_p < 0.0f || req->top_p >= 1.0f)
    return hart_fail(&e->err, HART_ERR_INVALID_ARGUMENT, "request: top-p %g out of range [0, 1)",
                     (double)req->top_p);
  if ((int)req->preview_mode < HART_PREVIEW_NONE || (int)req->preview_mode > HART_PREVIEW_DECODER)
    return hart_fail(&e->err, HART_ERR_INVALID_ARGUMENT, "request: unknown preview mode %d",
                     (int)req->preview_mode);
  return HART_OK;
}

/* Mask and position ids: given, or derived (all valid; positions 0..n-1 then n-1 repeated). */
static void fill_mask_pos(hart_engine *e, const hart_request *req)
{
  int64_t ct = e->m->llm.context_token, n_valid = 0;
  for (int64_t i = 0; i < ct; i++) {
    e->mask_buf[i] = req->context_mask ? (req->context_mask[i] != 0) : 1;
    n_valid += e->mask_buf[i];
  }
  for (int64_t i = 0; i < ct; i++)
    e->pos_buf[i] = req->context_position_ids ? req->context_position_ids[i]
                                              : (i < n_valid ? i : (n_valid > 0 ? n_valid - 1 : 0));
}

hart_status hart_generate(hart_engine *e, const hart_request *req, hart_image *image)
{
  hart_gen_request r;
  hart_gen_times times;
  double t_text = 0.0;
  int S;
  uint8_t *rgb;
  hart_status st;

  if (e == NULL || req == NULL || image == NULL)
    return HART_ERR_INVALID_ARGUMENT;
  hart_error_clear(&e->err);
  st = check_request(e, req);
  if (st != HART_OK)
    return st;
  S = hart_model_image_size(e->m);
  rgb = malloc((size_t)S * (size_t)S * 3);
  if (rgb == NULL)
    return hart_fail(&e->err, HART_ERR_NO_MEMORY, "out of memory for the image");
  e->req = req;
  e->cb_status = HART_OK;
  e->t0 = (double)g_get_monotonic_time() / 1e6;
  if (req->prompt != NULL) {
    st = encode_prompt(e, req, &t_text);
    if (st != HART_OK) {
      e->req = NULL;
      free(rgb);
      return st;
    }
    progress(e, HART_STAGE_TEXT, 1, 1);
  } else {
    fill_mask_pos(e, req);
  }
  memset(&r, 0, sizeof r);
  r.context = req->prompt != NULL ? e->ctx_buf : req->context;
  r.context_mask = e->mask_buf;
  r.position_ids = e->pos_buf;
  r.seed = req->seed;
  r.cfg = req->cfg;
  r.smooth = req->smooth;
  r.top_k_early = req->top_k_early;
  r.top_k_late = req->top_k_late;
  r.top_p = req->top_p;
  r.cancel = req->cancel;
  r.on_scale = on_scale;
  r.on_diffusion_step = on_diffusion_step;
  r.ud = e;
  r.rgb = rgb;
  st = hart_gen_run(e->gen, &r, &times, &e->err);
  e->req = NULL;
  if (st == HART_CANCELLED && e->cb_status != HART_OK) {
    e->err = e->cb_err; /* a preview failed: report that, not a cancellation */
    st = e->cb_status;
  }
  if (st != HART_OK) {
    free(rgb);
    return st;
  }
  {
    hart_progress p = { HART_STAGE_DONE, 1, 1, times.t_total };
    if (req->on_progress)
      req->on_progress(&p, req->user_data);
  }
  memset(image, 0, sizeof *image);
  image->width = S;
  image->height = S;
  image->rgb = rgb;
  image->t_text = t_text;
  for (int i = 0; i < e->m->llm.n_scales; i++)
    image->t_transformer += times.t_scale[i];
  image->t_diffusion = times.t_diffusion;
  image->t_decode = times.t_decode;
  image->t_total = times.t_total + t_text;
  return HART_OK;
}

void hart_image_clear(hart_image *image)
{
  if (image == NULL)
    return;
  free(image->rgb);
  memset(image, 0, sizeof *image);
}
