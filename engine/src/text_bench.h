/* text_bench.h: timing the Qwen2 text encoder at the released shapes with random weights built
 * in memory (hidden 1536, 12 heads, 2 kv heads, head dim 128, MLP 8960; T = 139 system ids + 300
 * context ids). Used by `hart bench` and tests/bench-text. */
#ifndef HART_TEXT_BENCH_H
#define HART_TEXT_BENCH_H

#include "backend.h"

#define HART_TEXT_BENCH_LAYERS 28 /* the released depth */
#define HART_TEXT_BENCH_TOKENS 439

/* Builds the model with `layers` decoder layers (1..28; fewer need less memory) and times `runs`
 * encodings after one warm-up, writing each in seconds to times[runs]. *build_s (may be NULL)
 * gets the time spent building the weights. */
hart_status hart_text_bench(hart_backend *be, int layers, int runs, double *times, double *build_s,
                            hart_error *err);

#endif
