/* safetensors_write.c: the safetensors writer and atomic file replacement. */
#include "safetensors_write.h"

#include "tensor_set.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- atomic output ---- */

typedef struct {
  char *tmp;
  int fd;
} atomic_file;

static hart_status atomic_begin(const char *path, atomic_file *af, hart_error *err)
{
  af->tmp = g_strdup_printf("%s.tmp-XXXXXX", path);
  af->fd = g_mkstemp_full(af->tmp, O_WRONLY | O_CLOEXEC, 0644);
  if (af->fd < 0) {
    int e = errno;
    g_free(af->tmp);
    af->tmp = NULL;
    return hart_fail(err, HART_ERR_IO, "%s: cannot create a temporary file: %s", path, strerror(e));
  }
  return HART_OK;
}

static hart_status write_all(int fd, const void *data, size_t len, const char *path,
                             hart_error *err)
{
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len > (1u << 30) ? (1u << 30) : len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return hart_fail(err, HART_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    p += w;
    len -= (size_t)w;
  }
  return HART_OK;
}

static void atomic_abort(atomic_file *af)
{
  if (af->fd >= 0)
    close(af->fd);
  if (af->tmp != NULL)
    unlink(af->tmp);
  g_free(af->tmp);
  af->tmp = NULL;
  af->fd = -1;
}

/* fsync the data, rename over the destination, then fsync the folder so the rename is durable. */
static hart_status atomic_commit(const char *path, atomic_file *af, hart_error *err)
{
  char *dir;
  int dfd;

  {
    int rs = fsync(af->fd), e = errno;
    int rc = close(af->fd);
    af->fd = -1;
    if (rs != 0 || rc != 0) {
      if (rs == 0)
        e = errno;
      atomic_abort(af);
      return hart_fail(err, HART_ERR_IO, "%s: cannot flush to disk: %s", path, strerror(e));
    }
  }
  if (rename(af->tmp, path) != 0) {
    int e = errno;
    atomic_abort(af);
    return hart_fail(err, HART_ERR_IO, "%s: cannot rename into place: %s", path, strerror(e));
  }
  g_free(af->tmp);
  af->tmp = NULL;
  dir = g_path_get_dirname(path);
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd); /* best effort: some file systems refuse fsync on folders */
    close(dfd);
  }
  g_free(dir);
  return HART_OK;
}

hart_status hart_write_file_atomic(const char *path, const void *data, size_t len, hart_error *err)
{
  atomic_file af;
  hart_status st = atomic_begin(path, &af, err);

  if (st != HART_OK)
    return st;
  st = write_all(af.fd, data, len, path, err);
  if (st != HART_OK) {
    atomic_abort(&af);
    return st;
  }
  return atomic_commit(path, &af, err);
}

/* ---- the header ---- */

static void json_string(GString *s, const char *str)
{
  g_string_append_c(s, '"');
  for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
    if (*p == '"' || *p == '\\')
      g_string_append_printf(s, "\\%c", *p);
    else if (*p < 0x20)
      g_string_append_printf(s, "\\u%04x", *p);
    else
      g_string_append_c(s, (char)*p);
  }
  g_string_append_c(s, '"');
}

static int cmp_by_name(const void *a, const void *b)
{
  const hart_tensor *const *x = a, *const *y = b;
  return strcmp((*x)->name, (*y)->name);
}

static hart_status check_tensor(const char *path, const hart_tensor *t, hart_error *err)
{
  uint64_t numel = 1, nbytes;

  if (t->name == NULL || !g_utf8_validate(t->name, -1, NULL) || t->name[0] == '\0' ||
      strcmp(t->name, "__metadata__") == 0)
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "%s: invalid tensor name", path);
  if ((unsigned)t->dtype >= HART_DT_COUNT || t->ndim < 0 || t->ndim > HART_MAX_DIMS)
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "%s: tensor %s: invalid dtype or rank", path,
                     t->name);
  for (int i = 0; i < t->ndim; i++)
    if (t->shape[i] < 0 || __builtin_mul_overflow(numel, (uint64_t)t->shape[i], &numel))
      return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "%s: tensor %s: invalid shape", path,
                       t->name);
  if (__builtin_mul_overflow(numel, hart_dtype_size(t->dtype), &nbytes) || nbytes != t->nbytes)
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT,
                     "%s: tensor %s: %zu bytes do not match its shape and dtype", path, t->name,
                     t->nbytes);
  if (t->nbytes > 0 && t->data == NULL)
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "%s: tensor %s: no data", path, t->name);
  return HART_OK;
}

/* Builds the padded header (including the 8-byte length) for tensors in the given order. */
static GString *build_header(const hart_tensor *const *order, size_t n)
{
  GString *s = g_string_new(NULL);
  uint64_t off = 0, hlen;

  g_string_append(s, "________{");
  for (size_t i = 0; i < n; i++) {
    const hart_tensor *t = order[i];
    if (i > 0)
      g_string_append_c(s, ',');
    json_string(s, t->name);
    g_string_append_printf(s, ":{\"dtype\":\"%s\",\"shape\":[", hart_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim; d++)
      g_string_append_printf(s, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    g_string_append_printf(s, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                           (unsigned long long)(off + t->nbytes));
    off += t->nbytes;
  }
  g_string_append_c(s, '}');
  while (s->len % 8 != 0)
    g_string_append_c(s, ' ');
  hlen = GUINT64_TO_LE((uint64_t)(s->len - 8));
  memcpy(s->str, &hlen, 8);
  return s;
}

hart_status hart_safetensors_write(const char *path, const hart_tensor *tensors, size_t n,
                                   hart_error *err)
{
  const hart_tensor **order = g_new(const hart_tensor *, n + 1);
  GString *header = NULL;
  atomic_file af = { NULL, -1 };
  hart_status st = HART_OK;

  for (size_t i = 0; i < n && st == HART_OK; i++) {
    order[i] = &tensors[i];
    st = check_tensor(path, &tensors[i], err);
  }
  if (st != HART_OK)
    goto out;
  qsort(order, n, sizeof *order, cmp_by_name);
  for (size_t i = 1; i < n; i++)
    if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
      st = hart_fail(err, HART_ERR_INVALID_ARGUMENT, "%s: tensor %s given twice", path,
                     order[i]->name);
      goto out;
    }
  header = build_header(order, n);
  st = atomic_begin(path, &af, err);
  if (st != HART_OK)
    goto out;
  st = write_all(af.fd, header->str, header->len, path, err);
  for (size_t i = 0; i < n && st == HART_OK; i++)
    st = write_all(af.fd, order[i]->data, order[i]->nbytes, path, err);
  if (st != HART_OK) {
    atomic_abort(&af);
    goto out;
  }
  st = atomic_commit(path, &af, err);
out:
  if (header != NULL)
    g_string_free(header, TRUE);
  g_free(order);
  return st;
}

hart_status hart_safetensors_write_set(const char *path, const hart_tensor_set *set,
                                       hart_error *err)
{
  return hart_safetensors_write(path, set->tensors, set->n, err);
}
