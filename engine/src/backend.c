/* backend.c: helpers shared by all backends. */
#include "backend.h"

#include <stdlib.h>

hart_bw *hart_bw_from_tensor(hart_backend *be, const hart_tensor *t, hart_wuse use, hart_error *err)
{
  int64_t n = hart_tensor_numel(t);
  float *tmp;
  hart_bw *w;

  if (t->ndim > 4) {
    hart_fail(err, HART_ERR_FORMAT, "tensor %s: %d dimensions, at most 4 supported", t->name,
              t->ndim);
    return NULL;
  }
  tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (tmp == NULL) {
    hart_fail(err, HART_ERR_NO_MEMORY, "out of memory converting %s", t->name);
    return NULL;
  }
  if (hart_tensor_to_f32(t, tmp, err) != HART_OK) {
    free(tmp);
    return NULL;
  }
  w = be->ops->weight_new(be, tmp, t->ndim, t->shape, use);
  free(tmp);
  if (w == NULL && err != be->err && be->err)
    *err = *be->err;
  return w;
}
