/* bench_model.h: a random-weight HART model at the released shapes (hart-spec §0.1, §2), built
 * in memory for `hart bench --release-shapes`. */
#ifndef HART_BENCH_MODEL_H
#define HART_BENCH_MODEL_H

#include "generate.h"

/* Builds configs and weight sets (release widths, `depth` blocks) and loads them onto be. */
hart_status bench_model_new(hart_backend *be, int depth, hart_model **out, hart_error *err);

#endif
