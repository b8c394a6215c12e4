/* model_convert.c: the folder walk of hart convert. */
#include "model_convert.h"

#include "model_files.h"
#include "safetensors_write.h"
#include "tensor_set.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  hart_convert_log log;
  void *user;
  hart_convert_report *report;
  hart_error *err;
} convert_ctx;

static void say(convert_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(convert_ctx *c, const char *fmt, ...)
{
  va_list ap;
  char *line;

  if (c->log == NULL)
    return;
  va_start(ap, fmt);
  line = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  c->log(line, c->user);
  g_free(line);
}

static gboolean is_checkpoint_name(const char *name)
{
  return g_str_has_suffix(name, ".bin") || g_str_has_suffix(name, ".pt") ||
         g_str_has_suffix(name, ".pth") || g_str_has_suffix(name, ".ckpt");
}

static hart_status copy_file(const char *from, const char *to, hart_error *err)
{
  hart_mapping map;
  hart_status st = hart_map_file(from, &map, err);

  if (st != HART_OK)
    return st;
  st = hart_write_file_atomic(to, map.addr != NULL ? map.addr : "", map.len, err);
  hart_unmap(&map);
  return st;
}

/* Reads the written file back and compares every tensor with the source: the conversion must
 * be exact, and a disk that returns something else must not go unnoticed. */
static hart_status verify(const hart_tensor_set *src, const char *path, hart_error *err)
{
  hart_tensor_set *back = NULL;
  hart_status st = hart_tensor_set_open_safetensors(path, &back, err);

  if (st != HART_OK)
    return st;
  if (hart_tensor_set_count(back) != hart_tensor_set_count(src))
    st = hart_fail(err, HART_ERR_IO, "%s: tensor count differs after writing", path);
  for (size_t i = 0; st == HART_OK && i < hart_tensor_set_count(src); i++) {
    const hart_tensor *a = hart_tensor_set_at(src, i), *b = hart_tensor_set_get(back, a->name);
    if (b == NULL || b->dtype != a->dtype || b->ndim != a->ndim || b->nbytes != a->nbytes ||
        memcmp(b->shape, a->shape, sizeof a->shape) != 0 ||
        (a->nbytes > 0 && memcmp(a->data, b->data, a->nbytes) != 0))
      st = hart_fail(err, HART_ERR_IO, "%s: tensor %s differs after writing", path, a->name);
  }
  hart_tensor_set_free(back);
  return st;
}

static hart_status convert_checkpoint(convert_ctx *c, const char *from, const char *to_dir,
                                      const char *name, const char *rel)
{
  char *stem = g_strndup(name, (gsize)(strrchr(name, '.') - name));
  char *out_name = g_strconcat(stem, ".safetensors", NULL);
  char *out = g_build_filename(to_dir, out_name, NULL);
  hart_tensor_set *set = NULL;
  hart_status st;

  if (g_file_test(out, G_FILE_TEST_EXISTS)) {
    /* e.g. model.bin next to model.safetensors: never overwrite a file of the source. */
    st = hart_fail(c->err, HART_ERR_INVALID_ARGUMENT,
                   "%s: cannot convert: %s already exists in the source folder", from, out_name);
    goto out;
  }
  st = hart_tensor_set_open_file(from, &set, c->err);
  if (st == HART_OK)
    st = hart_safetensors_write_set(out, set, c->err);
  if (st == HART_OK)
    st = verify(set, out, c->err);
  if (st == HART_OK) {
    c->report->n_converted++;
    say(c, "converted %s -> %s (%zu tensors)", rel, out_name, hart_tensor_set_count(set));
  }
out:
  hart_tensor_set_free(set);
  g_free(out);
  g_free(out_name);
  g_free(stem);
  return st;
}

static int cmp_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static hart_status walk(convert_ctx *c, const char *from_dir, const char *to_dir,
                        const char *rel_dir, int depth)
{
  GError *gerr = NULL;
  GDir *d;
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  const char *n;
  hart_status st = HART_OK;

  if (depth > 32)
    return hart_fail(c->err, HART_ERR_INVALID_ARGUMENT,
                     "%s: folders nested too deeply (a link "
                     "loop?)",
                     from_dir);
  d = g_dir_open(from_dir, 0, &gerr);
  if (d == NULL) {
    st = hart_fail(c->err, HART_ERR_IO, "%s: %s", from_dir, gerr->message);
    g_error_free(gerr);
    g_ptr_array_unref(names);
    return st;
  }
  while ((n = g_dir_read_name(d)) != NULL)
    g_ptr_array_add(names, g_strdup(n));
  g_dir_close(d);
  /* Sorted, so that a convert logs and fails in a stable order. */
  g_ptr_array_sort(names, cmp_names);
  for (guint i = 0; i < names->len && st == HART_OK; i++) {
    const char *name = names->pdata[i];
    char *from = g_build_filename(from_dir, name, NULL);
    char *to = g_build_filename(to_dir, name, NULL);
    char *rel = rel_dir ? g_build_filename(rel_dir, name, NULL) : g_strdup(name);
    GStatBuf sb;
    hart_file_kind kind = HART_FILE_UNKNOWN;
    if (g_stat(from, &sb) != 0) {
      st = hart_fail(c->err, HART_ERR_IO, "%s: %s", from, g_strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
      if (g_mkdir(to, 0755) != 0)
        st = hart_fail(c->err, HART_ERR_IO, "%s: cannot create: %s", to, g_strerror(errno));
      else
        st = walk(c, from, to, rel, depth + 1);
    } else if (!S_ISREG(sb.st_mode)) {
      say(c, "skipped %s (not a regular file)", rel);
    } else if (is_checkpoint_name(name) && (st = hart_file_sniff(from, &kind, c->err)) == HART_OK &&
               kind == HART_FILE_TORCH_ZIP) {
      st = convert_checkpoint(c, from, to_dir, name, rel);
    } else if (st == HART_OK) {
      st = copy_file(from, to, c->err);
      if (st == HART_OK && kind == HART_FILE_TORCH_LEGACY) {
        c->report->n_legacy++;
        say(c,
            "copied %s unchanged: legacy torch.save format is not supported; re-save with "
            "torch>=1.6 to convert it",
            rel);
      } else if (st == HART_OK) {
        c->report->n_copied++;
      }
    }
    g_free(rel);
    g_free(to);
    g_free(from);
  }
  g_ptr_array_unref(names);
  return st;
}

static void remove_tree(const char *dir)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  const char *n;

  while (d != NULL && (n = g_dir_read_name(d)) != NULL) {
    char *p = g_build_filename(dir, n, NULL);
    if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
      remove_tree(p);
    else
      g_unlink(p);
    g_free(p);
  }
  if (d != NULL)
    g_dir_close(d);
  g_rmdir(dir);
}

/* The copy would walk into itself. Compared on canonical paths (dst need not exist yet). */
static gboolean dst_inside_src(const char *src, const char *dst)
{
  char *s = realpath(src, NULL), *parent = g_path_get_dirname(dst), *p = realpath(parent, NULL);
  gboolean inside = FALSE;

  if (s != NULL && p != NULL) {
    size_t n = strlen(s);
    inside = strncmp(p, s, n) == 0 && (p[n] == '\0' || p[n] == '/' || strcmp(s, "/") == 0);
  }
  free(s);
  free(p);
  g_free(parent);
  return inside;
}

hart_status hart_convert_folder(const char *src, const char *dst, hart_convert_log log, void *user,
                                hart_convert_report *report, hart_error *err)
{
  hart_convert_report local;
  convert_ctx c = { log, user, report ? report : &local, err };
  char *tmp;
  hart_status st;

  memset(c.report, 0, sizeof *c.report);
  if (!g_file_test(src, G_FILE_TEST_IS_DIR))
    return hart_fail(err, HART_ERR_IO, "%s: not a folder", src);
  if (dst_inside_src(src, dst))
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "%s: the destination is inside %s", dst, src);
  if (g_file_test(dst, G_FILE_TEST_EXISTS)) {
    /* An empty folder (made by the caller) is fine; anything else is never overwritten. */
    GDir *d = g_dir_open(dst, 0, NULL);
    gboolean empty = d != NULL && g_dir_read_name(d) == NULL;
    if (d != NULL)
      g_dir_close(d);
    if (!empty)
      return hart_fail(err, HART_ERR_INVALID_ARGUMENT,
                       "%s: already exists and is not an empty folder", dst);
    if (g_rmdir(dst) != 0)
      return hart_fail(err, HART_ERR_IO, "%s: cannot replace: %s", dst, g_strerror(errno));
  }
  tmp = g_strdup_printf("%s.partial-XXXXXX", dst);
  if (g_mkdtemp_full(tmp, 0755) == NULL) {
    st = hart_fail(err, HART_ERR_IO, "%s: cannot create a temporary folder: %s", tmp,
                   g_strerror(errno));
    g_free(tmp);
    return st;
  }
  st = walk(&c, src, tmp, NULL, 0);
  if (st == HART_OK && g_rename(tmp, dst) != 0)
    st = hart_fail(err, HART_ERR_IO, "%s: cannot rename into place: %s", dst, g_strerror(errno));
  if (st != HART_OK)
    remove_tree(tmp);
  g_free(tmp);
  return st;
}
