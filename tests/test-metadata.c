/* test-metadata.c: PNG text chunks and the A1111 / JSON metadata, without the engine running. */
#include "hs-config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "hs-metadata.h"
#include "hs-png.h"

static HsImage *gradient(int w, int h)
{
  guint8 *px = g_malloc((gsize)w * h * 3);
  g_autoptr(GBytes) bytes = NULL;

  for (int i = 0; i < w * h * 3; i++)
    px[i] = (guint8)(i * 7);
  bytes = g_bytes_new_take(px, (gsize)w * h * 3);
  return hs_image_new(w, h, bytes);
}

static void test_roundtrip_texts(void)
{
  g_autoptr(HsImage) image = gradient(13, 5);
  g_autoptr(HsImage) back = NULL;
  g_autoptr(GHashTable) texts = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp("hs-png-XXXXXX", NULL);
  g_autofree char *path = g_build_filename(dir, "a.png", NULL);
  /* ASCII goes to tEXt, UTF-8 to iTXt; both must read back unchanged. */
  HsPngText chunks[] = { { "parameters", "plain ascii\nSteps: 8" },
                         { "hart_metadata", "{\"prompt\": \"caf\xc3\xa9 \xe2\x98\x95\"}" } };

  g_assert_true(hs_png_save(path, image, chunks, G_N_ELEMENTS(chunks), &error));
  g_assert_no_error(error);
  texts = hs_png_load(path, &back, &error);
  g_assert_no_error(error);
  g_assert_cmpint(back->width, ==, 13);
  g_assert_cmpint(back->height, ==, 5);
  g_assert_true(g_bytes_equal(back->rgb, image->rgb));
  g_assert_cmpstr(g_hash_table_lookup(texts, "parameters"), ==, chunks[0].text);
  g_assert_cmpstr(g_hash_table_lookup(texts, "hart_metadata"), ==, chunks[1].text);
  g_unlink(path);
  g_rmdir(dir);
}

static void test_bad_files(void)
{
  g_autoptr(HsImage) image = gradient(8, 8);
  g_autoptr(GBytes) png = hs_png_encode(image, NULL, 0, NULL);
  g_autofree char *dir = g_dir_make_tmp("hs-png-XXXXXX", NULL);
  g_autofree char *path = g_build_filename(dir, "bad.png", NULL);
  gsize len;
  const char *data = g_bytes_get_data(png, &len);
  GError *error = NULL;

  /* Not a PNG, and a PNG cut short: errors naming the file, no crash. */
  g_assert_true(g_file_set_contents(path, "hello", 5, NULL));
  g_assert_null(hs_png_load(path, NULL, &error));
  g_assert_nonnull(strstr(error->message, path));
  g_clear_error(&error);
  for (gsize cut = 8; cut < len; cut += 17) {
    g_assert_true(g_file_set_contents(path, data, (gssize)cut, NULL));
    g_assert_null(hs_png_load(path, NULL, &error));
    g_assert_nonnull(error);
    g_clear_error(&error);
  }
  g_assert_null(hs_png_load("/nonexistent/x.png", NULL, &error));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_clear_error(&error);
  g_unlink(path);
  g_rmdir(dir);
}

static void test_parameters_text(void)
{
  g_autoptr(HsRequest) request = hs_request_new();
  g_autoptr(HsImage) image = gradient(64, 64);
  hart_engine_info info = { 0 };
  HsModelIdentity model = { "/models/hart-0.7b-1024px", "/models/qwen2", &info };
  g_autofree char *text = NULL;
  g_autofree char *json = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  JsonObject *root;

  info.n_diffusion_steps = 8;
  info.n_scales = 14;
  info.backend_name = "cpu";
  info.device_name = "CPU (2 threads)";
  g_strlcpy(info.model_id, "0123456789abcdef", sizeof info.model_id);
  request->prompt = g_strdup("a cat, oil painting");
  request->seed = 123456789;
  request->cfg = 4.5;
  request->smooth = FALSE;

  /* The A1111 infotext layout: prompt line, then "Key: value" pairs. */
  text = hs_metadata_parameters(request, image, &model);
  g_assert_cmpstr(text, ==,
                  "a cat, oil painting\nSteps: 8, Sampler: HART, CFG scale: 4.5, Seed: 123456789, "
                  "Size: 64x64, Model: hart-0.7b-1024px, Model hash: 0123456789, Smooth: False, "
                  "System prompt: True, Version: Hart Studio " PACKAGE_VERSION);

  json = hs_metadata_json(request, image, &model);
  g_assert_true(json_parser_load_from_data(parser, json, -1, &error));
  g_assert_no_error(error);
  root = json_node_get_object(json_parser_get_root(parser));
  g_assert_cmpstr(json_object_get_string_member(root, "prompt"), ==, "a cat, oil painting");
  g_assert_cmpint(json_object_get_int_member(root, "seed"), ==, 123456789);
  g_assert_false(json_object_get_boolean_member(root, "smooth"));
  g_assert_true(json_object_get_boolean_member(root, "use_system_prompt"));
  g_assert_cmpint(json_object_get_int_member(root, "top_k_early"), ==, 600);
  g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(root, "model"), "id"),
                  ==, "0123456789abcdef");
  g_assert_cmpstr(
      json_object_get_string_member(json_object_get_object_member(root, "model"), "text_dir"), ==,
      "/models/qwen2");
}

static void test_enlarge_nearest(void)
{
  g_autoptr(HsImage) image = gradient(4, 2);
  g_autoptr(HsImage) big = hs_image_enlarge_nearest(image, 17);
  g_autoptr(HsImage) same = hs_image_enlarge_nearest(image, 5);
  const guint8 *src = g_bytes_get_data(image->rgb, NULL);
  const guint8 *dst = g_bytes_get_data(big->rgb, NULL);

  /* Factor 4 (17 / 4); every output pixel copies its source pixel exactly. */
  g_assert_cmpint(big->width, ==, 16);
  g_assert_cmpint(big->height, ==, 8);
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 16; x++)
      g_assert_cmpmem(dst + (y * 16 + x) * 3, 3, src + ((y / 4) * 4 + x / 4) * 3, 3);
  g_assert_true(same == image);
}

static void test_prepare_display(void)
{
  g_autoptr(HsImage) image = gradient(4, 2);
  const guint8 *src = g_bytes_get_data(image->rgb, NULL);
  const guint8 *dst;

  /* Factor 4 (17 / 4): square pixels, BGRA order, opaque. */
  hs_image_prepare_display(image, 17);
  g_assert_cmpint(image->display_width, ==, 16);
  g_assert_cmpint(image->display_height, ==, 8);
  dst = g_bytes_get_data(image->display, NULL);
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 16; x++) {
      const guint8 *p = src + ((y / 4) * 4 + x / 4) * 3;
      const guint8 *q = dst + (y * 16 + x) * 4;
      g_assert_cmpuint(q[0], ==, p[2]);
      g_assert_cmpuint(q[1], ==, p[1]);
      g_assert_cmpuint(q[2], ==, p[0]);
      g_assert_cmpuint(q[3], ==, 255);
    }
}

int main(int argc, char *argv[])
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/metadata/png-roundtrip", test_roundtrip_texts);
  g_test_add_func("/metadata/png-bad-files", test_bad_files);
  g_test_add_func("/metadata/parameters", test_parameters_text);
  g_test_add_func("/metadata/enlarge-nearest", test_enlarge_nearest);
  g_test_add_func("/metadata/prepare-display", test_prepare_display);
  return g_test_run();
}
