/* test-util.c: helpers shared by the engine tests. */
#include "test-util.h"

#include <glib/gstdio.h>

#include "backend.h"

#include <math.h>

char *ht_shared_path(const char *rel)
{
  const char *root = g_getenv("HART_SHARED");
  return g_build_filename(root && *root ? root : "../shared", rel, NULL);
}

gboolean ht_require_shared(const char *rel)
{
  char *p = ht_shared_path(rel);
  gboolean ok = g_file_test(p, G_FILE_TEST_EXISTS);
  if (!ok) {
    char *msg = g_strdup_printf("reference data %s not found", p);
    g_test_skip(msg);
    g_free(msg);
  }
  g_free(p);
  return ok;
}

hart_tensor_set *ht_open_st(const char *rel)
{
  char *p = ht_shared_path(rel);
  hart_tensor_set *set = NULL;
  hart_error err = { 0 };
  if (hart_tensor_set_open_safetensors(p, &set, &err) != HART_OK)
    g_error("cannot open %s: %s", p, err.msg);
  g_free(p);
  return set;
}

float *ht_tensor_f32(const hart_tensor_set *set, const char *name, gint64 *numel)
{
  const hart_tensor *t = hart_tensor_set_get(set, name);
  hart_error err = { 0 };
  float *out;
  if (t == NULL)
    g_error("tensor %s not found", name);
  out = g_new(float, MAX(hart_tensor_numel(t), 1));
  if (hart_tensor_to_f32(t, out, &err) != HART_OK)
    g_error("tensor %s: %s", name, err.msg);
  if (numel)
    *numel = hart_tensor_numel(t);
  return out;
}

double ht_max_abs_err(const float *a, const float *b, gint64 n)
{
  double m = 0.0;
  for (gint64 i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (isnan(d))
      return INFINITY;
    if (d > m)
      m = d;
  }
  return m;
}

double ht_max_rel_err(const float *a, const float *b, gint64 n)
{
  double ref = 0.0;
  for (gint64 i = 0; i < n; i++)
    if (isfinite(b[i]) && fabs(b[i]) > ref)
      ref = fabs(b[i]);
  return ht_max_abs_err(a, b, n) / (ref > 0.0 ? ref : 1.0);
}

gboolean ht_backend_is_cuda(void)
{
  const char *b = g_getenv("HART_TEST_BACKEND");
  return b != NULL && g_ascii_strcasecmp(b, "cuda") == 0;
}

hart_status ht_backend_new(hart_error *err, hart_backend **be)
{
  if (ht_backend_is_cuda())
    return hart_backend_cuda_new(0, err, be);
  return hart_backend_cpu_new(0, err, be);
}

void ht_rm_tree(const char *dir)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
    char *p = g_build_filename(dir, name, NULL);
    if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
      ht_rm_tree(p);
    else
      g_unlink(p);
    g_free(p);
  }
  if (d != NULL)
    g_dir_close(d);
  g_rmdir(dir);
}
