/* torch_reader.c: placeholder until the zip + pickle reader lands. */
#include "torch_reader.h"

hart_status hart_torch_read_into(const char *path, hart_tensor_set *set, hart_error *err)
{
  (void)set;
  return hart_fail(err, HART_ERR_UNSUPPORTED, "%s: PyTorch checkpoints are not supported yet",
                   path);
}
