/* weight_check.c: NaN/infinity scan of float tensors (see weight_check.h). */
#include "weight_check.h"

#include <math.h>
#include <string.h>

hart_status hart_tensor_check_finite(const hart_tensor *t, hart_error *err)
{
  int64_t n = hart_tensor_numel(t);
  const unsigned char *p = t->data;

  for (int64_t i = 0; i < n; i++) {
    int bad;
    switch (t->dtype) {
    case HART_DT_F32: {
      float v;
      memcpy(&v, p + 4 * i, 4); /* tensors need not be aligned */
      bad = !isfinite(v);
      break;
    }
    case HART_DT_F64: {
      double v;
      memcpy(&v, p + 8 * i, 8);
      bad = !isfinite(v);
      break;
    }
    case HART_DT_F16:
    case HART_DT_BF16: {
      uint16_t h;
      memcpy(&h, p + 2 * i, 2);
      /* all-ones exponent: 5 bits for fp16, 8 for bf16 */
      bad = t->dtype == HART_DT_F16 ? (h & 0x7c00u) == 0x7c00u : (h & 0x7f80u) == 0x7f80u;
      break;
    }
    case HART_DT_BOOL:
    case HART_DT_U8:
    case HART_DT_I8:
    case HART_DT_I16:
    case HART_DT_U16:
    case HART_DT_I32:
    case HART_DT_U32:
    case HART_DT_I64:
    case HART_DT_U64:
    case HART_DT_F8_E5M2:
    case HART_DT_F8_E4M3:
    case HART_DT_COUNT:
    default:
      return HART_OK;
    }
    if (bad)
      return hart_fail(err, HART_ERR_FORMAT, "tensor %s: element %lld is NaN or infinite", t->name,
                       (long long)i);
  }
  return HART_OK;
}
