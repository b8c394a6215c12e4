/* fake-engine.h: a scripted stand-in for libhart, linked instead of the engine into
 * test-worker-logic so the worker's threading (coalescing, cancel, shutdown, thread affinity)
 * is tested deterministically and independently of the engine's numerics. The real engine is
 * exercised by test-worker against the tiny golden model. */
#pragma once

#include <glib.h>

#include "hart.h"

typedef struct {
  int n_steps;       /* previews (and progress reports) per generation */
  int step_sleep_us; /* time per step */
  GThread *open_thread;
  GThread *generate_thread;
  GThread *close_thread;
  int n_open, n_close, n_generate;
  int last_steps_run; /* steps of the last generation before it returned */
  gboolean last_cancelled;
} FakeEngineState;

/* The engine's state; reset with fake_engine_reset(). Guarded by the test's own ordering: the
 * worker writes it, the test reads it after the task completed. */
extern FakeEngineState fake_engine;
void fake_engine_reset(int n_steps, int step_sleep_us);
