/* tokenizer.h: a byte-level BPE tokenizer read from a Hugging Face tokenizer.json (Qwen2's).
 *
 * Supported files: model "BPE" (no dropout, no word prefix/suffix, ignore_merges false), the
 * normalizer null or "NFC", a pre-tokenizer that is a Split (Isolated, not inverted) by one regex
 * followed by ByteLevel(use_regex false), or ByteLevel(use_regex true) alone (the GPT-2 regex),
 * always without a prefix space; decoder ByteLevel. Anything else is refused at load time with a
 * message naming the key, so a tokenizer we cannot reproduce exactly is never used.
 *
 * Encoding follows Hugging Face `tokenizers`: added tokens are matched in the raw text first
 * (leftmost-longest); the rest is NFC-normalised, split by the regex (PCRE2, UTF + UCP), mapped
 * byte by byte with GPT-2's bytes_to_unicode table and merged by rank. No BOS/EOS is added.
 *
 * Input text must be valid UTF-8; NUL bytes are allowed (U+0000, a byte token like any other).
 * Invalid UTF-8 is rejected with HART_ERR_INVALID_ARGUMENT naming the byte offset: replacing it
 * would silently change the prompt the user typed.
 *
 * A loaded tokenizer is immutable: encode may run on several threads at once. */
#ifndef HART_TOKENIZER_H
#define HART_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct hart_tokenizer hart_tokenizer;

/* Loads tokenizer.json from a file. */
hart_status hart_tokenizer_load(const char *path, hart_tokenizer **out, hart_error *err);
/* Loads from memory (json need not be NUL-terminated); origin names it in messages. */
hart_status hart_tokenizer_load_data(const char *json, size_t len, const char *origin,
                                     hart_tokenizer **out, hart_error *err);
void hart_tokenizer_free(hart_tokenizer *tok);

/* The id of an added token by its content ("<|endoftext|>"), or -1. */
int32_t hart_tokenizer_added_id(const hart_tokenizer *tok, const char *content);
/* One past the largest id the tokenizer can produce. */
int32_t hart_tokenizer_n_ids(const hart_tokenizer *tok);

/* Encodes text[0, len) into *ids (malloc'ed, free() it; may be NULL when *n_ids is 0).
 * max_ids >= 0 stops once max_ids ids exist and returns exactly the first max_ids ids of the full
 * encoding (pieces are encoded left to right and never depend on later pieces), which bounds the
 * time spent on megabyte prompts when only a prefix is used; max_ids < 0 encodes everything. */
hart_status hart_tokenizer_encode(const hart_tokenizer *tok, const char *text, size_t len,
                                  int64_t max_ids, int32_t **ids, size_t *n_ids, hart_error *err);

/* Decodes ids to text (byte-level; added tokens give their content): the inverse of encode on
 * valid UTF-8. *out is NUL-terminated, free() it (GLib allocates with malloc); *len excludes the
 * NUL. An id with no entry is an error naming it. */
hart_status hart_tokenizer_decode(const hart_tokenizer *tok, const int32_t *ids, size_t n,
                                  char **out, size_t *len, hart_error *err);

#endif
