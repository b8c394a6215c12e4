/* backend_profile.h: an op-level profiler that wraps any backend.
 *
 * The wrapper forwards every op to the backend it wraps and times it between two syncs, so each
 * op's time is its own (launches, kernels and the wait for them), keyed by the op's name and the
 * shape that decides its cost ("conv2d 128->128 k3 1024x1024"). Syncing after every op removes
 * the overlap of launches with GPU work, so the profiled total is above an unprofiled run's: use
 * it to see where the time goes, and the unprofiled `hart bench` for how long a run takes.
 * `hart bench --profile-ops` prints the table.
 */
#ifndef HART_BACKEND_PROFILE_H
#define HART_BACKEND_PROFILE_H

#include <stdio.h>

#include "backend.h"

/* A backend that times `inner`'s ops; it owns `inner` (destroying it destroys both). */
hart_backend *hart_backend_profile_new(hart_backend *inner);

/* Forgets what was timed so far (e.g. after a warm-up run). */
void hart_backend_profile_reset(hart_backend *be);

/* Prints the `top` costliest shapes and every op's total, times divided by `per` (the number of
 * images timed), to `out`. */
void hart_backend_profile_print(hart_backend *be, FILE *out, int top, int per);

#endif
