/* hs-test-context.h: conditioning for app/UI tests from the golden inputs (batch 0). */
#pragma once

#include <glib.h>

#include "hart.h"

/* Paths under $HART_SHARED (newly allocated). */
char *hs_test_shared_path(const char *rel);

/* Reads context, context_mask and context_position_ids of batch element 0 from
 * <shared>/<rel>/inputs.safetensors, as hart_request expects them (fp32, u8, i64). */
gboolean hs_test_load_context(const char *rel, GBytes **context, GBytes **mask,
                              GBytes **position_ids, GError **error);

/* A Qwen2 folder the engine can open: shared/text/qwen2-tiny's config and weights plus
 * shared/text/tokenizer.json, linked into a new temporary folder (the shared folder keeps the
 * tokenizer one level up). NULL when the data is missing. Remove with hs_test_remove_text_dir. */
char *hs_test_make_text_dir(void);
void hs_test_remove_text_dir(char *dir);

/* Opens the engine on the tiny golden model once to learn whether it works, with the text
 * folder text_dir (may be NULL) when the engine can load it (*text_usable tells). Returns NULL when
 * usable, else the reason to skip (engine not implemented, data missing). */
char *hs_test_engine_skip_reason_with_text(const char *text_dir, gboolean *text_usable);
/* The same with shared/text/qwen2-tiny as it is (kept for existing callers). */
char *hs_test_engine_skip_reason(gboolean *text_usable);
