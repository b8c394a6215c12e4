/* test-history-png-meta.c: settings in PNGs. Round trips through the writer, A1111 "parameters"
 * from other apps, and hostile files built chunk by chunk here: huge declared lengths, big real
 * chunks, decompression bombs, invalid UTF-8, bad JSON, wrong types, bad CRCs, truncation. */
#include <glib/gstdio.h>
#include <string.h>
#include <zlib.h>

#include "hs-png-meta.h"
#include "test-history-util.h"

/* --- a PNG builder for hand-made files --- */

static void put32(GByteArray *b, guint32 v)
{
  guint8 be[4] = { v >> 24, v >> 16, v >> 8, v };
  g_byte_array_append(b, be, 4);
}

/* Appends a chunk; declared_len lets a test lie about the length (-1 = the real one). */
static void chunk(GByteArray *b, const char *type, const void *data, gsize len, gint64 declared_len)
{
  uLong crc = crc32(0L, (const Bytef *)type, 4);

  crc = crc32(crc, data, (uInt)len);
  put32(b, declared_len >= 0 ? (guint32)declared_len : (guint32)len);
  g_byte_array_append(b, (const guint8 *)type, 4);
  g_byte_array_append(b, data, (guint)len);
  put32(b, (guint32)crc);
}

static GByteArray *png_start(void)
{
  static const guint8 sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  /* 1x1 RGB8. */
  static const guint8 ihdr[13] = { 0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0 };
  GByteArray *b = g_byte_array_new();

  g_byte_array_append(b, sig, 8);
  chunk(b, "IHDR", ihdr, 13, -1);
  return b;
}

static GBytes *png_finish(GByteArray *b)
{
  static const guint8 row[4] = { 0, 10, 20, 30 };
  guint8 z[64];
  uLongf zlen = sizeof(z);

  g_assert_cmpint(compress(z, &zlen, row, sizeof(row)), ==, Z_OK);
  chunk(b, "IDAT", z, zlen, -1);
  chunk(b, "IEND", NULL, 0, -1);
  return g_byte_array_free_to_bytes(b);
}

/* keyword\0text */
static void text_chunk(GByteArray *b, const char *key, const char *text, gssize len)
{
  GByteArray *d = g_byte_array_new();

  g_byte_array_append(d, (const guint8 *)key, strlen(key) + 1);
  g_byte_array_append(d, (const guint8 *)text, len < 0 ? strlen(text) : (gsize)len);
  chunk(b, "tEXt", d->data, d->len, -1);
  g_byte_array_unref(d);
}

/* keyword\0 flag method lang\0 translated\0 text (compressed when flag) */
static void itxt_chunk(GByteArray *b, const char *key, const void *text, gsize len,
                       gboolean compressed)
{
  GByteArray *d = g_byte_array_new();
  guint8 hdr[4] = { compressed ? 1 : 0, 0, 0, 0 };

  g_byte_array_append(d, (const guint8 *)key, strlen(key) + 1);
  g_byte_array_append(d, hdr, 4);
  if (compressed) {
    uLongf zlen = compressBound(len);
    guint8 *z = g_malloc(zlen);
    g_assert_cmpint(compress(z, &zlen, text, len), ==, Z_OK);
    g_byte_array_append(d, z, zlen);
    g_free(z);
  } else {
    g_byte_array_append(d, text, len);
  }
  chunk(b, "iTXt", d->data, d->len, -1);
  g_byte_array_unref(d);
}

static void expect_error(GBytes *png, HsPngMetaError code)
{
  g_autoptr(GError) error = NULL;
  HsGenParams *p = NULL;

  g_assert_false(hs_png_meta_read_bytes(png, &p, &error));
  g_assert_null(p);
  g_assert_error(error, HS_PNG_META_ERROR, code);
  g_test_message("rejected: %s", error->message);
}

/* --- round trips --- */

static void test_roundtrip(void)
{
  g_autoptr(HsGenParams) in = th_params("a fox, \"quoted\", and ünïcode: ✓\nsecond line", 0);
  g_autoptr(HsGenParams) out = NULL;
  g_autoptr(HsGenParams) out_a = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *rgb = th_pattern(24, 16, 5);
  g_autoptr(GBytes) png = NULL;
  g_autofree char *dir = th_tmpdir();
  g_autofree char *path = g_build_filename(dir, "x.png", NULL);
  g_autofree guint8 *px = NULL;
  int w = 0, h = 0;

  in->seed = G_MAXUINT64 - 1;
  in->width = 24;
  in->height = 16;
  in->created_us = 1764000000000000;
  png = hs_png_meta_encode(rgb, 24, 16, in, &error);
  g_assert_no_error(error);
  g_assert_true(
      g_file_set_contents(path, g_bytes_get_data(png, NULL), (gssize)g_bytes_get_size(png), NULL));
  /* libpng reads the pixels back unchanged. */
  px = th_png_pixels(path, &w, &h);
  g_assert_nonnull(px);
  g_assert_cmpmem(px, 24 * 16 * 3, rgb, 24 * 16 * 3);

  g_assert_true(hs_png_meta_read(path, &out, &error));
  g_assert_no_error(error);
  g_assert_cmpint(out->source, ==, HS_PNG_META_SOURCE_HART);
  g_assert_cmpstr(out->prompt, ==, in->prompt);
  g_assert_cmpuint(out->seed, ==, in->seed);
  g_assert_true(out->has_seed);
  g_assert_cmpfloat(out->cfg, ==, in->cfg);
  g_assert_cmpint(out->smooth, ==, in->smooth);
  g_assert_cmpint(out->use_system_prompt, ==, in->use_system_prompt);
  g_assert_cmpint(out->width, ==, 24);
  g_assert_cmpint(out->height, ==, 16);
  g_assert_cmpstr(out->model_name, ==, in->model_name);
  g_assert_cmpstr(out->model_revision, ==, in->model_revision);
  g_assert_cmpstr(out->model_hash, ==, in->model_hash);
  g_assert_cmpstr(out->engine_version, ==, in->engine_version);
  g_assert_cmpstr(out->backend, ==, in->backend);
  g_assert_cmpstr(out->device, ==, in->device);
  g_assert_cmpfloat(out->t_diffusion, ==, in->t_diffusion);
  g_assert_cmpint(out->created_us, ==, in->created_us);

  /* The A1111 text alone carries the essentials too (what other apps read). */
  {
    g_autofree char *a1111 = hs_gen_params_to_a1111(in);
    g_test_message("A1111: %s", a1111);
    out_a = hs_gen_params_new();
    g_assert_true(hs_gen_params_parse_a1111(a1111, strlen(a1111), out_a, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(out_a->prompt, ==, in->prompt);
    g_assert_cmpuint(out_a->seed, ==, in->seed);
    g_assert_cmpfloat(out_a->cfg, ==, in->cfg);
    g_assert_cmpint(out_a->width, ==, 24);
    g_assert_cmpstr(out_a->model_name, ==, in->model_name);
    g_assert_cmpstr(out_a->model_hash, ==, in->model_hash);
    g_assert_false(out_a->smooth);
    g_assert_true(out_a->use_system_prompt);
  }
  th_rm_rf(dir);
}

/* A PNG as AUTOMATIC1111 writes it (tEXt "parameters", negative prompt and extra keys). */
static void test_a1111(void)
{
  GByteArray *b = png_start();
  g_autoptr(GBytes) png = NULL;
  g_autoptr(HsGenParams) p = NULL;
  g_autoptr(GError) error = NULL;

  text_chunk(b, "parameters",
             "masterpiece, a castle on a hill\nat night\n"
             "Negative prompt: blurry, low quality\n"
             "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 3141592653, "
             "Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, "
             "Lora hashes: \"a: 1, b: 2\", Version: v1.7.0",
             -1);
  png = png_finish(b);
  g_assert_true(hs_png_meta_read_bytes(png, &p, &error));
  g_assert_no_error(error);
  g_assert_cmpint(p->source, ==, HS_PNG_META_SOURCE_A1111);
  g_assert_cmpstr(p->prompt, ==, "masterpiece, a castle on a hill\nat night");
  g_assert_true(p->has_seed);
  g_assert_cmpuint(p->seed, ==, 3141592653u);
  g_assert_true(p->has_cfg);
  g_assert_cmpfloat(p->cfg, ==, 7.5);
  g_assert_cmpint(p->width, ==, 512);
  g_assert_cmpint(p->height, ==, 768);
  g_assert_cmpstr(p->model_name, ==, "v1-5-pruned-emaonly");
  g_assert_cmpstr(p->model_hash, ==, "6ce0161689");
}

/* tEXt is Latin-1 by the PNG spec: bytes that are not UTF-8 are decoded as such. */
static void test_latin1(void)
{
  GByteArray *b = png_start();
  g_autoptr(GBytes) png = NULL;
  g_autoptr(HsGenParams) p = NULL;
  g_autoptr(GError) error = NULL;

  text_chunk(b, "parameters", "caf\xe9 au lait\nSteps: 8, Seed: 7", -1);
  png = png_finish(b);
  g_assert_true(hs_png_meta_read_bytes(png, &p, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(p->prompt, ==, "café au lait");
  g_assert_cmpuint(p->seed, ==, 7);
}

/* The JSON chunk wins over parameters; compressed iTXt is read. */
static void test_json_preferred(void)
{
  GByteArray *b = png_start();
  const char *json = "{\"prompt\": \"from json\", \"seed\": 12, \"cfg\": 2}";
  g_autoptr(GBytes) png = NULL;
  g_autoptr(HsGenParams) p = NULL;
  g_autoptr(GError) error = NULL;

  text_chunk(b, "parameters", "from a1111\nSteps: 8, Seed: 1", -1);
  itxt_chunk(b, HS_PNG_META_JSON_KEY, json, strlen(json), TRUE);
  png = png_finish(b);
  g_assert_true(hs_png_meta_read_bytes(png, &p, &error));
  g_assert_no_error(error);
  g_assert_cmpint(p->source, ==, HS_PNG_META_SOURCE_HART);
  g_assert_cmpstr(p->prompt, ==, "from json");
  g_assert_cmpuint(p->seed, ==, 12);
  g_assert_cmpfloat(p->cfg, ==, 2.0);
  /* Size from IHDR when the settings do not say. */
  g_assert_cmpint(p->width, ==, 1);
}

/* The JSON that the window's Save As writes (app/hs-metadata.c): other key names, the model's
 * id and device inside "model", and the seed through an int64. */
static void test_window_json(void)
{
  const char *json = "{\"generator\": \"Hart Studio 0.1.0\", \"engine_version\": \"0.1.0\","
                     " \"prompt\": \"a window\", \"use_system_prompt\": false, \"seed\": -2,"
                     " \"cfg\": 6.5, \"smooth\": true, \"top_k_early\": 600,"
                     " \"model\": {\"dir\": \"/m\", \"id\": \"abcd\", \"backend\": \"cpu\","
                     " \"device\": \"CPU (2 threads)\", \"scales\": 14},"
                     " \"width\": 64, \"height\": 64, \"timings\": {\"total\": 3.5}}";
  g_autoptr(HsGenParams) p = hs_gen_params_new();
  g_autoptr(GError) error = NULL;

  g_assert_true(hs_gen_params_parse_json(json, strlen(json), p, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(p->prompt, ==, "a window");
  g_assert_false(p->use_system_prompt);
  g_assert_cmpuint(p->seed, ==, G_MAXUINT64 - 1);
  g_assert_cmpfloat(p->cfg, ==, 6.5);
  g_assert_cmpstr(p->model_hash, ==, "abcd");
  g_assert_cmpstr(p->backend, ==, "cpu");
  g_assert_cmpstr(p->device, ==, "CPU (2 threads)");
  g_assert_cmpint(p->width, ==, 64);
  g_assert_cmpfloat(p->t_total, ==, 3.5);
}

/* --- hostile input --- */

static void test_not_png(void)
{
  g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
  g_autoptr(GBytes) text = g_bytes_new_static("GIF89a not a png at all", 23);
  g_autoptr(GError) error = NULL;
  HsGenParams *p = NULL;

  expect_error(empty, HS_PNG_META_ERROR_NOT_PNG);
  expect_error(text, HS_PNG_META_ERROR_NOT_PNG);
  g_assert_false(hs_png_meta_read("/nonexistent/file.png", &p, &error));
  g_assert_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_IO);
  g_assert_nonnull(strstr(error->message, "/nonexistent/file.png"));
}

static void test_no_settings(void)
{
  GByteArray *b = png_start();
  g_autoptr(GBytes) png = NULL;

  text_chunk(b, "Software", "some other app", -1);
  png = png_finish(b);
  expect_error(png, HS_PNG_META_ERROR_NO_DATA);
}

/* A declared length of almost 2 GiB: refused before any allocation. */
static void test_huge_declared_length(void)
{
  GByteArray *b = png_start();
  g_autoptr(GBytes) png = NULL;

  chunk(b, "tEXt", "parameters\0x", 12, 0x7ffffff0);
  png = png_finish(b);
  expect_error(png, HS_PNG_META_ERROR_TOO_LARGE);

  b = png_start();
  chunk(b, "tEXt", "x", 1, 0xfffffff0u); /* over 2^31: not a valid PNG length */
  g_clear_pointer(&png, g_bytes_unref);
  png = png_finish(b);
  expect_error(png, HS_PNG_META_ERROR_NOT_PNG);
}

/* A real chunk bigger than the limit. */
static void test_big_chunk(void)
{
  GByteArray *b = png_start();
  gsize n = HS_PNG_META_MAX_CHUNK + 100;
  g_autofree char *big = g_malloc(n);
  g_autoptr(GBytes) png = NULL;

  memset(big, 'a', n);
  text_chunk(b, "parameters", big, (gssize)n);
  png = png_finish(b);
  expect_error(png, HS_PNG_META_ERROR_TOO_LARGE);
}

/* 16 MiB of spaces compressed to a few KiB: inflation stops at the limit. */
static void test_zip_bomb(void)
{
  GByteArray *b = png_start();
  gsize n = 16 * 1024 * 1024;
  g_autofree char *big = g_malloc(n);
  g_autoptr(GBytes) png = NULL;

  memset(big, ' ', n);
  itxt_chunk(b, HS_PNG_META_JSON_KEY, big, n, TRUE);
  g_assert_cmpuint(b->len, <, HS_PNG_META_MAX_CHUNK);
  png = png_finish(b);
  expect_error(png, HS_PNG_META_ERROR_TOO_LARGE);
}

static void test_invalid_utf8(void)
{
  GByteArray *b = png_start();
  const char *bad = "{\"prompt\": \"\xc3\x28 broken\"}";
  g_autoptr(GBytes) png = NULL;
  g_autoptr(HsGenParams) p = hs_gen_params_new();
  g_autoptr(GError) error = NULL;

  itxt_chunk(b, HS_PNG_META_JSON_KEY, bad, strlen(bad), FALSE);
  png = png_finish(b);
  expect_error(png, HS_PNG_META_ERROR_INVALID);
  /* iTXt must be UTF-8, A1111 text in iTXt too. */
  g_assert_false(hs_gen_params_parse_a1111("\xff\xfe\nSteps: 1", 10, p, &error));
  g_assert_error(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_INVALID);
}

static void test_bad_json(void)
{
  const char *cases[] = {
    "{\"prompt\": \"unterminated",
    "[1, 2, 3]",
    "\"just a string\"",
    "{\"prompt\": 42}",
    "{\"prompt\": \"x\", \"seed\": 1.5}",
    "{\"prompt\": \"x\", \"seed\": true}",
    "{\"prompt\": \"x\", \"seed\": \"12abc\"}",
    "{\"prompt\": \"x\", \"seed\": \"99999999999999999999999\"}",
    "{\"prompt\": \"x\", \"cfg\": \"high\"}",
    "{\"prompt\": \"x\", \"cfg\": 1e308}",
    "{\"prompt\": \"x\", \"smooth\": \"yes\"}",
    "{\"prompt\": \"x\", \"width\": 1000000}",
    "{\"prompt\": \"x\", \"model\": [\"a\"]}",
    "{\"prompt\": \"x\", \"model\": {\"name\": 5}}",
    "{\"prompt\": \"x\", \"timings\": {\"total\": -1}}",
    "{\"seed\": \"1\"}",
  };

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    GByteArray *b = png_start();
    g_autoptr(GBytes) png = NULL;
    itxt_chunk(b, HS_PNG_META_JSON_KEY, cases[i], strlen(cases[i]), FALSE);
    png = png_finish(b);
    g_test_message("case %u: %s", i, cases[i]);
    expect_error(png, HS_PNG_META_ERROR_INVALID);
  }
}

static void test_long_prompt(void)
{
  GString *json = g_string_new("{\"prompt\": \"");
  GByteArray *b = png_start();
  g_autoptr(GBytes) png = NULL;

  for (int i = 0; i < HS_PNG_META_MAX_PROMPT + 10; i++)
    g_string_append_c(json, 'p');
  g_string_append(json, "\"}");
  itxt_chunk(b, HS_PNG_META_JSON_KEY, json->str, json->len, FALSE);
  png = png_finish(b);
  expect_error(png, HS_PNG_META_ERROR_TOO_LARGE);
  g_string_free(json, TRUE);
}

static void test_bad_crc(void)
{
  GByteArray *b = png_start();
  g_autoptr(GBytes) png = NULL;
  guint off;

  text_chunk(b, "parameters", "prompt\nSteps: 8, Seed: 1", -1);
  off = b->len - 5; /* a byte of the text */
  b->data[off] ^= 0x20;
  png = png_finish(b);
  expect_error(png, HS_PNG_META_ERROR_NOT_PNG);
}

static void test_truncated(void)
{
  GByteArray *b = png_start();
  g_autoptr(GBytes) whole = NULL;

  text_chunk(b, "parameters", "prompt\nSteps: 8, Seed: 1", -1);
  whole = png_finish(b);
  /* Every prefix of the file is refused cleanly, never read past its end. */
  for (gsize n = 0; n < g_bytes_get_size(whole) - 12; n++) {
    g_autoptr(GBytes) cut = g_bytes_new_from_bytes(whole, 0, n);
    g_autoptr(GError) error = NULL;
    HsGenParams *p = NULL;
    gboolean ok = hs_png_meta_read_bytes(cut, &p, &error);
    /* Once the text chunk is complete, reading stops at IDAT and succeeds. */
    if (ok) {
      g_assert_cmpstr(p->prompt, ==, "prompt");
      hs_gen_params_free(p);
    } else {
      g_assert_true(g_error_matches(error, HS_PNG_META_ERROR, HS_PNG_META_ERROR_NOT_PNG));
    }
  }
}

/* Many chunks before the image: bounded, refused. */
static void test_many_chunks(void)
{
  GByteArray *b = png_start();
  g_autoptr(GBytes) png = NULL;

  for (int i = 0; i < 5000; i++)
    chunk(b, "zzZz", "x", 1, -1);
  png = png_finish(b);
  expect_error(png, HS_PNG_META_ERROR_NOT_PNG);
}

/* A bad keyword (none, or over 79 bytes) is not ours: ignored like other decoders do. */
static void test_bad_keyword(void)
{
  GByteArray *b = png_start();
  g_autoptr(GBytes) png = NULL;
  char key[100];

  memset(key, 'k', sizeof(key));
  chunk(b, "tEXt", key, sizeof(key), -1);
  chunk(b, "iTXt", "\0abc", 4, -1);
  itxt_chunk(b, HS_PNG_META_JSON_KEY, "{\"prompt\":\"ok\"}", 15, FALSE);
  png = png_finish(b);
  {
    g_autoptr(HsGenParams) p = NULL;
    g_autoptr(GError) error = NULL;
    g_assert_true(hs_png_meta_read_bytes(png, &p, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(p->prompt, ==, "ok");
  }
  /* Our key with a malformed iTXt header is an error. */
  b = png_start();
  chunk(b, "iTXt", HS_PNG_META_JSON_KEY "\0\x07", sizeof(HS_PNG_META_JSON_KEY) + 1, -1);
  g_clear_pointer(&png, g_bytes_unref);
  png = png_finish(b);
  expect_error(png, HS_PNG_META_ERROR_INVALID);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/png-meta/roundtrip", test_roundtrip);
  g_test_add_func("/png-meta/a1111", test_a1111);
  g_test_add_func("/png-meta/latin1", test_latin1);
  g_test_add_func("/png-meta/json-preferred", test_json_preferred);
  g_test_add_func("/png-meta/window-json", test_window_json);
  g_test_add_func("/png-meta/hostile/not-png", test_not_png);
  g_test_add_func("/png-meta/hostile/no-settings", test_no_settings);
  g_test_add_func("/png-meta/hostile/huge-declared-length", test_huge_declared_length);
  g_test_add_func("/png-meta/hostile/big-chunk", test_big_chunk);
  g_test_add_func("/png-meta/hostile/zip-bomb", test_zip_bomb);
  g_test_add_func("/png-meta/hostile/invalid-utf8", test_invalid_utf8);
  g_test_add_func("/png-meta/hostile/bad-json", test_bad_json);
  g_test_add_func("/png-meta/hostile/long-prompt", test_long_prompt);
  g_test_add_func("/png-meta/hostile/bad-crc", test_bad_crc);
  g_test_add_func("/png-meta/hostile/truncated", test_truncated);
  g_test_add_func("/png-meta/hostile/many-chunks", test_many_chunks);
  g_test_add_func("/png-meta/hostile/bad-keyword", test_bad_keyword);
  return g_test_run();
}
