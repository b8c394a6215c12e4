/* cuda_entry.h: the symbols the CUDA module exports (C linkage), looked up with dlsym by
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

/* HART_BACKEND_ABI of the op table the module was built with: the loader refuses a module whose
 * table differs from the engine's (a stale install would otherwise be called with the wrong
 * argument structs). */
__attribute__((visibility("default"))) int hart_cuda_backend_abi(void);

#ifdef __cplusplus
}
#endif

#endif
