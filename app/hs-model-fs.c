/* hs-model-fs.c: file-system helpers of the model store. */
#include "hs-model-fs.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hs-download.h"

#define COPY_CHUNK (1024 * 1024)
#define MAX_DEPTH 16

static gboolean list_into(const char *root, const char *rel, int depth, GPtrArray *out,
                          GError **error)
{
  g_autofree char *dir = rel[0] ? g_build_filename(root, rel, NULL) : g_strdup(root);
  g_autoptr(GDir) d = NULL;
  const char *name;

  if (depth > MAX_DEPTH)
    return TRUE;
  d = g_dir_open(dir, 0, error);
  if (d == NULL)
    return FALSE;
  while ((name = g_dir_read_name(d)) != NULL) {
    g_autofree char *child_rel = rel[0] ? g_strconcat(rel, "/", name, NULL) : g_strdup(name);
    g_autofree char *child = g_build_filename(root, child_rel, NULL);
    GStatBuf st;

    if (name[0] == '.' || g_stat(child, &st) != 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      if (!list_into(root, child_rel, depth + 1, out, error))
        return FALSE;
    } else if (S_ISREG(st.st_mode)) {
      g_ptr_array_add(out, g_steal_pointer(&child_rel));
    }
  }
  return TRUE;
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

GPtrArray *hs_fs_list_files(const char *dir, GError **error)
{
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
  if (!list_into(dir, "", 0, out, error))
    return NULL;
  g_ptr_array_sort(out, compare_strings);
  return g_steal_pointer(&out);
}

gboolean hs_fs_remove_tree(const char *path, GError **error)
{
  GStatBuf st;

  if (g_lstat(path, &st) != 0)
    return TRUE;
  if (S_ISDIR(st.st_mode)) {
    g_autoptr(GDir) d = g_dir_open(path, 0, error);
    const char *name;
    if (d == NULL)
      return FALSE;
    while ((name = g_dir_read_name(d)) != NULL) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      if (!hs_fs_remove_tree(child, error))
        return FALSE;
    }
    if (g_rmdir(path) != 0) {
      g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot remove %s: %s", path,
                  g_strerror(errno));
      return FALSE;
    }
    return TRUE;
  }
  if (g_unlink(path) != 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot remove %s: %s", path,
                g_strerror(errno));
    return FALSE;
  }
  return TRUE;
}

static gboolean copy_bytes(int in, int out, const char *src, const char *dest, GChecksum *sum,
                           GCancellable *cancellable, GError **error)
{
  guchar *buf = g_malloc(COPY_CHUNK);
  gboolean ok = TRUE;

  for (;;) {
    gssize n = read(in, buf, COPY_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot read %s: %s", src,
                  g_strerror(errno));
      ok = FALSE;
      break;
    }
    if (n == 0 || g_cancellable_set_error_if_cancelled(cancellable, error)) {
      ok = n == 0;
      break;
    }
    g_checksum_update(sum, buf, n);
    for (gssize off = 0; off < n;) {
      gssize w = write(out, buf + off, (gsize)(n - off));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot write %s: %s", dest,
                    g_strerror(errno));
        g_free(buf);
        return FALSE;
      }
      off += w;
    }
  }
  g_free(buf);
  return ok;
}

static gboolean copy_file(const char *src, const char *part, const char *dest, char **sha256_out,
                          GCancellable *cancellable, GError **error)
{
  g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
  int in = g_open(src, O_RDONLY | O_CLOEXEC, 0);
  int out;
  gboolean ok;

  if (in < 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot open %s: %s", src,
                g_strerror(errno));
    return FALSE;
  }
  out = g_open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot create %s: %s", part,
                g_strerror(errno));
    close(in);
    return FALSE;
  }
  ok = copy_bytes(in, out, src, dest, sum, cancellable, error);
  if (ok && fsync(out) != 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot sync %s: %s", part,
                g_strerror(errno));
    ok = FALSE;
  }
  close(in);
  close(out);
  if (ok && g_rename(part, dest) != 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot rename %s: %s", part,
                g_strerror(errno));
    ok = FALSE;
  }
  if (!ok)
    g_unlink(part);
  else
    *sha256_out = g_strdup(g_checksum_get_string(sum));
  return ok;
}

gboolean hs_fs_copy_hashed(const char *src, const char *dest, char **sha256_out,
                           GCancellable *cancellable, GError **error)
{
  g_autofree char *dir = g_path_get_dirname(dest);
  g_autofree char *part = g_strconcat(dest, ".part", NULL);
  g_autofree char *real = realpath(src, NULL);

  if (g_mkdir_with_parents(dir, 0755) != 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot create %s: %s", dir,
                g_strerror(errno));
    return FALSE;
  }
  g_unlink(part);
  /* A hard link costs no space; the hash still reads the content (the source may be corrupt). */
  if (real != NULL && link(real, part) == 0) {
    *sha256_out = hs_file_sha256(part, cancellable, error);
    if (*sha256_out == NULL || g_rename(part, dest) != 0) {
      if (*sha256_out != NULL)
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot rename %s: %s", part,
                    g_strerror(errno));
      g_clear_pointer(sha256_out, g_free);
      g_unlink(part);
      return FALSE;
    }
    return TRUE;
  }
  return copy_file(src, part, dest, sha256_out, cancellable, error);
}

gboolean hs_fs_free_space(const char *path, guint64 *free_bytes, GError **error)
{
  g_autofree char *p = g_strdup(path);
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFileInfo) info = NULL;

  while (!g_file_test(p, G_FILE_TEST_EXISTS)) {
    char *parent = g_path_get_dirname(p);
    if (strcmp(parent, p) == 0) {
      g_free(parent);
      break;
    }
    g_free(p);
    p = parent;
  }
  file = g_file_new_for_path(p);
  info = g_file_query_filesystem_info(file, G_FILE_ATTRIBUTE_FILESYSTEM_FREE, NULL, error);
  if (info == NULL)
    return FALSE;
  *free_bytes = g_file_info_get_attribute_uint64(info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE);
  return TRUE;
}

gint64 hs_fs_file_size(const char *path)
{
  GStatBuf st;
  if (g_stat(path, &st) != 0 || !S_ISREG(st.st_mode))
    return -1;
  return (gint64)st.st_size;
}
