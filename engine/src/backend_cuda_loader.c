/* backend_cuda_loader.c: finds and loads the CUDA backend module at run time, so the engine runs
 * on machines without CUDA. The module exports `hart_cuda_backend_create` (see cuda/cuda_entry.h).
 * Search order: $HART_CUDA_MODULE, then the build/install module directory. */
#include "backend.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef HART_MODULE_DIR
#define HART_MODULE_DIR "."
#endif

typedef hart_status (*hart_cuda_create_fn)(int device, hart_error *err, hart_backend **out);
typedef int (*hart_cuda_abi_fn)(void);

hart_status hart_backend_cuda_new(int device, hart_error *err, hart_backend **out)
{
  const char *env = getenv("HART_CUDA_MODULE");
  char path[1024];
  void *handle;
  hart_cuda_create_fn create;
  hart_cuda_abi_fn abi;

  *out = NULL;
  if (env && *env)
    snprintf(path, sizeof path, "%s", env);
  else
    snprintf(path, sizeof path, "%s/libhart-cuda.so", HART_MODULE_DIR);
  handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL)
    return hart_fail(err, HART_ERR_UNSUPPORTED, "CUDA backend not available: %s", dlerror());
  create = (hart_cuda_create_fn)dlsym(handle, "hart_cuda_backend_create");
  abi = (hart_cuda_abi_fn)dlsym(handle, "hart_cuda_backend_abi");
  if (create != NULL && (abi == NULL || abi() != HART_BACKEND_ABI)) {
    int got = abi ? abi() : 1;
    dlclose(handle);
    return hart_fail(err, HART_ERR_UNSUPPORTED,
                     "CUDA module %s was built for op table version %d, this engine needs %d", path,
                     got, HART_BACKEND_ABI);
  }
  if (create == NULL) {
    dlclose(handle);
    return hart_fail(err, HART_ERR_UNSUPPORTED, "CUDA module %s lacks hart_cuda_backend_create",
                     path);
  }
  /* The module stays loaded for the life of the process: CUDA runtimes do not like unloading. */
  return create(device, err, out);
}
