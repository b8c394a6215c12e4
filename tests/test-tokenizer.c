/* test-tokenizer.c: the Qwen2 tokenizer and HART's prompt ids against shared/text/tokens.json
 * (made with Hugging Face tokenizers), the system prompt, and bad input. */
#include "test-util.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prompt.h"
#include "tokenizer_private.h"
#include "tokenizer.h"

static hart_tokenizer *tok; /* loaded once: loading is the slow part */
static JsonParser *ref_parser;
static JsonObject *ref;

static gboolean need_tokenizer(void)
{
  if (!ht_require_shared("text/tokenizer.json") || !ht_require_shared("text/tokens.json"))
    return FALSE;
  if (tok == NULL) {
    char *path = ht_shared_path("text/tokenizer.json");
    char *tpath = ht_shared_path("text/tokens.json");
    hart_error err = { 0 };
    GError *gerr = NULL;
    gint64 t0 = g_get_monotonic_time();
    if (hart_tokenizer_load(path, &tok, &err) != HART_OK)
      g_error("%s", err.msg);
    g_test_message("tokenizer.json loaded in %.0f ms", (g_get_monotonic_time() - t0) / 1e3);
    ref_parser = json_parser_new();
    if (!json_parser_load_from_file(ref_parser, tpath, &gerr))
      g_error("%s", gerr->message);
    ref = json_node_get_object(json_parser_get_root(ref_parser));
    g_free(path);
    g_free(tpath);
  }
  return TRUE;
}

static void assert_ids_equal(const char *what, const int32_t *got, size_t n, JsonArray *want)
{
  guint wn = json_array_get_length(want);
  if (n != wn)
    g_error("%s: %zu ids, want %u", what, n, wn);
  for (guint i = 0; i < wn; i++)
    if (got[i] != json_array_get_int_element(want, i))
      g_error("%s: id %u is %d, want %" G_GINT64_FORMAT, what, i, got[i],
              json_array_get_int_element(want, i));
}

static void test_cases(void)
{
  JsonArray *cases;
  int32_t pad;
  hart_error err = { 0 };

  if (!need_tokenizer())
    return;
  g_assert_cmpint(hart_prompt_pad_id(tok, &pad, &err), ==, HART_OK);
  g_assert_cmpint(pad, ==, json_object_get_int_member(ref, "pad_id"));
  cases = json_object_get_array_member(ref, "cases");
  g_assert_cmpuint(json_array_get_length(cases), >=, 20);
  for (guint c = 0; c < json_array_get_length(cases); c++) {
    JsonObject *cs = json_array_get_object_element(cases, c);
    const char *prompt = json_object_get_string_member(cs, "prompt");
    JsonArray *want300 = json_object_get_array_member(cs, "ids_300");
    int32_t *ids = NULL, ids300[300];
    uint8_t mask[300];
    int64_t pos[300], count = 0;
    size_t n = 0;
    char what[64], *back = NULL;
    size_t back_len;

    snprintf(what, sizeof what, "case %u ids", c);
    g_assert_cmpint(hart_tokenizer_encode(tok, prompt, strlen(prompt), -1, &ids, &n, &err), ==,
                    HART_OK);
    assert_ids_equal(what, ids, n, json_object_get_array_member(cs, "ids"));
    /* Decoding gives the NFC-normalised prompt back. */
    g_assert_cmpint(hart_tokenizer_decode(tok, ids, n, &back, &back_len, &err), ==, HART_OK);
    {
      char *nfc = g_utf8_normalize(prompt, -1, G_NORMALIZE_NFC);
      g_assert_cmpstr(back, ==, nfc);
      g_free(nfc);
    }
    free(back);
    free(ids);

    snprintf(what, sizeof what, "case %u ids_300", c);
    g_assert_cmpint(hart_prompt_context_ids(tok, prompt, strlen(prompt), 300, pad, ids300, mask,
                                            pos, NULL, &err),
                    ==, HART_OK);
    assert_ids_equal(what, ids300, 300, want300);
    /* mask and positions from the reference ids by hart-spec.md 5.2. */
    for (guint j = 0; j < 300; j++) {
      gboolean m = json_array_get_int_element(want300, j) != pad;
      count += m;
      g_assert_cmpint(mask[j], ==, m);
      g_assert_cmpint(pos[j], ==, count - 1);
    }
  }
}

static void test_system_prompt(void)
{
  const char *sp = hart_system_prompt();
  char *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, sp, -1);
  int32_t *ids = NULL;
  size_t n = 0;
  hart_error err = { 0 };

  g_assert_cmpuint(strlen(sp), ==, 705);
  g_assert_cmpstr(sha, ==, "424f7aa7b1119f8ed1e329140e5941dfe308183bea0af59041dad5527a9b8f20");
  g_free(sha);
  if (!need_tokenizer())
    return;
  g_assert_cmpstr(sp, ==, json_object_get_string_member(ref, "system_prompt"));
  g_assert_cmpint(hart_prompt_system_ids(tok, 300, &ids, &n, &err), ==, HART_OK);
  assert_ids_equal("system_ids", ids, n, json_object_get_array_member(ref, "system_ids"));
  free(ids);
}

static void test_speed(void)
{
  /* A prompt of about 300 tokens: the longest reference prompt, twice over (printed only). */
  JsonArray *cases;
  const char *p;
  char *prompt;
  int32_t ids[300], pad;
  hart_error err = { 0 };
  gint64 t0;
  int reps = 200, n_real = 0;

  if (!need_tokenizer())
    return;
  cases = json_object_get_array_member(ref, "cases");
  p = json_object_get_string_member(json_array_get_object_element(cases, 21), "prompt");
  prompt = g_strconcat(p, p, NULL);
  g_assert_cmpint(hart_prompt_pad_id(tok, &pad, &err), ==, HART_OK);
  t0 = g_get_monotonic_time();
  for (int i = 0; i < reps; i++)
    g_assert_cmpint(hart_prompt_context_ids(tok, prompt, strlen(prompt), 300, pad, ids, NULL, NULL,
                                            &n_real, &err),
                    ==, HART_OK);
  g_assert_cmpint(n_real, ==, 300);
  g_test_message("300-token prompt (%zu bytes): %.3f ms per encoding", strlen(prompt),
                 (g_get_monotonic_time() - t0) / 1e3 / reps);
  g_free(prompt);
}

static void test_invalid_utf8(void)
{
  static const char *bad[] = { "abc\xff", "caf\xc3", "\xed\xa0\x80 surrogate", "\xc0\xaf" };
  hart_error err = { 0 };
  int32_t *ids = NULL;
  size_t n = 7;

  if (!need_tokenizer())
    return;
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    hart_error_clear(&err);
    g_assert_cmpint(hart_tokenizer_encode(tok, bad[i], strlen(bad[i]), -1, &ids, &n, &err), ==,
                    HART_ERR_INVALID_ARGUMENT);
    g_assert_null(ids);
    g_assert_cmpuint(n, ==, 0);
    g_assert_nonnull(strstr(err.msg, "not valid UTF-8"));
  }
  g_test_message("%s", err.msg);
}

static void test_empty_and_nul(void)
{
  static const char text[] = "a\0b \0\0 c";
  hart_error err = { 0 };
  int32_t *ids = NULL, *zero = NULL;
  size_t n = 1, nz = 0;
  char *back = NULL;
  size_t back_len = 0;
  const char nul_only[1] = { 0 };

  if (!need_tokenizer())
    return;
  g_assert_cmpint(hart_tokenizer_encode(tok, "", 0, -1, &ids, &n, &err), ==, HART_OK);
  g_assert_cmpuint(n, ==, 0);
  /* NUL bytes are U+0000: tokenized as the byte symbol of 0x00 and round-trip. */
  g_assert_cmpint(hart_tokenizer_encode(tok, text, sizeof text - 1, -1, &ids, &n, &err), ==,
                  HART_OK);
  g_assert_cmpint(hart_tokenizer_decode(tok, ids, n, &back, &back_len, &err), ==, HART_OK);
  g_assert_cmpuint(back_len, ==, sizeof text - 1);
  g_assert_true(memcmp(back, text, back_len) == 0);
  g_assert_cmpint(hart_tokenizer_encode(tok, nul_only, 1, -1, &zero, &nz, &err), ==, HART_OK);
  g_assert_cmpuint(nz, ==, 1);
  /* "Ā" is the byte-level symbol of byte 0x00. */
  {
    JsonObject *model;
    JsonParser *p = json_parser_new();
    char *path = ht_shared_path("text/tokenizer.json");
    g_assert_true(json_parser_load_from_file(p, path, NULL));
    model = json_object_get_object_member(json_node_get_object(json_parser_get_root(p)), "model");
    g_assert_cmpint(
        zero[0], ==,
        json_object_get_int_member(json_object_get_object_member(model, "vocab"), "\xc4\x80"));
    g_object_unref(p);
    g_free(path);
  }
  free(ids);
  free(zero);
  free(back);
}

/* The regex split of text must end its pieces at the given offsets. */
static void assert_split(const char *text, const size_t *want, int n_want)
{
  size_t ends[16];
  int n = hart_tokenizer_split(tok, text, strlen(text), ends, G_N_ELEMENTS(ends));

  g_assert_cmpint(n, ==, n_want);
  for (int i = 0; i < n; i++)
    g_assert_cmpuint(ends[i], ==, want[i]);
}

/* \s follows Unicode White_Space as Oniguruma (the reference's regex engine) does: U+0085 is
 * white space, U+180E is not (PCRE2's own \s has U+180E). With the Qwen2 regex,
 * "a" MVS MVS "b" splits as "a" | MVS MVS | "b" ([^\s\p{L}\p{N}]+), where PCRE2's \s would give
 * "a" | MVS | MVS "b"; "a" NEL NEL "b" splits as "a" | NEL | NEL "b" (\s+(?!\S)). */
static void test_unicode_white_space(void)
{
  static const size_t mvs[] = { 1, 7, 8 }, nel[] = { 1, 3, 6 }, mixed[] = { 1, 3, 9, 10, 14 };

  if (!need_tokenizer())
    return;
  assert_split("a\xe1\xa0\x8e\xe1\xa0\x8e"
               "b",
               mvs, G_N_ELEMENTS(mvs));
  assert_split("a\xc2\x85\xc2\x85"
               "b",
               nel, G_N_ELEMENTS(nel));
  /* "I" | "'m" | " going" | "1" | " ..\n" */
  assert_split("I'm going1 ..\n", mixed, G_N_ELEMENTS(mixed));
}

/* Megabyte prompts: bounded time, and stopping early keeps exactly the full encoding's prefix. */
static void check_long(const char *what, const char *text, size_t len)
{
  hart_error err = { 0 };
  int32_t *all = NULL, *some = NULL;
  size_t n_all = 0, n_some = 0;
  gint64 t0 = g_get_monotonic_time(), t1;

  g_assert_cmpint(hart_tokenizer_encode(tok, text, len, 300, &some, &n_some, &err), ==, HART_OK);
  t1 = g_get_monotonic_time();
  g_assert_cmpint(hart_tokenizer_encode(tok, text, len, -1, &all, &n_all, &err), ==, HART_OK);
  g_test_message("%s (%zu bytes): first 300 ids in %.1f ms, all %zu ids in %.1f ms", what, len,
                 (t1 - t0) / 1e3, n_all, (g_get_monotonic_time() - t1) / 1e3);
  g_assert_cmpuint(n_some, ==, MIN(n_all, 300));
  g_assert_true(memcmp(some, all, n_some * sizeof *some) == 0);
  free(all);
  free(some);
}

static void test_megabyte_prompts(void)
{
  size_t len = 2u << 20;
  char *text = g_malloc(len);

  if (!need_tokenizer()) {
    g_free(text);
    return;
  }
  for (size_t i = 0; i < len; i++)
    text[i] = "word, 12 \n\tzebra "[i % 17];
  check_long("mixed text", text, len);
  memset(text, 'a', len); /* one 2 MB pre-token: BPE must stay near-linear */
  check_long("one long word", text, len);
  memset(text, ' ', len);
  check_long("spaces", text, len);
  for (size_t i = 0; i + 2 < len; i += 3)
    memcpy(text + i, "\xe4\xb8\xad", 3); /* CJK: multi-byte characters */
  check_long("CJK", text, len - len % 3);
  g_free(text);
}

/* The reference tokenizer.json with one change, loaded from memory; returns the status. */
static hart_status load_modified(void (*edit)(JsonObject *root), hart_error *err)
{
  char *path = ht_shared_path("text/tokenizer.json");
  JsonParser *p = json_parser_new();
  JsonGenerator *gen = json_generator_new();
  hart_tokenizer *t = NULL;
  hart_status st;
  gsize len;
  char *data;

  g_assert_true(json_parser_load_from_file(p, path, NULL));
  edit(json_node_get_object(json_parser_get_root(p)));
  json_generator_set_root(gen, json_parser_get_root(p));
  data = json_generator_to_data(gen, &len);
  st = hart_tokenizer_load_data(data, len, "edited tokenizer.json", &t, err);
  g_assert_true((st == HART_OK) == (t != NULL));
  hart_tokenizer_free(t);
  g_free(data);
  g_object_unref(gen);
  g_object_unref(p);
  g_free(path);
  g_test_message("%s", err->msg);
  return st;
}

static void edit_missing_merge(JsonObject *root)
{
  JsonArray *merges =
      json_object_get_array_member(json_object_get_object_member(root, "model"), "merges");
  JsonArray *pair = json_array_new();
  json_array_add_string_element(pair, "\xc4\xa0zq");
  json_array_add_string_element(pair, "xqj");
  json_array_add_array_element(merges, pair);
}

static void edit_model_type(JsonObject *root)
{
  json_object_set_string_member(json_object_get_object_member(root, "model"), "type", "WordPiece");
}

static void edit_string_merges(JsonObject *root)
{
  /* The older "a b" format of merges must load too (and give the same ids). */
  JsonObject *model = json_object_get_object_member(root, "model");
  JsonArray *old = json_object_get_array_member(model, "merges"), *nw = json_array_new();
  for (guint i = 0; i < json_array_get_length(old); i++) {
    JsonArray *pair = json_array_get_array_element(old, i);
    char *s = g_strconcat(json_array_get_string_element(pair, 0), " ",
                          json_array_get_string_element(pair, 1), NULL);
    json_array_add_string_element(nw, s);
    g_free(s);
  }
  json_object_set_array_member(model, "merges", nw);
}

static void edit_normalizer(JsonObject *root)
{
  JsonObject *n = json_object_new();
  json_object_set_string_member(n, "type", "NFKC");
  json_object_set_object_member(root, "normalizer", n);
}

static void test_bad_tokenizer_json(void)
{
  hart_error err = { 0 };
  hart_tokenizer *t = NULL;
  static const char not_json[] = "{\"model\": {\"type\": \"BPE\", ";

  if (!need_tokenizer())
    return;
  g_assert_cmpint(load_modified(edit_missing_merge, &err), ==, HART_ERR_FORMAT);
  g_assert_nonnull(strstr(err.msg, "merges[151387]"));
  g_assert_nonnull(strstr(err.msg, "not in the vocabulary"));
  g_assert_cmpint(load_modified(edit_model_type, &err), ==, HART_ERR_UNSUPPORTED);
  g_assert_nonnull(strstr(err.msg, "WordPiece"));
  g_assert_cmpint(load_modified(edit_normalizer, &err), ==, HART_ERR_UNSUPPORTED);
  g_assert_nonnull(strstr(err.msg, "NFKC"));
  hart_error_clear(&err);
  g_assert_cmpint(load_modified(edit_string_merges, &err), ==, HART_OK);

  g_assert_cmpint(hart_tokenizer_load_data(not_json, sizeof not_json - 1, "x.json", &t, &err), ==,
                  HART_ERR_FORMAT);
  g_assert_null(t);
  g_assert_nonnull(strstr(err.msg, "x.json"));
  g_assert_cmpint(hart_tokenizer_load_data("[1, 2]", 6, "y.json", &t, &err), ==, HART_ERR_FORMAT);
  g_assert_cmpint(hart_tokenizer_load("/nonexistent/tokenizer.json", &t, &err), ==, HART_ERR_IO);
  g_assert_nonnull(strstr(err.msg, "/nonexistent/tokenizer.json"));
}

/* `hart tokenize --hart` prints the reference's ids, ids_300, mask and position ids. */
static void test_cli(void)
{
  static const guint pick[] = { 0, 5, 8, 13, 18, 20 };
  JsonArray *cases;
  char *tj;

  if (!need_tokenizer())
    return;
  g_assert_nonnull(g_getenv("HART_CLI"));
  tj = ht_shared_path("text/tokenizer.json");
  cases = json_object_get_array_member(ref, "cases");
  for (guint i = 0; i < G_N_ELEMENTS(pick); i++) {
    JsonObject *cs = json_array_get_object_element(cases, pick[i]);
    const char *argv[] = { g_getenv("HART_CLI"),
                           "tokenize",
                           "--tokenizer",
                           tj,
                           "--hart",
                           json_object_get_string_member(cs, "prompt"),
                           NULL };
    char *out = NULL, what[32];
    int status;
    JsonParser *p = json_parser_new();
    JsonObject *o;
    JsonArray *want300 = json_object_get_array_member(cs, "ids_300");
    gint64 count = 0;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL,
                               &status, NULL));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    g_assert_true(json_parser_load_from_data(p, out, -1, NULL));
    o = json_node_get_object(json_parser_get_root(p));
    for (guint k = 0; k < 2; k++) {
      const char *key = k ? "ids_300" : "ids";
      JsonArray *got = json_object_get_array_member(o, key), *want;
      want = json_object_get_array_member(cs, key);
      snprintf(what, sizeof what, "case %u %s", pick[i], key);
      g_assert_cmpuint(json_array_get_length(got), ==, json_array_get_length(want));
      for (guint j = 0; j < json_array_get_length(want); j++)
        g_assert_cmpint(json_array_get_int_element(got, j), ==,
                        json_array_get_int_element(want, j));
    }
    for (guint j = 0; j < 300; j++) {
      gboolean m = json_array_get_int_element(want300, j) != 151643;
      count += m;
      g_assert_cmpint(json_array_get_boolean_element(json_object_get_array_member(o, "mask"), j),
                      ==, m);
      g_assert_cmpint(
          json_array_get_int_element(json_object_get_array_member(o, "position_ids"), j), ==,
          count - 1);
    }
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "input_ids")), ==,
                     300 + json_array_get_length(json_object_get_array_member(ref, "system_ids")));
    g_object_unref(p);
    g_free(out);
  }
  g_free(tj);
}

int main(int argc, char **argv)
{
  int rc;

  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/tokenizer/system-prompt", test_system_prompt);
  g_test_add_func("/tokenizer/cases", test_cases);
  g_test_add_func("/tokenizer/speed", test_speed);
  g_test_add_func("/tokenizer/invalid-utf8", test_invalid_utf8);
  g_test_add_func("/tokenizer/empty-and-nul", test_empty_and_nul);
  g_test_add_func("/tokenizer/unicode-white-space", test_unicode_white_space);
  g_test_add_func("/tokenizer/megabyte-prompts", test_megabyte_prompts);
  g_test_add_func("/tokenizer/bad-tokenizer-json", test_bad_tokenizer_json);
  g_test_add_func("/tokenizer/hart-tokenize", test_cli);
  rc = g_test_run();
  hart_tokenizer_free(tok);
  if (ref_parser != NULL)
    g_object_unref(ref_parser);
  return rc;
}
