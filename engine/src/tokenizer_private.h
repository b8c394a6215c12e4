/* tokenizer_private.h: the internals of hart_tokenizer shared by its loader, its BPE merger and its
 * encoder. */
#ifndef HART_TOKENIZER_PRIVATE_H
#define HART_TOKENIZER_PRIVATE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer.h"

/* One merge rule: the pair (left, right) of ids merges into `id` with priority `rank` (its index
 * in the merges list; lower merges first). Stored in an open-addressed table keyed by the pair. */
typedef struct {
  uint64_t key; /* ((uint64_t)left << 32 | right) + 1; 0 marks an empty slot */
  int32_t rank;
  int32_t id;
} hart_merge;

typedef struct {
  char *content;
  size_t len;
  int32_t id;
  int normalized; /* matched after normalisation instead of in the raw text */
} hart_added_token;

struct hart_tokenizer {
  char *origin;
  int32_t byte_id[256]; /* the id of the single-byte symbol of each byte value */
  hart_merge *merges;
  size_t merge_mask; /* table size - 1 (a power of two) */
  int32_t n_ids;
  hart_added_token *added;
  size_t n_added;
  /* added_first[b] bit 0: some raw-text added token starts with byte b; bit 1: some normalised
   * one does. Lets the matcher skip most positions with one lookup. */
  uint8_t added_first[256];
  int nfc;
  pcre2_code *re;
  /* For decoding: the raw bytes of each id's vocabulary entry (piece_off[id], piece_len[id]
   * into pieces; piece_len -1: no entry). */
  char *pieces;
  size_t *piece_off;
  int32_t *piece_len;
};

static inline uint64_t hart_merge_key(int32_t left, int32_t right)
{
  return ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
}

/* The slot of the pair's merge, or the empty slot where it would go. */
size_t hart_merge_slot(const hart_tokenizer *tok, int32_t left, int32_t right);
/* Looks up the merge of (left, right); NULL when the pair does not merge. */
const hart_merge *hart_merge_find(const hart_tokenizer *tok, int32_t left, int32_t right);

/* Merges the symbols syms[0, *n) in place by rank (Hugging Face's BPE::merge_word order: the
 * lowest rank first, leftmost first among equal ranks). Returns -1 on allocation failure. */
int hart_bpe_merge(const hart_tokenizer *tok, int32_t *syms, size_t *n);

/* The regex split alone (no added tokens, no normalisation; text must be valid UTF-8): writes
 * the end offset of each piece of text[0, len) to ends (at most max pieces). Returns the number
 * of pieces, or -1 on failure. For tests. */
int hart_tokenizer_split(const hart_tokenizer *tok, const char *text, size_t len, size_t *ends,
                         size_t max);

#endif
