/* test-util.h: helpers shared by the engine tests (GLib test framework). */
#ifndef HART_TEST_UTIL_H
#define HART_TEST_UTIL_H

#include <glib.h>

#include "tensor.h"

/* Path under the shared reference folder ($HART_SHARED); newly allocated. */
char *ht_shared_path(const char *rel);
/* Skips the current test (g_test_skip) and returns FALSE when the shared data is missing. */
gboolean ht_require_shared(const char *rel);

/* Opens a safetensors file under shared/ or fails the test. */
hart_tensor_set *ht_open_st(const char *rel);
/* The named tensor as fp32 (g_free the result); fails the test when absent. */
float *ht_tensor_f32(const hart_tensor_set *set, const char *name, gint64 *numel);

/* Removes a directory tree made by a test (temp dirs); missing entries are ignored. */
void ht_rm_tree(const char *dir);

/* Max |a-b| / max(|b|) over n values (relative to the reference's largest magnitude). */
double ht_max_rel_err(const float *a, const float *b, gint64 n);
double ht_max_abs_err(const float *a, const float *b, gint64 n);

/* The backend the golden tests run on: $HART_TEST_BACKEND = "cuda" selects the CUDA backend
 * (device 0), anything else the CPU backend. */
gboolean ht_backend_is_cuda(void);
/* Creates the test backend; on failure returns the status with the reason in err. */
struct hart_backend;
hart_status ht_backend_new(hart_error *err, struct hart_backend **be);

/* Asserts ht_max_rel_err(got, want) <= tol, printing the tensor name and error. */
#define ht_assert_close(name, got, want, n, tol)                                                   \
  G_STMT_START                                                                                     \
  {                                                                                                \
    double e_ = ht_max_rel_err((got), (want), (n));                                                \
    g_test_message("%s: max rel err %.3g (tol %.1g)", (name), e_, (double)(tol));                  \
    if (!(e_ <= (tol)))                                                                            \
      g_error("%s: max rel err %.3g exceeds %.1g", (name), e_, (double)(tol));                     \
  }                                                                                                \
  G_STMT_END

#endif
