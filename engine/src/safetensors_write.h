/* safetensors_write.h: writing tensors to a .safetensors file, atomically. */
#ifndef HART_SAFETENSORS_WRITE_H
#define HART_SAFETENSORS_WRITE_H

#include "tensor.h"

/* Writes the n tensors (name, dtype, shape, data; nbytes must equal numel x dtype size) to path
 * in the strict layout of shared/golden/README.md: sorted by name, packed without padding, header
 * space-padded so that the data starts at a multiple of 8. The file is written to a temporary
 * file in the same folder, fsync'ed, then renamed over path, so readers never see half a file.
 * Duplicate or non-UTF-8 names are refused. */
hart_status hart_safetensors_write(const char *path, const hart_tensor *tensors, size_t n,
                                   hart_error *err);

/* Writes every tensor of a set (in name order). */
hart_status hart_safetensors_write_set(const char *path, const hart_tensor_set *set,
                                       hart_error *err);

/* Writes len bytes to path atomically (temp file + fsync + rename + fsync of the folder). */
hart_status hart_write_file_atomic(const char *path, const void *data, size_t len, hart_error *err);

#endif
