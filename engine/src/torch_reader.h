/* torch_reader.h: reading torch.save checkpoints (zip format, PyTorch >= 1.6) into tensor sets.
 * Only state dicts of tensors are understood; the pickle is interpreted by a restricted VM that
 * knows a whitelist of globals and never executes anything (torch_pickle.h). */
#ifndef HART_TORCH_READER_H
#define HART_TORCH_READER_H

#include "tensor_set.h"

/* Appends the tensors of the torch.save zip file at path to set. Views (storage offsets,
 * strides) are gathered into contiguous buffers the set keeps; contiguous tensors point into the
 * file mapping, which the set keeps. */
hart_status hart_torch_read_into(const char *path, hart_tensor_set *set, hart_error *err);

/* The same from an archive in memory (buf must outlive set); where names it in messages. */
hart_status hart_torch_read_buffer(const uint8_t *buf, size_t len, const char *where,
                                   hart_tensor_set *set, hart_error *err);

#endif
