/* tensor_set.h: the internals of hart_tensor_set, shared by the file readers that fill it. */
#ifndef HART_TENSOR_SET_H
#define HART_TENSOR_SET_H

#include "tensor.h"

typedef struct {
  void *addr;
  size_t len;
} hart_mapping;

struct hart_tensor_set {
  char *origin; /* file or folder name, for messages */
  hart_tensor *tensors;
  size_t n, cap;
  hart_mapping *maps; /* mmap'ed files the views point into */
  size_t n_maps;
  void **owned; /* heap buffers the views point into (converted/gathered data) */
  size_t n_owned;
};

hart_tensor_set *hart_tensor_set_new(const char *origin);
/* Appends a tensor (the name is copied). Returns NULL on allocation failure. */
hart_tensor *hart_tensor_set_add(hart_tensor_set *set, const char *name);
int hart_tensor_set_keep_mapping(hart_tensor_set *set, void *addr, size_t len);
int hart_tensor_set_keep_buffer(hart_tensor_set *set, void *buf);

/* Maps a whole file read-only. */
hart_status hart_map_file(const char *path, hart_mapping *map, hart_error *err);
void hart_unmap(hart_mapping *map);

/* Reads one .safetensors file into set (views into a mapping the set keeps). */
hart_status hart_safetensors_read_into(const char *path, hart_tensor_set *set, hart_error *err);
/* The same from memory: views point into buf, which must outlive the set; where names it in
 * messages. On failure nothing is added to set. */
hart_status hart_safetensors_parse_buffer(const uint8_t *buf, size_t len, const char *where,
                                          hart_tensor_set *set, hart_error *err);

#endif
