/* cuda_entry.h: the one symbol the CUDA module exports (C linkage), looked up with dlsym by
 * backend_cuda_loader.c. */
#ifndef HART_CUDA_ENTRY_H
#define HART_CUDA_ENTRY_H

#include "../backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates the CUDA backend on `device`. Fails cleanly (never aborts) with HART_ERR_UNSUPPORTED
 * when no driver or GPU exists and HART_ERR_DEVICE for other failures, with a message in err. */
__attribute__((visibility("default"))) hart_status
hart_cuda_backend_create(int device, hart_error *err, hart_backend **out);

#ifdef __cplusplus
}
#endif

#endif
