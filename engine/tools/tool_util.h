/* tool_util.h: helpers shared by the generation subcommands of the `hart` tool. */
#ifndef HART_TOOL_UTIL_H
#define HART_TOOL_UTIL_H

#include <glib.h>
#include <stdint.h>

#include "tensor.h"

/* A collection of named host tensors (what the generation driver dumps), written as one
 * .safetensors file with the names sorted. */
typedef struct tool_dump_set tool_dump_set;

tool_dump_set *tool_dump_set_new(void);
void tool_dump_set_free(tool_dump_set *s);
/* hart_dump_fn-compatible collector (ud = the set). */
void tool_dump_collect(void *ud, const char *name, hart_dtype dt, int ndim, const int64_t *shape,
                       const void *data);
/* Writes the set; FALSE with a message on failure. */
gboolean tool_dump_set_write(tool_dump_set *s, const char *path, GError **error);

/* Reads a context file (`hart encode` output: context_tensor or context, with context_mask and
 * context_position_ids), taking batch row `row`, and checks it against ct x cd. */
gboolean tool_load_context(const char *path, int row, int ct, int cd, float **ctx, uint8_t **mask,
                           int64_t **pos, GError **error);

#endif
