/* weight_check.h: refusing weights that hold NaN or infinity before they reach the kernels. */
#ifndef HART_WEIGHT_CHECK_H
#define HART_WEIGHT_CHECK_H

#include "tensor.h"

/* HART_OK, or HART_ERR_FORMAT naming the tensor and the first bad element. Float dtypes only
 * (others pass). */
hart_status hart_tensor_check_finite(const hart_tensor *t, hart_error *err);

#endif
