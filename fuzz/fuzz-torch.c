/* fuzz-torch.c: the torch.save reader on arbitrary bytes. The first byte picks the layer: even,
 * the whole zip archive (whose pickle is CRC-checked, so mutations rarely reach the pickle);
 * odd, the restricted pickle interpreter directly on the rest. */
#include <stddef.h>
#include <stdint.h>

#include "torch_pickle.h"
#include "torch_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  hart_error err = { 0 };

  if (size == 0)
    return 0;
  if (data[0] & 1) {
    hart_pickle_state ps;
    if (hart_pickle_load_state_dict(data + 1, size - 1, "fuzz.pkl", &ps, &err) == HART_OK)
      hart_pickle_state_clear(&ps);
  } else {
    hart_tensor_set *set = hart_tensor_set_new("fuzz.bin");
    if (hart_torch_read_buffer(data + 1, size - 1, "fuzz.bin", set, &err) == HART_OK) {
      volatile uint8_t sink = 0;
      for (size_t i = 0; i < hart_tensor_set_count(set); i++) {
        const hart_tensor *t = hart_tensor_set_at(set, i);
        for (size_t b = 0; b < t->nbytes; b++)
          sink ^= ((const uint8_t *)t->data)[b];
      }
      (void)sink;
    }
    hart_tensor_set_free(set);
  }
  return 0;
}
