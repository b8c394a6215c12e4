/* fuzz-safetensors.c: the strict safetensors header and layout checks on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "tensor_set.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  hart_tensor_set *set = hart_tensor_set_new("fuzz.safetensors");
  hart_error err = { 0 };

  if (hart_safetensors_parse_buffer(data, size, "fuzz.safetensors", set, &err) == HART_OK) {
    /* Touch every byte of every view: they must all lie inside the input. */
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < hart_tensor_set_count(set); i++) {
      const hart_tensor *t = hart_tensor_set_at(set, i);
      for (size_t b = 0; b < t->nbytes; b++)
        sink ^= ((const uint8_t *)t->data)[b];
    }
    (void)sink;
  }
  hart_tensor_set_free(set);
  return 0;
}
