/* tokenizer.c: encoding text to ids: added tokens, NFC, the regex split, byte-level BPE. */
#include "tokenizer_private.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const hart_tokenizer *tok;
  int32_t *ids;
  size_t n, cap;
  size_t max_ids; /* SIZE_MAX: no limit */
  int32_t *syms;  /* scratch for one pre-token */
  size_t syms_cap;
  pcre2_match_data *md;
  hart_error *err;
  const char *base; /* hart_tokenizer_split: piece ends are recorded relative to base */
  size_t *ends, n_ends, max_ends;
} enc_state;

/* Returns 1 once enough ids exist (encoding can stop), -1 on failure, 0 to go on. */
typedef int (*piece_fn)(enc_state *s, const char *p, size_t len);

static int push_id(enc_state *s, int32_t id)
{
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 512;
    int32_t *ids = realloc(s->ids, cap * sizeof *ids);
    if (ids == NULL) {
      hart_fail(s->err, HART_ERR_NO_MEMORY, "out of memory for %zu token ids", cap);
      return -1;
    }
    s->ids = ids;
    s->cap = cap;
  }
  s->ids[s->n++] = id;
  return s->n >= s->max_ids ? 1 : 0;
}

/* Byte-level BPE of one pre-token: bytes -> byte symbols -> merges -> ids. */
static int encode_word(enc_state *s, const char *p, size_t len)
{
  size_t n = len;
  int r = 0;

  if (len == 0)
    return 0;
  if (len > s->syms_cap) {
    int32_t *syms = realloc(s->syms, len * sizeof *syms);
    if (syms == NULL) {
      hart_fail(s->err, HART_ERR_NO_MEMORY, "out of memory for a %zu-byte word", len);
      return -1;
    }
    s->syms = syms;
    s->syms_cap = len;
  }
  for (size_t i = 0; i < len; i++)
    s->syms[i] = s->tok->byte_id[(unsigned char)p[i]];
  if (hart_bpe_merge(s->tok, s->syms, &n) != 0) {
    hart_fail(s->err, HART_ERR_NO_MEMORY, "out of memory merging a %zu-byte word", len);
    return -1;
  }
  for (size_t i = 0; i < n && r == 0; i++)
    r = push_id(s, s->syms[i]);
  return r;
}

static int regex_error(enc_state *s, int rc)
{
  PCRE2_UCHAR msg[256];
  pcre2_get_error_message(rc, msg, sizeof msg);
  hart_fail(s->err, HART_ERR_INTERNAL, "%s: pre-tokenizer regex failed: %s", s->tok->origin,
            (const char *)msg);
  return -1;
}

/* Splits a normalised segment with the regex ("Isolated": matches and the gaps between them are
 * pieces) and hands each piece to encode_piece. */
static int regex_split(enc_state *s, const char *p, size_t len, piece_fn encode_piece)
{
  size_t pos = 0, gap = 0;
  int r = 0;

  while (pos < len && r == 0) {
    int rc = pcre2_match(s->tok->re, (PCRE2_SPTR)p, len, pos, PCRE2_NO_UTF_CHECK, s->md, NULL);
    PCRE2_SIZE *ov;
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* the interpreter keeps its stack on the heap */
      rc = pcre2_match(s->tok->re, (PCRE2_SPTR)p, len, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                       s->md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH)
      break;
    if (rc < 0)
      return regex_error(s, rc);
    ov = pcre2_get_ovector_pointer(s->md);
    if (ov[1] == ov[0]) {
      /* An empty match: step over one character, which stays in the current gap. */
      pos = ov[0] + 1;
      while (pos < len && ((unsigned char)p[pos] & 0xC0) == 0x80)
        pos++;
      continue;
    }
    if (ov[0] > gap)
      r = encode_piece(s, p + gap, ov[0] - gap);
    if (r == 0)
      r = encode_piece(s, p + ov[0], ov[1] - ov[0]);
    pos = gap = ov[1];
  }
  if (r == 0 && gap < len)
    r = encode_piece(s, p + gap, len - gap);
  return r;
}

static int pre_tokenize(enc_state *s, const char *p, size_t len)
{
  return regex_split(s, p, len, encode_word);
}

/* Finds added tokens of the given kind (normalized 0 or 1) in p, leftmost-longest, encoding the
 * text between them with `rest`. */
static int split_added(enc_state *s, const char *p, size_t len, int normalized, piece_fn rest)
{
  const hart_tokenizer *tok = s->tok;
  uint8_t bit = (uint8_t)(normalized ? 2 : 1);
  size_t start = 0;
  int r = 0;

  for (size_t i = 0; i < len && r == 0; i++) {
    const hart_added_token *best = NULL;
    if (!(tok->added_first[(unsigned char)p[i]] & bit))
      continue;
    for (size_t k = 0; k < tok->n_added; k++) {
      const hart_added_token *t = &tok->added[k];
      if (t->normalized == normalized && t->len <= len - i &&
          (best == NULL || t->len > best->len) && memcmp(p + i, t->content, t->len) == 0)
        best = t;
    }
    if (best == NULL)
      continue;
    if (i > start)
      r = rest(s, p + start, i - start);
    if (r == 0)
      r = push_id(s, best->id);
    start = i + best->len;
    i = start - 1;
  }
  if (r == 0 && start < len)
    r = rest(s, p + start, len - start);
  return r;
}

static int split_normalized_added(enc_state *s, const char *p, size_t len)
{
  return split_added(s, p, len, 1, pre_tokenize);
}

/* NFC-normalises a raw segment, then matches normalised added tokens and pre-tokenizes. NUL
 * bytes are kept as they are: U+0000 is a starter that composes with nothing, so normalising the
 * parts between NULs separately is the same as normalising the whole. */
static int normalize_segment(enc_state *s, const char *p, size_t len)
{
  GString *buf;
  size_t i = 0, ascii = 0;
  int r;

  /* ASCII text is already NFC: skip the copy (most prompts, and megabyte ones stay fast). */
  while (ascii < len && (unsigned char)p[ascii] < 0x80)
    ascii++;
  if (!s->tok->nfc || ascii == len)
    return split_normalized_added(s, p, len);
  buf = g_string_sized_new(len + 16);
  while (i < len) {
    const char *nul = memchr(p + i, '\0', len - i);
    size_t part = nul ? (size_t)(nul - (p + i)) : len - i;
    if (part > 0) {
      char *n = g_utf8_normalize(p + i, (gssize)part, G_NORMALIZE_NFC);
      if (n == NULL) {
        g_string_free(buf, TRUE);
        hart_fail(s->err, HART_ERR_INTERNAL, "NFC normalisation failed");
        return -1;
      }
      g_string_append(buf, n);
      g_free(n);
    }
    i += part;
    if (nul != NULL) {
      g_string_append_c(buf, '\0');
      i++;
    }
  }
  r = split_normalized_added(s, buf->str, buf->len);
  g_string_free(buf, TRUE);
  return r;
}

/* Checks UTF-8 validity, allowing NUL bytes (g_utf8_validate stops at them). Returns the offset
 * of the first invalid byte, or len. */
static size_t utf8_invalid_at(const char *text, size_t len)
{
  size_t i = 0;
  while (i < len) {
    const char *end;
    if (g_utf8_validate(text + i, (gssize)(len - i), &end))
      return len;
    i = (size_t)(end - text);
    if (i < len && text[i] != '\0')
      return i;
    i++;
  }
  return len;
}

hart_status hart_tokenizer_encode(const hart_tokenizer *tok, const char *text, size_t len,
                                  int64_t max_ids, int32_t **ids, size_t *n_ids, hart_error *err)
{
  enc_state s = { 0 };
  hart_error local;
  size_t bad;
  int r;

  if (err == NULL) /* failures deep inside need somewhere to record their status */
    err = &local;
  *ids = NULL;
  *n_ids = 0;
  if (text == NULL && len > 0)
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "no text to tokenize");
  if (len > (size_t)G_MAXSSIZE)
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "text too long (%zu bytes)", len);
  bad = utf8_invalid_at(text, len);
  if (bad < len)
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT,
                     "text is not valid UTF-8: invalid byte 0x%02x at byte offset %zu",
                     (unsigned char)text[bad], bad);
  if (max_ids == 0 || len == 0)
    return HART_OK;
  s.tok = tok;
  s.max_ids = max_ids < 0 ? SIZE_MAX : (size_t)max_ids;
  s.err = err;
  s.md = pcre2_match_data_create_from_pattern(tok->re, NULL);
  if (s.md == NULL)
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory");
  r = split_added(&s, text, len, 0, normalize_segment);
  pcre2_match_data_free(s.md);
  free(s.syms);
  if (r < 0) {
    free(s.ids);
    return err->code;
  }
  *ids = s.ids;
  *n_ids = s.n < s.max_ids ? s.n : s.max_ids;
  return HART_OK;
}

hart_status hart_tokenizer_decode(const hart_tokenizer *tok, const int32_t *ids, size_t n,
                                  char **out, size_t *len, hart_error *err)
{
  GString *buf = g_string_new(NULL);

  *out = NULL;
  *len = 0;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= tok->n_ids || tok->piece_len[ids[i]] < 0) {
      g_string_free(buf, TRUE);
      return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "%s: token id %d (at %zu) has no text",
                       tok->origin, ids[i], i);
    }
    g_string_append_len(buf, tok->pieces + tok->piece_off[ids[i]], tok->piece_len[ids[i]]);
  }
  *len = buf->len;
  *out = g_string_free(buf, FALSE);
  return HART_OK;
}

static int record_piece(enc_state *s, const char *p, size_t len)
{
  if (s->n_ends == s->max_ends)
    return 1;
  s->ends[s->n_ends++] = (size_t)(p - s->base) + len;
  return 0;
}

int hart_tokenizer_split(const hart_tokenizer *tok, const char *text, size_t len, size_t *ends,
                         size_t max)
{
  enc_state s = { 0 };
  int r;

  s.tok = tok;
  s.base = text;
  s.ends = ends;
  s.max_ends = max;
  s.md = pcre2_match_data_create_from_pattern(tok->re, NULL);
  if (s.md == NULL)
    return -1;
  r = regex_split(&s, text, len, record_piece);
  pcre2_match_data_free(s.md);
  return r < 0 ? -1 : (int)s.n_ends;
}
