/* tensor_set.c: building tensor sets and mapping files. */
#include "tensor_set.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

hart_tensor_set *hart_tensor_set_new(const char *origin)
{
  hart_tensor_set *set = calloc(1, sizeof *set);
  if (set == NULL)
    return NULL;
  set->origin = strdup(origin);
  if (set->origin == NULL) {
    free(set);
    return NULL;
  }
  return set;
}

hart_tensor *hart_tensor_set_add(hart_tensor_set *set, const char *name)
{
  hart_tensor *t;

  if (set->n == set->cap) {
    size_t cap = set->cap ? set->cap * 2 : 64;
    hart_tensor *nt = realloc(set->tensors, cap * sizeof *nt);
    if (nt == NULL)
      return NULL;
    set->tensors = nt;
    set->cap = cap;
  }
  t = &set->tensors[set->n];
  memset(t, 0, sizeof *t);
  t->name = strdup(name);
  if (t->name == NULL)
    return NULL;
  set->n++;
  return t;
}

int hart_tensor_set_keep_mapping(hart_tensor_set *set, void *addr, size_t len)
{
  hart_mapping *m = realloc(set->maps, (set->n_maps + 1) * sizeof *m);
  if (m == NULL)
    return -1;
  set->maps = m;
  m[set->n_maps].addr = addr;
  m[set->n_maps].len = len;
  set->n_maps++;
  return 0;
}

int hart_tensor_set_keep_buffer(hart_tensor_set *set, void *buf)
{
  void **o = realloc(set->owned, (set->n_owned + 1) * sizeof *o);
  if (o == NULL)
    return -1;
  set->owned = o;
  o[set->n_owned++] = buf;
  return 0;
}

hart_status hart_map_file(const char *path, hart_mapping *map, hart_error *err)
{
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  map->addr = NULL;
  map->len = 0;
  if (fd < 0)
    return hart_fail(err, HART_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return hart_fail(err, HART_ERR_IO, "%s: not a regular file", path);
  }
  map->len = (size_t)st.st_size;
  if (map->len > 0) {
    /* MAP_PRIVATE: a file replaced on disk later does not change what we read (rename), and a
     * truncated one raises SIGBUS only for pages past the new end, which we never touch after
     * validating: readers copy or convert the data they need at load time. */
    map->addr = mmap(NULL, map->len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map->addr == MAP_FAILED) {
      map->addr = NULL;
      close(fd);
      return hart_fail(err, HART_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    }
  }
  close(fd);
  return HART_OK;
}

void hart_unmap(hart_mapping *map)
{
  if (map->addr != NULL)
    munmap(map->addr, map->len);
  map->addr = NULL;
  map->len = 0;
}
