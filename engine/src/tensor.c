/* tensor.c: dtype table, element conversions and the tensor-set container. */
#include "tensor.h"
#include "tensor_set.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *name;
  size_t size;
} dtype_info[HART_DT_COUNT] = {
  [HART_DT_BOOL] = { "BOOL", 1 },       [HART_DT_U8] = { "U8", 1 },
  [HART_DT_I8] = { "I8", 1 },           [HART_DT_I16] = { "I16", 2 },
  [HART_DT_U16] = { "U16", 2 },         [HART_DT_I32] = { "I32", 4 },
  [HART_DT_U32] = { "U32", 4 },         [HART_DT_I64] = { "I64", 8 },
  [HART_DT_U64] = { "U64", 8 },         [HART_DT_F16] = { "F16", 2 },
  [HART_DT_BF16] = { "BF16", 2 },       [HART_DT_F32] = { "F32", 4 },
  [HART_DT_F64] = { "F64", 8 },         [HART_DT_F8_E5M2] = { "F8_E5M2", 1 },
  [HART_DT_F8_E4M3] = { "F8_E4M3", 1 },
};

const char *hart_dtype_name(hart_dtype dt)
{
  return (unsigned)dt < HART_DT_COUNT ? dtype_info[dt].name : "?";
}

int hart_dtype_from_name(const char *name)
{
  for (int i = 0; i < HART_DT_COUNT; i++)
    if (strcmp(name, dtype_info[i].name) == 0)
      return i;
  return -1;
}

size_t hart_dtype_size(hart_dtype dt)
{
  return (unsigned)dt < HART_DT_COUNT ? dtype_info[dt].size : 0;
}

int64_t hart_tensor_numel(const hart_tensor *t)
{
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++)
    n *= t->shape[i];
  return n;
}

float hart_f16_to_f32(uint16_t h)
{
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  float f;

  if (exp == 0) {
    /* zero or subnormal: value = man * 2^-24, exact in fp32 */
    f = ldexpf((float)man, -24);
    return sign ? -f : f;
  }
  if (exp == 31)
    bits = sign | 0x7f800000u | (man << 13);
  else
    bits = sign | ((exp + 112) << 23) | (man << 13);
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t hart_f32_to_f16(float f)
{
  uint32_t x, sign, mant;
  int exp;

  memcpy(&x, &f, 4);
  sign = (x >> 16) & 0x8000;
  if ((x & 0x7fffffff) > 0x7f800000) /* NaN */
    return (uint16_t)(sign | 0x7e00);
  exp = (int)((x >> 23) & 0xff) - 127 + 15;
  mant = x & 0x7fffff;
  if (exp >= 31) /* overflow or inf */
    return (uint16_t)(sign | 0x7c00);
  if (exp <= 0) {
    /* subnormal half: shift in the implicit bit, round to nearest even */
    uint32_t m, shift, half, rest;
    if (exp < -10)
      return (uint16_t)sign;
    m = mant | 0x800000;
    shift = (uint32_t)(14 - exp);
    half = 1u << (shift - 1);
    rest = m & ((1u << shift) - 1);
    m >>= shift;
    if (rest > half || (rest == half && (m & 1)))
      m++;
    return (uint16_t)(sign | m);
  }
  {
    uint32_t h = sign | ((uint32_t)exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
      h++; /* may carry into the exponent, which is the correct rounding */
    return (uint16_t)h;
  }
}

float hart_bf16_to_f32(uint16_t h)
{
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t hart_f32_to_bf16(float f)
{
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000)
    return (uint16_t)((x >> 16) | 0x40);
  x += 0x7fff + ((x >> 16) & 1);
  return (uint16_t)(x >> 16);
}

#define LOAD(type, p, i)                                                                           \
  ({                                                                                               \
    type v_;                                                                                       \
    memcpy(&v_, (const char *)(p) + (size_t)(i) * sizeof(type), sizeof(type));                     \
    v_;                                                                                            \
  })

hart_status hart_tensor_to_f32(const hart_tensor *t, float *dst, hart_error *err)
{
  int64_t n = hart_tensor_numel(t);

  switch (t->dtype) {
  case HART_DT_F32:
    memcpy(dst, t->data, (size_t)n * 4);
    return HART_OK;
  case HART_DT_F16:
    for (int64_t i = 0; i < n; i++)
      dst[i] = hart_f16_to_f32(LOAD(uint16_t, t->data, i));
    return HART_OK;
  case HART_DT_BF16:
    for (int64_t i = 0; i < n; i++)
      dst[i] = hart_bf16_to_f32(LOAD(uint16_t, t->data, i));
    return HART_OK;
  case HART_DT_F64:
    for (int64_t i = 0; i < n; i++)
      dst[i] = (float)LOAD(double, t->data, i);
    return HART_OK;
  case HART_DT_BOOL:
  case HART_DT_U8:
    for (int64_t i = 0; i < n; i++)
      dst[i] = ((const uint8_t *)t->data)[i];
    return HART_OK;
  case HART_DT_I8:
    for (int64_t i = 0; i < n; i++)
      dst[i] = ((const int8_t *)t->data)[i];
    return HART_OK;
  case HART_DT_I16:
    for (int64_t i = 0; i < n; i++)
      dst[i] = LOAD(int16_t, t->data, i);
    return HART_OK;
  case HART_DT_I32:
    for (int64_t i = 0; i < n; i++)
      dst[i] = (float)LOAD(int32_t, t->data, i);
    return HART_OK;
  case HART_DT_I64:
    for (int64_t i = 0; i < n; i++)
      dst[i] = (float)LOAD(int64_t, t->data, i);
    return HART_OK;
  case HART_DT_U16:
  case HART_DT_U32:
  case HART_DT_U64:
  case HART_DT_F8_E5M2:
  case HART_DT_F8_E4M3:
  case HART_DT_COUNT:
  default:
    return hart_fail(err, HART_ERR_UNSUPPORTED, "tensor %s: dtype %s cannot be converted to F32",
                     t->name, hart_dtype_name(t->dtype));
  }
}

hart_status hart_tensor_to_i64(const hart_tensor *t, int64_t *dst, hart_error *err)
{
  int64_t n = hart_tensor_numel(t);

  switch (t->dtype) {
  case HART_DT_I64:
    memcpy(dst, t->data, (size_t)n * 8);
    return HART_OK;
  case HART_DT_I32:
    for (int64_t i = 0; i < n; i++)
      dst[i] = LOAD(int32_t, t->data, i);
    return HART_OK;
  case HART_DT_I16:
    for (int64_t i = 0; i < n; i++)
      dst[i] = LOAD(int16_t, t->data, i);
    return HART_OK;
  case HART_DT_BOOL:
  case HART_DT_U8:
    for (int64_t i = 0; i < n; i++)
      dst[i] = ((const uint8_t *)t->data)[i];
    return HART_OK;
  case HART_DT_I8:
  case HART_DT_U16:
  case HART_DT_U32:
  case HART_DT_U64:
  case HART_DT_F16:
  case HART_DT_BF16:
  case HART_DT_F32:
  case HART_DT_F64:
  case HART_DT_F8_E5M2:
  case HART_DT_F8_E4M3:
  case HART_DT_COUNT:
  default:
    return hart_fail(err, HART_ERR_UNSUPPORTED, "tensor %s: dtype %s is not an integer type",
                     t->name, hart_dtype_name(t->dtype));
  }
}

/* ---- the container ---- */

size_t hart_tensor_set_count(const hart_tensor_set *set)
{
  return set->n;
}

const hart_tensor *hart_tensor_set_at(const hart_tensor_set *set, size_t i)
{
  return i < set->n ? &set->tensors[i] : NULL;
}

const hart_tensor *hart_tensor_set_get(const hart_tensor_set *set, const char *name)
{
  /* Linear scan is fine: a few thousand names, looked up once per model load. */
  for (size_t i = 0; i < set->n; i++)
    if (strcmp(set->tensors[i].name, name) == 0)
      return &set->tensors[i];
  return NULL;
}

const hart_tensor *hart_tensor_set_expect(const hart_tensor_set *set, const char *name, int ndim,
                                          const int64_t *shape, hart_error *err)
{
  const hart_tensor *t = hart_tensor_set_get(set, name);

  if (t == NULL) {
    hart_fail(err, HART_ERR_FORMAT, "%s: missing tensor %s", set->origin, name);
    return NULL;
  }
  if (t->ndim != ndim)
    goto bad;
  for (int i = 0; i < ndim; i++)
    if (shape[i] >= 0 && t->shape[i] != shape[i])
      goto bad;
  return t;
bad : {
  char want[128] = "", got[128] = "";
  size_t wl = 0, gl = 0;
  for (int i = 0; i < ndim && wl < sizeof want - 24; i++)
    wl += (size_t)snprintf(want + wl, sizeof want - wl, i ? ", %lld" : "%lld", (long long)shape[i]);
  for (int i = 0; i < t->ndim && gl < sizeof got - 24; i++)
    gl +=
        (size_t)snprintf(got + gl, sizeof got - gl, i ? ", %lld" : "%lld", (long long)t->shape[i]);
  hart_fail(err, HART_ERR_FORMAT, "%s: tensor %s has shape [%s], expected [%s]", set->origin, name,
            got, want);
  return NULL;
}
}

void hart_tensor_set_free(hart_tensor_set *set)
{
  if (set == NULL)
    return;
  for (size_t i = 0; i < set->n; i++)
    free((char *)set->tensors[i].name);
  free(set->tensors);
  for (size_t i = 0; i < set->n_maps; i++)
    hart_unmap(&set->maps[i]);
  free(set->maps);
  for (size_t i = 0; i < set->n_owned; i++)
    free(set->owned[i]);
  free(set->owned);
  free(set->origin);
  free(set);
}
