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

/* Opens the engine on the tiny golden model once to learn whether it works, with qwen2-tiny
 * when the engine can load it (*text_usable tells). Returns NULL when usable, else the reason
 * to skip (engine not implemented, data missing). */
char *hs_test_engine_skip_reason(gboolean *text_usable);
