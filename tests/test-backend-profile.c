/* test-backend-profile.c: the op profiler (engine/src/backend_profile.c) that `hart bench
 * --profile-ops` wraps around a backend: it must compute exactly what the wrapped backend does,
 * keep the wrapped backend's set of optional ops, count calls per op and shape, forget them on
 * reset, and `hart bench --profile-ops` must print the table for a real model. */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "backend_profile.h"
#include "test-util.h"

static hart_error err;

/* The profile as text. */
static char *profile_text(hart_backend *be, int per)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  g_assert_nonnull(f);
  hart_backend_profile_print(be, f, 50, per);
  fclose(f);
  return buf;
}

/* The calls column of the row whose key is `key` (-1 when absent). */
static long calls_of(const char *text, const char *key)
{
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (int i = 0; lines[i]; i++) {
    const char *l = lines[i];
    while (*l == ' ')
      l++;
    if (g_str_has_prefix(l, key) && l[strlen(key)] == ' ') {
      double ms;
      long calls;
      if (sscanf(l + strlen(key), "%lf %ld", &ms, &calls) == 2)
        return calls;
    }
  }
  return -1;
}

static void test_same_results_and_counts(void)
{
  hart_backend *plain, *inner, *prof;
  const int64_t M = 4, N = 3, K = 5, wshape[2] = { N, K };
  float wh[15], xh[20], y1[12], y2[12];
  hart_bw *w1, *w2;
  float *x1, *x2, *d1, *d2;
  char *text;

  for (int i = 0; i < 15; i++)
    wh[i] = (float)(i % 7) * 0.25f - 0.5f;
  for (int i = 0; i < 20; i++)
    xh[i] = (float)(i % 5) - 1.5f;
  g_assert_cmpint(hart_backend_cpu_new(1, &err, &plain), ==, HART_OK);
  g_assert_cmpint(hart_backend_cpu_new(1, &err, &inner), ==, HART_OK);
  plain->err = &err;
  prof = hart_backend_profile_new(inner);
  prof->err = &err;
  g_assert_cmpstr(prof->name, ==, "cpu");
  g_assert_cmpstr(prof->device, ==, inner->device);
  /* Optional ops stay as the wrapped backend has them (the CPU has no mem_stats). */
  g_assert_null(prof->ops->mem_stats);
  g_assert_nonnull(prof->ops->rope_inplace);

  w1 = plain->ops->weight_new(plain, wh, 2, wshape, HART_WUSE_GEMM);
  w2 = prof->ops->weight_new(prof, wh, 2, wshape, HART_WUSE_GEMM);
  x1 = plain->ops->alloc(plain, sizeof xh);
  x2 = prof->ops->alloc(prof, sizeof xh);
  d1 = plain->ops->alloc(plain, sizeof y1);
  d2 = prof->ops->alloc(prof, sizeof y2);
  g_assert_true(w1 && w2 && x1 && x2 && d1 && d2);
  g_assert_cmpint(plain->ops->upload(plain, x1, xh, sizeof xh), ==, HART_OK);
  g_assert_cmpint(prof->ops->upload(prof, x2, xh, sizeof xh), ==, HART_OK);
  for (int r = 0; r < 3; r++) {
    g_assert_cmpint(plain->ops->linear(plain, d1, x1, w1, NULL, M, N, K, 0.0f), ==, HART_OK);
    g_assert_cmpint(prof->ops->linear(prof, d2, x2, w2, NULL, M, N, K, 0.0f), ==, HART_OK);
  }
  g_assert_cmpint(plain->ops->silu(plain, d1, d1, M * N), ==, HART_OK);
  g_assert_cmpint(prof->ops->silu(prof, d2, d2, M * N), ==, HART_OK);
  g_assert_cmpint(plain->ops->download(plain, y1, d1, sizeof y1), ==, HART_OK);
  g_assert_cmpint(prof->ops->download(prof, y2, d2, sizeof y2), ==, HART_OK);
  g_assert_cmpmem(y1, sizeof y1, y2, sizeof y2);

  /* An op's failure comes back through the wrapper, recorded in the owner's error. */
  g_assert_cmpint(prof->ops->groupnorm(prof, d2, d2, NULL, NULL, 1, 3, 4, 2, 1e-6f, 0), !=,
                  HART_OK);
  g_assert_cmpint(err.code, !=, HART_OK);

  text = profile_text(prof, 1);
  g_test_message("%s", text);
  g_assert_true(g_str_has_prefix(text, "op profile (cpu"));
  g_assert_cmpint(calls_of(text, "linear M4 N3 K5"), ==, 3);
  g_assert_cmpint(calls_of(text, "silu 12"), ==, 1);
  g_assert_cmpint(calls_of(text, "download"), ==, 1); /* the per-op total */
  g_assert_nonnull(strstr(text, "by op:"));
  g_free(text);
  /* Per image: three linears over 3 images are one each. */
  text = profile_text(prof, 3);
  g_assert_cmpint(calls_of(text, "linear M4 N3 K5"), ==, 1);
  g_free(text);

  hart_backend_profile_reset(prof);
  text = profile_text(prof, 1);
  g_assert_cmpint(calls_of(text, "linear M4 N3 K5"), ==, -1);
  g_assert_nonnull(strstr(text, ": 0.0 ms"));
  g_free(text);

  plain->ops->free(plain, x1);
  plain->ops->free(plain, d1);
  plain->ops->weight_free(plain, w1);
  prof->ops->free(prof, x2);
  prof->ops->free(prof, d2);
  prof->ops->weight_free(prof, w2);
  plain->ops->destroy(plain);
  prof->ops->destroy(prof); /* destroys `inner` too */
}

/* `hart bench --profile-ops` on the tiny golden model: the table follows the stage times and
 * names the decoder's convolutions and the transformer's attention. */
static void test_hart_bench_profile(void)
{
  const char *cli = g_getenv("HART_CLI");
  g_autofree char *model = NULL, *out = NULL, *errs = NULL;
  int status = 0;
  GError *gerr = NULL;

  if (cli == NULL) {
    g_test_skip("HART_CLI is not set (meson test sets it)");
    return;
  }
  if (!ht_require_shared("golden/tiny/case.json"))
    return;
  model = ht_shared_path("golden/tiny");
  {
    const char *argv[] = { cli, "bench", "-m", model,           "--runs",
                           "2", "-t",    "1",  "--profile-ops", NULL };
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &errs,
                               &status, &gerr));
  }
  g_assert_no_error(gerr);
  g_test_message("%s", out);
  g_assert_true(g_spawn_check_wait_status(status, NULL));
  g_assert_nonnull(strstr(out, "op profile (cpu, synchronised after every op; per image over 1)"));
  g_assert_nonnull(strstr(out, "  conv2d "));
  g_assert_nonnull(strstr(out, "  attention n"));
  g_assert_true(strstr(out, "total") < strstr(out, "op profile"));
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/backend-profile/same-results-and-counts", test_same_results_and_counts);
  g_test_add_func("/backend-profile/hart-bench", test_hart_bench_profile);
  return g_test_run();
}
