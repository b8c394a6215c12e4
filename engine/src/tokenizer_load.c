/* tokenizer_load.c: reading and checking tokenizer.json (json-glib), building the byte table, the
 * merge table and the added-token list, and compiling the split regex (PCRE2). */
#include "tokenizer_private.h"

#include <json-glib/json-glib.h>
#include <string.h>

/* GPT-2's pre-tokenizer regex, used when ByteLevel itself splits (use_regex true). */
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

typedef struct {
  hart_tokenizer *tok;
  const char *origin;
  GHashTable *vocab;            /* byte-level string (owned by the JSON tree) -> id + 1 */
  int16_t unicode_to_byte[324]; /* inverse of byte_to_unicode (-1: not a byte symbol) */
  hart_error *err;
} tok_loader;

/* The code point GPT-2's bytes_to_unicode gives byte b: printable Latin-1 bytes map to
 * themselves, the other 68 to 256, 257, ... in byte order. */
static gunichar byte_to_unicode(int b)
{
  int n = 0;

  if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
    return (gunichar)b;
  for (int i = 0; i < b; i++)
    if (!((i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF)))
      n++;
  return (gunichar)(256 + n);
}

static const char *member_string(JsonObject *o, const char *key)
{
  JsonNode *n = json_object_get_member(o, key);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string(n);
}

static JsonObject *member_object(JsonObject *o, const char *key)
{
  JsonNode *n = json_object_get_member(o, key);
  return n != NULL && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static int member_is_null(JsonObject *o, const char *key)
{
  JsonNode *n = json_object_get_member(o, key);
  return n == NULL || JSON_NODE_HOLDS_NULL(n);
}

/* A boolean member: absent or null reads as def; anything else but a boolean is -1. */
static int member_bool(JsonObject *o, const char *key, int def)
{
  JsonNode *n = json_object_get_member(o, key);
  if (n == NULL || JSON_NODE_HOLDS_NULL(n))
    return def;
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
    return -1;
  return json_node_get_boolean(n) ? 1 : 0;
}

/* An id member: a JSON integer in [0, 2^31 - 1); -1 otherwise. */
static int32_t node_id(JsonNode *n)
{
  gint64 v;
  if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
    return -1;
  v = json_node_get_int(n);
  return v >= 0 && v < G_MAXINT32 ? (int32_t)v : -1;
}

static void note_id(hart_tokenizer *tok, int32_t id)
{
  if (id + 1 > tok->n_ids)
    tok->n_ids = id + 1;
}

/* Records the raw bytes of piece `s` (byte-level text) for id, for decoding. Entries that are
 * not byte-level text stay undecodable (piece_len -1). */
static void keep_piece(tok_loader *L, GString *pieces, int32_t id, const char *s)
{
  hart_tokenizer *tok = L->tok;
  size_t off = pieces->len;

  for (const char *c = s; *c; c = g_utf8_next_char(c)) {
    gunichar u = g_utf8_get_char(c);
    int b = u < G_N_ELEMENTS(L->unicode_to_byte) ? L->unicode_to_byte[u] : -1;
    if (b < 0) {
      g_string_truncate(pieces, off);
      return;
    }
    g_string_append_c(pieces, (char)b);
  }
  tok->piece_off[id] = off;
  tok->piece_len[id] = (int32_t)(pieces->len - off);
}

static hart_status build_pieces(tok_loader *L, JsonObject *vocab)
{
  hart_tokenizer *tok = L->tok;
  GString *pieces = g_string_sized_new(1 << 20);
  JsonObjectIter it;
  const char *key;
  JsonNode *val;

  for (int b = 0; b < (int)G_N_ELEMENTS(L->unicode_to_byte); b++)
    L->unicode_to_byte[b] = -1;
  for (int b = 0; b < 256; b++)
    L->unicode_to_byte[byte_to_unicode(b)] = (int16_t)b;
  tok->piece_off = g_try_new0(size_t, (gsize)tok->n_ids);
  tok->piece_len = g_try_new(int32_t, (gsize)tok->n_ids);
  if (tok->piece_off == NULL || tok->piece_len == NULL) {
    g_string_free(pieces, TRUE);
    return hart_fail(L->err, HART_ERR_NO_MEMORY, "%s: out of memory for %d ids", L->origin,
                     tok->n_ids);
  }
  for (int32_t i = 0; i < tok->n_ids; i++)
    tok->piece_len[i] = -1;
  json_object_iter_init(&it, vocab);
  while (json_object_iter_next(&it, &key, &val))
    keep_piece(L, pieces, node_id(val), key);
  /* Added tokens decode to their content, overriding a vocabulary entry of the same id. */
  for (size_t i = 0; i < tok->n_added; i++) {
    tok->piece_off[tok->added[i].id] = pieces->len;
    tok->piece_len[tok->added[i].id] = (int32_t)tok->added[i].len;
    g_string_append_len(pieces, tok->added[i].content, (gssize)tok->added[i].len);
  }
  tok->pieces = g_string_free(pieces, FALSE);
  return HART_OK;
}

static hart_status load_vocab(tok_loader *L, JsonObject *model)
{
  JsonObject *vocab = member_object(model, "vocab");
  JsonObjectIter it;
  const char *key;
  JsonNode *val;

  if (vocab == NULL)
    return hart_fail(L->err, HART_ERR_FORMAT, "%s: model.vocab is missing or not an object",
                     L->origin);
  json_object_iter_init(&it, vocab);
  while (json_object_iter_next(&it, &key, &val)) {
    int32_t id = node_id(val);
    if (id < 0)
      return hart_fail(L->err, HART_ERR_FORMAT, "%s: model.vocab[\"%s\"] is not a valid id",
                       L->origin, key);
    g_hash_table_insert(L->vocab, (gpointer)key, GINT_TO_POINTER(id + 1));
    note_id(L->tok, id);
  }
  for (int b = 0; b < 256; b++) {
    char utf8[8] = { 0 };
    gpointer v;
    g_unichar_to_utf8(byte_to_unicode(b), utf8);
    v = g_hash_table_lookup(L->vocab, utf8);
    if (v == NULL)
      return hart_fail(L->err, HART_ERR_FORMAT,
                       "%s: model.vocab lacks \"%s\", the byte-level symbol of byte 0x%02x",
                       L->origin, utf8, b);
    L->tok->byte_id[b] = GPOINTER_TO_INT(v) - 1;
  }
  return HART_OK;
}

static int32_t vocab_id(tok_loader *L, const char *s)
{
  gpointer v = g_hash_table_lookup(L->vocab, s);
  return v == NULL ? -1 : GPOINTER_TO_INT(v) - 1;
}

/* Inserts (or, like the reference's HashMap, overwrites) the merge of left and right. */
static void merge_insert(hart_tokenizer *tok, int32_t left, int32_t right, int32_t rank, int32_t id)
{
  tok->merges[hart_merge_slot(tok, left, right)] =
      (hart_merge){ hart_merge_key(left, right), rank, id };
}

/* Splits merge entry e (either "a b" or ["a", "b"]) into its two parts; returns 0 if malformed. */
static int merge_parts(JsonNode *e, char **a, char **b)
{
  if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING) {
    const char *s = json_node_get_string(e), *sp = strchr(s, ' ');
    if (sp == NULL || strchr(sp + 1, ' ') != NULL)
      return 0;
    *a = g_strndup(s, (gsize)(sp - s));
    *b = g_strdup(sp + 1);
    return 1;
  }
  if (JSON_NODE_HOLDS_ARRAY(e)) {
    JsonArray *pair = json_node_get_array(e);
    JsonNode *x, *y;
    if (json_array_get_length(pair) != 2)
      return 0;
    x = json_array_get_element(pair, 0);
    y = json_array_get_element(pair, 1);
    if (!JSON_NODE_HOLDS_VALUE(x) || json_node_get_value_type(x) != G_TYPE_STRING ||
        !JSON_NODE_HOLDS_VALUE(y) || json_node_get_value_type(y) != G_TYPE_STRING)
      return 0;
    *a = g_strdup(json_node_get_string(x));
    *b = g_strdup(json_node_get_string(y));
    return 1;
  }
  return 0;
}

static hart_status load_merges(tok_loader *L, JsonObject *model)
{
  JsonNode *mn = json_object_get_member(model, "merges");
  JsonArray *merges;
  guint n;
  size_t cap = 16;

  if (mn == NULL || !JSON_NODE_HOLDS_ARRAY(mn))
    return hart_fail(L->err, HART_ERR_FORMAT, "%s: model.merges is missing or not an array",
                     L->origin);
  merges = json_node_get_array(mn);
  n = json_array_get_length(merges);
  if (n >= G_MAXINT32 / 4)
    return hart_fail(L->err, HART_ERR_FORMAT, "%s: too many merges (%u)", L->origin, n);
  while (cap < 2 * (size_t)n)
    cap *= 2;
  L->tok->merges = g_try_new0(hart_merge, cap);
  if (L->tok->merges == NULL)
    return hart_fail(L->err, HART_ERR_NO_MEMORY, "%s: out of memory for %u merges", L->origin, n);
  L->tok->merge_mask = cap - 1;

  for (guint i = 0; i < n; i++) {
    char *a = NULL, *b = NULL, *ab;
    int32_t ia, ib, iab;
    if (!merge_parts(json_array_get_element(merges, i), &a, &b))
      return hart_fail(L->err, HART_ERR_FORMAT,
                       "%s: model.merges[%u] is neither \"a b\" nor [\"a\", \"b\"]", L->origin, i);
    ab = g_strconcat(a, b, NULL);
    ia = vocab_id(L, a);
    ib = vocab_id(L, b);
    iab = vocab_id(L, ab);
    if (ia < 0 || ib < 0 || iab < 0) {
      hart_fail(L->err, HART_ERR_FORMAT,
                "%s: model.merges[%u] (\"%s\" \"%s\"): token \"%s\" is not in the vocabulary",
                L->origin, i, a, b,
                ia < 0   ? a
                : ib < 0 ? b
                         : ab);
      g_free(a);
      g_free(b);
      g_free(ab);
      return L->err ? L->err->code : HART_ERR_FORMAT;
    }
    merge_insert(L->tok, ia, ib, (int32_t)i, iab);
    g_free(a);
    g_free(b);
    g_free(ab);
  }
  return HART_OK;
}

static hart_status check_model(tok_loader *L, JsonObject *model)
{
  const char *type = member_string(model, "type");
  const char *prefix = member_string(model, "continuing_subword_prefix");
  const char *suffix = member_string(model, "end_of_word_suffix");
  JsonNode *dropout = json_object_get_member(model, "dropout");

  if (type == NULL || strcmp(type, "BPE") != 0)
    return hart_fail(L->err, HART_ERR_UNSUPPORTED,
                     "%s: model.type is \"%s\": only byte-level \"BPE\" tokenizers are supported",
                     L->origin, type ? type : "(missing)");
  if (dropout != NULL && !JSON_NODE_HOLDS_NULL(dropout) &&
      !(JSON_NODE_HOLDS_VALUE(dropout) && json_node_get_value_type(dropout) == G_TYPE_DOUBLE &&
        json_node_get_double(dropout) == 0.0))
    return hart_fail(L->err, HART_ERR_UNSUPPORTED, "%s: model.dropout is not supported", L->origin);
  if ((prefix != NULL && prefix[0]) || (suffix != NULL && suffix[0]))
    return hart_fail(L->err, HART_ERR_UNSUPPORTED,
                     "%s: model.continuing_subword_prefix/end_of_word_suffix are not supported",
                     L->origin);
  if (member_bool(model, "ignore_merges", 0) != 0)
    return hart_fail(L->err, HART_ERR_UNSUPPORTED, "%s: model.ignore_merges must be false",
                     L->origin);
  return HART_OK;
}

static hart_status load_added(tok_loader *L, JsonObject *root)
{
  JsonNode *an = json_object_get_member(root, "added_tokens");
  JsonArray *arr;
  guint n;

  if (an == NULL || JSON_NODE_HOLDS_NULL(an))
    return HART_OK;
  if (!JSON_NODE_HOLDS_ARRAY(an))
    return hart_fail(L->err, HART_ERR_FORMAT, "%s: added_tokens is not an array", L->origin);
  arr = json_node_get_array(an);
  n = json_array_get_length(arr);
  L->tok->added = g_try_new0(hart_added_token, n ? n : 1);
  if (L->tok->added == NULL)
    return hart_fail(L->err, HART_ERR_NO_MEMORY, "%s: out of memory", L->origin);
  for (guint i = 0; i < n; i++) {
    JsonNode *e = json_array_get_element(arr, i);
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
    const char *content = o ? member_string(o, "content") : NULL;
    int32_t id = o ? node_id(json_object_get_member(o, "id")) : -1;
    int normalized = o ? member_bool(o, "normalized", 1) : -1;
    hart_added_token *t;

    if (o == NULL || content == NULL || content[0] == '\0' || id < 0 || normalized < 0)
      return hart_fail(L->err, HART_ERR_FORMAT,
                       "%s: added_tokens[%u] needs a non-empty \"content\" and an integer \"id\"",
                       L->origin, i);
    if (member_bool(o, "lstrip", 0) != 0 || member_bool(o, "rstrip", 0) != 0 ||
        member_bool(o, "single_word", 0) != 0)
      return hart_fail(L->err, HART_ERR_UNSUPPORTED,
                       "%s: added_tokens[%u] (\"%s\"): lstrip/rstrip/single_word are not supported",
                       L->origin, i, content);
    t = &L->tok->added[L->tok->n_added++];
    t->content = g_strdup(content);
    t->len = strlen(content);
    t->id = id;
    t->normalized = normalized;
    L->tok->added_first[(unsigned char)content[0]] |= (uint8_t)(normalized ? 2 : 1);
    note_id(L->tok, id);
  }
  return HART_OK;
}

static hart_status load_normalizer(tok_loader *L, JsonObject *root)
{
  JsonObject *norm = member_object(root, "normalizer");
  const char *type;

  if (norm == NULL) {
    if (!member_is_null(root, "normalizer"))
      return hart_fail(L->err, HART_ERR_FORMAT, "%s: normalizer is not an object", L->origin);
    return HART_OK;
  }
  type = member_string(norm, "type");
  if (type == NULL || strcmp(type, "NFC") != 0)
    return hart_fail(L->err, HART_ERR_UNSUPPORTED,
                     "%s: normalizer.type \"%s\" is not supported (only NFC or none)", L->origin,
                     type ? type : "(missing)");
  L->tok->nfc = 1;
  return HART_OK;
}

/* A ByteLevel step: no prefix space; reports whether it splits with GPT-2's regex itself. */
static hart_status check_byte_level(tok_loader *L, JsonObject *o, const char *where, int *use_regex)
{
  const char *type = member_string(o, "type");
  if (type == NULL || strcmp(type, "ByteLevel") != 0)
    return hart_fail(L->err, HART_ERR_UNSUPPORTED, "%s: %s.type \"%s\" is not supported", L->origin,
                     where, type ? type : "(missing)");
  if (member_bool(o, "add_prefix_space", 0) != 0)
    return hart_fail(L->err, HART_ERR_UNSUPPORTED, "%s: %s.add_prefix_space must be false",
                     L->origin, where);
  if (use_regex != NULL)
    *use_regex = member_bool(o, "use_regex", 1);
  return HART_OK;
}

/* Unicode's White_Space property, which Oniguruma's \s (Hugging Face's regex engine) matches.
 * PCRE2 10.42's \s with UCP differs: it also matches U+180E, a format character since Unicode
 * 6.3. Written out as class contents. */
#define WHITE_SPACE                                                                                \
  "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"      \
  "\\x{205F}\\x{3000}"

/* Rewrites \s and \S to White_Space classes, outside and inside character classes (a \S inside
 * a class is left alone: no such pattern is known). Everything else is copied unchanged. */
static char *onig_whitespace(const char *pat)
{
  GString *out = g_string_sized_new(strlen(pat) + 64);
  int in_class = 0;

  for (const char *c = pat; *c; c++) {
    if (c[0] == '\\' && c[1] != '\0') {
      if (c[1] == 's')
        g_string_append(out, in_class ? WHITE_SPACE : "[" WHITE_SPACE "]");
      else if (c[1] == 'S' && !in_class)
        g_string_append(out, "[^" WHITE_SPACE "]");
      else
        g_string_append_len(out, c, 2);
      c++;
      continue;
    }
    if (!in_class && c[0] == '[') {
      in_class = 1;
      g_string_append_c(out, *c);
      /* A ']' right after '[' or '[^' is a literal member. */
      if (c[1] == '^')
        g_string_append_c(out, *++c);
      if (c[1] == ']')
        g_string_append_c(out, *++c);
      continue;
    }
    if (in_class && c[0] == '[' && c[1] == ':') { /* POSIX [:name:] inside a class */
      const char *end = strstr(c + 2, ":]");
      if (end != NULL) {
        g_string_append_len(out, c, end + 2 - c);
        c = end + 1;
        continue;
      }
    }
    if (in_class && c[0] == ']')
      in_class = 0;
    g_string_append_c(out, *c);
  }
  return g_string_free(out, FALSE);
}

static hart_status compile_regex(tok_loader *L, const char *pattern, uint32_t extra)
{
  int code;
  PCRE2_SIZE off;
  char *pat = extra & PCRE2_LITERAL ? g_strdup(pattern) : onig_whitespace(pattern);

  L->tok->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | extra,
                             &code, &off, NULL);
  g_free(pat);
  if (L->tok->re == NULL) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    return hart_fail(L->err, HART_ERR_UNSUPPORTED,
                     "%s: pre_tokenizer regex does not compile (offset %zu, \\s rewritten): %s",
                     L->origin, (size_t)off, (const char *)msg);
  }
  /* JIT is an optimisation only: the interpreter gives the same matches. */
  (void)pcre2_jit_compile(L->tok->re, PCRE2_JIT_COMPLETE);
  return HART_OK;
}

static hart_status load_split(tok_loader *L, JsonObject *split)
{
  JsonObject *pat = member_object(split, "pattern");
  const char *behavior = member_string(split, "behavior");
  const char *re = pat ? member_string(pat, "Regex") : NULL;
  const char *lit = pat ? member_string(pat, "String") : NULL;

  if (behavior == NULL || strcmp(behavior, "Isolated") != 0 || member_bool(split, "invert", 0))
    return hart_fail(L->err, HART_ERR_UNSUPPORTED,
                     "%s: pre_tokenizer Split must have behavior \"Isolated\" and invert false",
                     L->origin);
  if (re == NULL && lit == NULL)
    return hart_fail(L->err, HART_ERR_FORMAT,
                     "%s: pre_tokenizer Split.pattern needs \"Regex\" or \"String\"", L->origin);
  return re ? compile_regex(L, re, 0) : compile_regex(L, lit, PCRE2_LITERAL);
}

static hart_status load_pre_tokenizer(tok_loader *L, JsonObject *root)
{
  JsonObject *pre = member_object(root, "pre_tokenizer");
  const char *type = pre ? member_string(pre, "type") : NULL;
  int use_regex = 1;
  hart_status st;

  if (type != NULL && strcmp(type, "Sequence") == 0) {
    JsonNode *ln = json_object_get_member(pre, "pretokenizers");
    JsonArray *list = ln && JSON_NODE_HOLDS_ARRAY(ln) ? json_node_get_array(ln) : NULL;
    JsonNode *a, *b;
    if (list == NULL || json_array_get_length(list) != 2)
      return hart_fail(L->err, HART_ERR_UNSUPPORTED,
                       "%s: pre_tokenizer Sequence must be [Split, ByteLevel]", L->origin);
    a = json_array_get_element(list, 0);
    b = json_array_get_element(list, 1);
    if (!JSON_NODE_HOLDS_OBJECT(a) || !JSON_NODE_HOLDS_OBJECT(b) ||
        g_strcmp0(member_string(json_node_get_object(a), "type"), "Split") != 0)
      return hart_fail(L->err, HART_ERR_UNSUPPORTED,
                       "%s: pre_tokenizer Sequence must be [Split, ByteLevel]", L->origin);
    st = check_byte_level(L, json_node_get_object(b), "pre_tokenizer.pretokenizers[1]", &use_regex);
    if (st != HART_OK)
      return st;
    if (use_regex != 0)
      return hart_fail(L->err, HART_ERR_UNSUPPORTED,
                       "%s: pre_tokenizer ByteLevel after a Split must have use_regex false",
                       L->origin);
    return load_split(L, json_node_get_object(a));
  }
  if (pre == NULL)
    return hart_fail(L->err, HART_ERR_UNSUPPORTED,
                     "%s: pre_tokenizer is missing: a byte-level tokenizer needs one", L->origin);
  st = check_byte_level(L, pre, "pre_tokenizer", &use_regex);
  if (st != HART_OK)
    return st;
  if (use_regex != 1)
    return hart_fail(L->err, HART_ERR_UNSUPPORTED,
                     "%s: pre_tokenizer ByteLevel without a regex split is not supported",
                     L->origin);
  return compile_regex(L, gpt2_pattern, 0);
}

/* The decoder and post-processor do not change encoding, but a post-processor that adds
 * BOS/EOS (TemplateProcessing) or a non-byte-level decoder means a different tokenizer. */
static hart_status check_ends(tok_loader *L, JsonObject *root)
{
  JsonObject *dec = member_object(root, "decoder");
  JsonObject *post = member_object(root, "post_processor");
  hart_status st;

  if (dec != NULL && (st = check_byte_level(L, dec, "decoder", NULL)) != HART_OK)
    return st;
  if (post != NULL && (st = check_byte_level(L, post, "post_processor", NULL)) != HART_OK)
    return st;
  return HART_OK;
}

static hart_status load_root(tok_loader *L, JsonNode *rootn)
{
  JsonObject *root, *model;
  hart_status st;

  if (rootn == NULL || !JSON_NODE_HOLDS_OBJECT(rootn))
    return hart_fail(L->err, HART_ERR_FORMAT, "%s: not a JSON object", L->origin);
  root = json_node_get_object(rootn);
  model = member_object(root, "model");
  if (model == NULL)
    return hart_fail(L->err, HART_ERR_FORMAT, "%s: \"model\" is missing", L->origin);
  if ((st = check_model(L, model)) != HART_OK || (st = load_normalizer(L, root)) != HART_OK ||
      (st = load_pre_tokenizer(L, root)) != HART_OK || (st = check_ends(L, root)) != HART_OK ||
      (st = load_vocab(L, model)) != HART_OK || (st = load_merges(L, model)) != HART_OK ||
      (st = load_added(L, root)) != HART_OK)
    return st;
  return build_pieces(L, member_object(model, "vocab"));
}

static hart_status load_parsed(JsonParser *parser, const char *origin, hart_tokenizer **out,
                               hart_error *err)
{
  tok_loader L = { 0 };
  hart_status st;

  L.tok = g_try_new0(hart_tokenizer, 1);
  if (L.tok == NULL)
    return hart_fail(err, HART_ERR_NO_MEMORY, "%s: out of memory", origin);
  L.tok->origin = g_strdup(origin);
  L.origin = origin;
  L.err = err;
  L.vocab = g_hash_table_new(g_str_hash, g_str_equal);
  st = load_root(&L, json_parser_get_root(parser));
  g_hash_table_unref(L.vocab);
  if (st != HART_OK) {
    hart_tokenizer_free(L.tok);
    return st;
  }
  *out = L.tok;
  return HART_OK;
}

hart_status hart_tokenizer_load(const char *path, hart_tokenizer **out, hart_error *err)
{
  JsonParser *parser = json_parser_new_immutable();
  GError *gerr = NULL;
  hart_status st;

  *out = NULL;
  if (!json_parser_load_from_mapped_file(parser, path, &gerr)) {
    st = gerr->domain == G_FILE_ERROR ? HART_ERR_IO : HART_ERR_FORMAT;
    hart_fail(err, st, "%s: %s", path, gerr->message);
    g_error_free(gerr);
    g_object_unref(parser);
    return st;
  }
  st = load_parsed(parser, path, out, err);
  g_object_unref(parser);
  return st;
}

hart_status hart_tokenizer_load_data(const char *json, size_t len, const char *origin,
                                     hart_tokenizer **out, hart_error *err)
{
  JsonParser *parser;
  GError *gerr = NULL;
  hart_status st;

  *out = NULL;
  if (len > G_MAXSSIZE)
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "%s: too large", origin);
  parser = json_parser_new_immutable();
  if (!json_parser_load_from_data(parser, json, (gssize)len, &gerr)) {
    hart_fail(err, HART_ERR_FORMAT, "%s: %s", origin, gerr->message);
    g_error_free(gerr);
    g_object_unref(parser);
    return HART_ERR_FORMAT;
  }
  st = load_parsed(parser, origin, out, err);
  g_object_unref(parser);
  return st;
}

void hart_tokenizer_free(hart_tokenizer *tok)
{
  if (tok == NULL)
    return;
  for (size_t i = 0; i < tok->n_added; i++)
    g_free(tok->added[i].content);
  g_free(tok->added);
  g_free(tok->merges);
  g_free(tok->pieces);
  g_free(tok->piece_off);
  g_free(tok->piece_len);
  if (tok->re != NULL)
    pcre2_code_free(tok->re);
  g_free(tok->origin);
  g_free(tok);
}

int32_t hart_tokenizer_added_id(const hart_tokenizer *tok, const char *content)
{
  for (size_t i = 0; i < tok->n_added; i++)
    if (strcmp(tok->added[i].content, content) == 0)
      return tok->added[i].id;
  return -1;
}

int32_t hart_tokenizer_n_ids(const hart_tokenizer *tok)
{
  return tok->n_ids;
}
