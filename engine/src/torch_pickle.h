/* torch_pickle.h: a restricted pickle interpreter for the data.pkl of torch.save checkpoints.
 *
 * It understands the protocol-2 opcodes torch.save writes for a state dict and only these
 * globals: collections.OrderedDict, torch._utils._rebuild_tensor_v2 and the typed storage
 * classes. The "calls" REDUCE performs are interpreted by hand (build a dict, describe a tensor);
 * nothing from the file is ever executed. Anything else is refused with a message naming the
 * file, the opcode or global, and its offset. */
#ifndef HART_TORCH_PICKLE_H
#define HART_TORCH_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

/* One tensor of the state dict, as _rebuild_tensor_v2 describes it (offset and strides in
 * elements of the storage). */
typedef struct {
  char *name;
  char *storage_key; /* the zip record data/<key> */
  hart_dtype dtype;  /* from the storage class */
  int64_t storage_numel;
  int64_t offset;
  int ndim;
  int64_t shape[HART_MAX_DIMS];
  int64_t stride[HART_MAX_DIMS];
} hart_pickle_tensor;

typedef struct {
  hart_pickle_tensor *tensors;
  size_t n;
} hart_pickle_state;

/* Interprets the pickle (len bytes) and returns the tensors of the top-level state dict in
 * order. where names the file in messages. The result must be freed with
 * hart_pickle_state_clear. */
hart_status hart_pickle_load_state_dict(const uint8_t *data, size_t len, const char *where,
                                        hart_pickle_state *out, hart_error *err);
void hart_pickle_state_clear(hart_pickle_state *st);

#endif
