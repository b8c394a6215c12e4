/* tensor.h: named tensors read from model files (safetensors, torch.save), and name lookup.
 *
 * A hart_tensor is a read-only view: data points into an mmap'ed file or a buffer the owning
 * hart_tensor_set keeps alive. Data is C-order (row-major) and little-endian. */
#ifndef HART_TENSOR_H
#define HART_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define HART_MAX_DIMS 8

typedef enum {
  HART_DT_BOOL,
  HART_DT_U8,
  HART_DT_I8,
  HART_DT_I16,
  HART_DT_U16,
  HART_DT_I32,
  HART_DT_U32,
  HART_DT_I64,
  HART_DT_U64,
  HART_DT_F16,
  HART_DT_BF16,
  HART_DT_F32,
  HART_DT_F64,
  HART_DT_F8_E5M2,
  HART_DT_F8_E4M3,
  HART_DT_COUNT
} hart_dtype;

const char *hart_dtype_name(hart_dtype dt); /* safetensors spelling: "F32", "BF16", ... */
int hart_dtype_from_name(const char *name); /* -1 if unknown */
size_t hart_dtype_size(hart_dtype dt);

typedef struct {
  const char *name;
  hart_dtype dtype;
  int ndim;
  int64_t shape[HART_MAX_DIMS];
  const void *data; /* may be unaligned */
  size_t nbytes;
} hart_tensor;

int64_t hart_tensor_numel(const hart_tensor *t);

/* Converts any float or integer tensor to fp32 (dst holds numel floats). */
hart_status hart_tensor_to_f32(const hart_tensor *t, float *dst, hart_error *err);
/* Converts an integer (or bool) tensor to int64. */
hart_status hart_tensor_to_i64(const hart_tensor *t, int64_t *dst, hart_error *err);

/* A set of tensors from one or more files (shards), looked up by name. */
typedef struct hart_tensor_set hart_tensor_set;

/* Opens a single .safetensors file (mmap, strictly validated). */
hart_status hart_tensor_set_open_safetensors(const char *path, hart_tensor_set **out,
                                             hart_error *err);
void hart_tensor_set_free(hart_tensor_set *set);

size_t hart_tensor_set_count(const hart_tensor_set *set);
const hart_tensor *hart_tensor_set_at(const hart_tensor_set *set, size_t i);
/* NULL if absent. */
const hart_tensor *hart_tensor_set_get(const hart_tensor_set *set, const char *name);
/* Like _get, but a missing tensor or a shape mismatch is an error naming it. shape may contain
 * -1 for "any". */
const hart_tensor *hart_tensor_set_expect(const hart_tensor_set *set, const char *name, int ndim,
                                          const int64_t *shape, hart_error *err);

/* fp16/bf16 <-> fp32 scalar conversions (round to nearest even; subnormals kept). */
float hart_f16_to_f32(uint16_t h);
uint16_t hart_f32_to_f16(float f);
float hart_bf16_to_f32(uint16_t h);
uint16_t hart_f32_to_bf16(float f);

#endif
