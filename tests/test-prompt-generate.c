/* test-prompt-generate.c: hart_generate from a prompt, end to end, on the tiny golden HART model
 * (shared/golden/tiny, context 16 x 32) with the tiny Qwen2 (shared/text/qwen2-tiny, hidden 32)
 * and the Qwen2 tokenizer. */
#include "test-util.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hart.h"
#include "image.h"
#include "text_encoder.h"

#define N_CTX 16 /* the tiny HART model's context_token */
#define DIM 32

static char *text_dir; /* a Qwen2 folder: the tiny model's files and tokenizer.json, linked */

static gboolean need_data(void)
{
  return ht_require_shared("golden/tiny/llm/config.json") &&
         ht_require_shared("text/qwen2-tiny/golden.safetensors") &&
         ht_require_shared("text/tokenizer.json") && ht_require_shared("text/tokens.json");
}

static void make_text_dir(void)
{
  static const char *const links[][2] = { { "text/qwen2-tiny/config.json", "config.json" },
                                          { "text/qwen2-tiny/model.safetensors",
                                            "model.safetensors" },
                                          { "text/tokenizer.json", "tokenizer.json" } };
  text_dir = g_dir_make_tmp("hart-text-XXXXXX", NULL);
  for (guint i = 0; i < G_N_ELEMENTS(links); i++) {
    char *src = ht_shared_path(links[i][0]), *dst = g_build_filename(text_dir, links[i][1], NULL);
    g_assert_cmpint(symlink(src, dst), ==, 0);
    g_free(src);
    g_free(dst);
  }
}

static void remove_text_dir(void)
{
  static const char *const names[] = { "config.json", "model.safetensors", "tokenizer.json" };
  for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
    char *p = g_build_filename(text_dir, names[i], NULL);
    g_unlink(p);
    g_free(p);
  }
  g_rmdir(text_dir);
  g_free(text_dir);
}

static char *case_prompt(int c)
{
  char *path = ht_shared_path("text/tokens.json");
  JsonParser *p = json_parser_new();
  JsonArray *arr;
  char *s;

  g_assert_true(json_parser_load_from_file(p, path, NULL));
  arr = json_object_get_array_member(json_node_get_object(json_parser_get_root(p)), "cases");
  s = g_strdup(
      json_object_get_string_member(json_array_get_object_element(arr, (guint)c), "prompt"));
  g_object_unref(p);
  g_free(path);
  return s;
}

static hart_engine *open_engine(const char *tdir, int release)
{
  hart_open_options o;
  hart_engine *e = NULL;
  char *model = ht_shared_path("golden/tiny");
  char msg[512] = "";

  hart_open_options_init(&o);
  o.model_dir = model;
  o.text_model_dir = tdir;
  o.backend = HART_BACKEND_CPU;
  o.n_threads = 2;
  o.release_text_model = release;
  if (hart_engine_open(&o, &e, msg, sizeof msg) != HART_OK)
    g_error("hart_engine_open: %s", msg);
  g_free(model);
  return e;
}

/* Generates from a prompt (or, when prompt is NULL, from ctx/mask/pos). */
static void generate(hart_engine *e, const char *prompt, const float *ctx, const uint8_t *mask,
                     const int64_t *pos, hart_image *img)
{
  hart_request r;

  hart_request_init(&r);
  r.prompt = prompt;
  r.context = ctx;
  r.context_mask = mask;
  r.context_position_ids = pos;
  r.seed = 7;
  r.preview_mode = HART_PREVIEW_NONE;
  if (hart_generate(e, &r, img) != HART_OK)
    g_error("hart_generate: %s", hart_engine_last_error(e));
}

/* `hart generate --text-model DIR --prompt TEXT` writes the PNG of the library's image. */
static void check_cli(const hart_image *img, const char *prompt)
{
  char *model = ht_shared_path("golden/tiny"), *tmp = g_dir_make_tmp("hart-gen-XXXXXX", NULL);
  char *want = g_build_filename(tmp, "want.png", NULL),
       *got = g_build_filename(tmp, "got.png", NULL);
  const char *argv[] = { g_getenv("HART_CLI"),
                         "generate",
                         "--model",
                         model,
                         "--text-model",
                         text_dir,
                         "--prompt",
                         prompt,
                         "--seed",
                         "7",
                         "--backend",
                         "cpu",
                         "--threads",
                         "2",
                         "--quiet",
                         "--out",
                         got,
                         NULL };
  char *a = NULL, *b = NULL, *err_out = NULL;
  gsize la = 0, lb = 0;
  int status;
  hart_error err = { 0 };

  g_assert_nonnull(argv[0]);
  g_assert_cmpint(hart_png_write(want, img->rgb, img->width, img->height, NULL, &err), ==, HART_OK);
  g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                             NULL, &err_out, &status, NULL));
  if (!g_spawn_check_wait_status(status, NULL))
    g_error("hart generate failed: %s", err_out);
  g_assert_true(g_file_get_contents(want, &a, &la, NULL));
  g_assert_true(g_file_get_contents(got, &b, &lb, NULL));
  g_assert_cmpuint(la, ==, lb);
  g_assert_true(memcmp(a, b, la) == 0);
  g_unlink(want);
  g_unlink(got);
  g_rmdir(tmp);
  g_free(a);
  g_free(b);
  g_free(err_out);
  g_free(want);
  g_free(got);
  g_free(tmp);
  g_free(model);
}

/* The 16-token encoding equals the first 16 rows of the golden 300-token one: attention is
 * causal, so rows before the cut see exactly the same ids. */
static void test_context_16(void)
{
  hart_error err = { 0 };
  hart_backend *be;
  hart_text_encoder *enc;
  hart_tensor_set *g;
  float ctx[N_CTX * DIM], *want;
  gint64 n;
  char *prompt;

  if (!need_data())
    return;
  prompt = case_prompt(0);
  g_assert_cmpint(hart_backend_cpu_new(2, &err, &be), ==, HART_OK);
  be->err = &err;
  g_assert_cmpint(hart_text_encoder_load(be, text_dir, NULL, &enc, &err), ==, HART_OK);
  g_assert_cmpint(hart_text_encode(enc, prompt, 1, N_CTX, ctx, NULL, NULL, &err), ==, HART_OK);
  g = ht_open_st("text/qwen2-tiny/golden.safetensors");
  want = ht_tensor_f32(g, "case0.context_tensor", &n);
  g_assert_cmpint(n, ==, 300 * DIM);
  {
    double e = ht_max_abs_err(ctx, want, N_CTX * DIM);
    g_test_message("16-token context vs golden rows 0..15: max abs err %.3g", e);
    g_assert_cmpfloat(e, <=, 1e-5);
  }
  g_free(want);
  hart_tensor_set_free(g);
  hart_text_encoder_free(enc);
  be->ops->destroy(be);
  g_free(prompt);
}

/* A prompt request (library and `hart generate`) gives the image of a context request with the
 * encoder's own context, mask and positions (so the prompt path passes them through unchanged);
 * another prompt gives another image; releasing the text model between requests changes nothing. */
static void test_generate_from_prompt(void)
{
  hart_error err = { 0 };
  hart_backend *be;
  hart_text_encoder *enc;
  hart_engine *e, *e_rel;
  hart_engine_info info;
  hart_image a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
  float ctx[N_CTX * DIM];
  uint8_t mask[N_CTX];
  int64_t pos[N_CTX];
  char *p0, *p1;
  size_t bytes;

  if (!need_data())
    return;
  p0 = case_prompt(0);
  p1 = case_prompt(1);
  e = open_engine(text_dir, 0);
  hart_engine_get_info(e, &info);
  g_assert_cmpint(info.has_text_model, ==, 1);
  generate(e, p0, NULL, NULL, NULL, &a);
  g_assert_cmpint(a.width, >, 0);
  g_test_message("prompt -> %dx%d image: text %.3f s, total %.3f s", a.width, a.height, a.t_text,
                 a.t_total);
  bytes = (size_t)a.width * (size_t)a.height * 3;
  check_cli(&a, p0);

  g_assert_cmpint(hart_backend_cpu_new(2, &err, &be), ==, HART_OK);
  be->err = &err;
  g_assert_cmpint(hart_text_encoder_load(be, text_dir, NULL, &enc, &err), ==, HART_OK);
  g_assert_cmpint(hart_text_encode(enc, p0, 1, N_CTX, ctx, mask, pos, &err), ==, HART_OK);
  generate(e, NULL, ctx, mask, pos, &b);
  g_assert_cmpint(b.width, ==, a.width);
  g_assert_true(memcmp(a.rgb, b.rgb, bytes) == 0);

  generate(e, p1, NULL, NULL, NULL, &c);
  g_assert_false(memcmp(a.rgb, c.rgb, bytes) == 0);

  e_rel = open_engine(text_dir, 1);
  generate(e_rel, p0, NULL, NULL, NULL, &d);
  g_assert_true(memcmp(a.rgb, d.rgb, bytes) == 0);

  hart_image_clear(&a);
  hart_image_clear(&b);
  hart_image_clear(&c);
  hart_image_clear(&d);
  hart_engine_close(e);
  hart_engine_close(e_rel);
  hart_text_encoder_free(enc);
  be->ops->destroy(be);
  g_free(p0);
  g_free(p1);
}

static void test_bad_requests(void)
{
  hart_engine *e, *e_plain;
  hart_request r;
  hart_image img = { 0 };

  if (!need_data())
    return;
  e = open_engine(text_dir, 0);
  hart_request_init(&r);
  r.prompt = "";
  g_assert_cmpint(hart_generate(e, &r, &img), ==, HART_ERR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(hart_engine_last_error(e), "empty"));
  r.prompt = "<|endoftext|>";
  g_assert_cmpint(hart_generate(e, &r, &img), ==, HART_ERR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(hart_engine_last_error(e), "padding"));
  r.prompt = "\xff\xfe";
  g_assert_cmpint(hart_generate(e, &r, &img), ==, HART_ERR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(hart_engine_last_error(e), "UTF-8"));
  g_assert_null(img.rgb);
  hart_engine_close(e);

  e_plain = open_engine(NULL, 0);
  r.prompt = "a cat";
  g_assert_cmpint(hart_generate(e_plain, &r, &img), ==, HART_ERR_UNSUPPORTED);
  g_assert_nonnull(strstr(hart_engine_last_error(e_plain), "text model"));
  hart_engine_close(e_plain);
}

int main(int argc, char **argv)
{
  int rc;

  g_test_init(&argc, &argv, NULL);
  if (need_data())
    make_text_dir();
  g_test_add_func("/prompt-generate/context-16", test_context_16);
  g_test_add_func("/prompt-generate/from-prompt", test_generate_from_prompt);
  g_test_add_func("/prompt-generate/bad-requests", test_bad_requests);
  rc = g_test_run();
  if (text_dir != NULL)
    remove_text_dir();
  return rc;
}
