/* cuda_backend.cu: creation of the CUDA backend, memory, weights, error mapping and the op table.
 *
 * Weight storage on CUDA (hart_bw.data / hart_bw.aux):
 *   HART_WUSE_VECTOR  data = fp32 device copy; aux = NULL.
 *   HART_WUSE_GEMM    data = NULL; aux = fp16 device copy in the stored layout.
 *   HART_WUSE_CONV    data = NULL; aux = fp16 device copy [Cout, Cin*k*k].
 *   HART_WUSE_TABLE   data = fp32 device copy (exact rows for embed_rows: the reference gathers
 *                     fp32 codebook rows); aux = fp16 copy made on the first matmul_w/linear use.
 * Why fp16 matrices: the reference runs under torch.autocast(fp16) with fp32 weights, and autocast
 * rounds every GEMM/conv weight to fp16 at each call (round to nearest even) before a cuBLAS/cuDNN
 * product with fp32 accumulation. An fp16 copy made once is therefore bit-identical to the
 * operand the reference multiplies with, at half the memory and bandwidth of fp32. bf16 would
 * add error (8 bits of mantissa instead of 11) for no gain in range on these weights. The
 * activations are rounded to fp16 on the fly (as autocast does) into a scratch buffer. */
#include "cuda_common.h"
#include "cuda_entry.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The module's own copy of the engine's hart_fail (error.c): the module is dlopen'ed by
 * executables that link libhart statically and do not export its symbols. Hidden visibility keeps
 * it private to the module. */
extern "C" hart_status hart_fail(hart_error *err, hart_status code, const char *fmt, ...)
{
  va_list ap;
  if (err == NULL)
    return code;
  err->code = code;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return code;
}

hart_status cu_fail(hart_backend *be, cudaError_t e, const char *what)
{
  hart_status code = e == cudaErrorMemoryAllocation ? HART_ERR_DEVICE_MEMORY : HART_ERR_DEVICE;
  /* Clears the last-error slot for non-sticky errors; a sticky one stays and will show again. */
  (void)cudaGetLastError();
  return hart_fail(be->err, code, "CUDA: %s failed: %s (%s)", what, cudaGetErrorString(e),
                   cudaGetErrorName(e));
}

hart_status cu_blas_fail(hart_backend *be, cublasStatus_t s, const char *what)
{
  hart_status code = s == CUBLAS_STATUS_ALLOC_FAILED ? HART_ERR_DEVICE_MEMORY : HART_ERR_DEVICE;
  (void)cudaGetLastError();
  return hart_fail(be->err, code, "cuBLAS: %s failed: %s", what, cublasGetStatusString(s));
}

hart_status cu_check_launch(hart_backend *be, const char *kernel)
{
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    return cu_fail(be, e, kernel);
  return HART_OK;
}

void cu_note_memory(cu_priv *p)
{
  size_t fr = 0, tot = 0;
  if (cudaMemGetInfo(&fr, &tot) == cudaSuccess && tot - fr > p->mem_peak)
    p->mem_peak = tot - fr;
}

void *cu_scratch_get(hart_backend *be, cu_scratch *s, size_t bytes)
{
  cu_priv *p = cu_p(be);
  void *np = NULL;
  cudaError_t e;

  if (bytes <= s->bytes && s->p != NULL)
    return s->p;
  /* Grow by 1.5x, at most 16 MiB more, to avoid reallocating for every slightly larger request
   * (the bound keeps the 67 MB activations of the 4096-token stage from holding 100 MB). */
  bytes = bytes + (bytes / 2 < ((size_t)16 << 20) ? bytes / 2 : ((size_t)16 << 20));
  bytes = (bytes + 255) & ~(size_t)255;
  if (s->p != NULL && p->capturing) {
    /* Recording: ops recorded before use the old block, and freeing it would synchronise the
     * recording stream. Park it until the recordings are dropped. */
    if (p->n_graveyard == CU_MAX_GRAVEYARD) {
      hart_fail(be->err, HART_ERR_INTERNAL, "CUDA: scratch reallocated too often while recording");
      return NULL;
    }
    p->graveyard[p->n_graveyard++] = s->p;
    s->p = NULL;
    s->bytes = 0;
  } else if (s->p != NULL) {
    /* Recorded graphs may use the old block, and queued kernels may still read it. */
    cu_graphs_drop(p);
    e = cudaStreamSynchronize(p->stream);
    if (e != cudaSuccess) {
      cu_fail(be, e, "cudaStreamSynchronize");
      return NULL;
    }
    cudaFree(s->p);
    s->p = NULL;
    s->bytes = 0;
  }
  e = cudaMalloc(&np, bytes);
  if (e != cudaSuccess) {
    cu_fail(be, e, "cudaMalloc (scratch)");
    return NULL;
  }
  s->p = np;
  s->bytes = bytes;
  if (!p->capturing)
    cu_note_memory(p);
  return np;
}

static void cu_scratch_free(cu_scratch *s)
{
  if (s->p)
    cudaFree(s->p);
  s->p = NULL;
  s->bytes = 0;
}

/* ---- memory ---- */

static void *cu_alloc(hart_backend *be, size_t bytes)
{
  cu_priv *p = cu_p(be);
  void *d = NULL;
  cudaError_t e;

  if (bytes == 0)
    bytes = 16;
  e = cudaMalloc(&d, bytes);
  if (e != cudaSuccess) {
    cu_fail(be, e, "cudaMalloc");
    return NULL;
  }
  e = cudaMemsetAsync(d, 0, bytes, p->stream);
  if (e != cudaSuccess) {
    cudaFree(d);
    cu_fail(be, e, "cudaMemsetAsync");
    return NULL;
  }
  cu_note_memory(p);
  return d;
}

static void cu_free(hart_backend *be, void *ptr)
{
  if (ptr == NULL)
    return;
  /* cudaFree synchronises with the device, so queued kernels using ptr complete first. */
  cudaFree(ptr);
}

static hart_status cu_upload(hart_backend *be, void *dst, const void *src, size_t bytes)
{
  if (bytes == 0)
    return HART_OK;
  CU_CHECK(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cu_p(be)->stream));
  /* The host buffer may be reused as soon as we return: pageable copies are staged by the
   * runtime, but a sync makes the contract obvious and costs little for uploads. */
  CU_CHECK(be, cudaStreamSynchronize(cu_p(be)->stream));
  return HART_OK;
}

static hart_status cu_check_flag(hart_backend *be)
{
  cu_priv *p = cu_p(be);
  if (*(volatile int *)p->flag != 0) {
    int f = *(volatile int *)p->flag;
    *(volatile int *)p->flag = 0;
    return hart_fail(be->err, HART_ERR_INTERNAL,
                     "CUDA: a kernel saw an out-of-range token id (code %d); rows were zeroed", f);
  }
  return HART_OK;
}

static hart_status cu_download(hart_backend *be, void *dst, const void *src, size_t bytes)
{
  if (bytes > 0) {
    CU_CHECK(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cu_p(be)->stream));
  }
  CU_CHECK(be, cudaStreamSynchronize(cu_p(be)->stream));
  return cu_check_flag(be);
}

static hart_status cu_copy(hart_backend *be, void *dst, const void *src, size_t bytes)
{
  if (bytes == 0)
    return HART_OK;
  CU_CHECK(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cu_p(be)->stream));
  return HART_OK;
}

static hart_status cu_sync(hart_backend *be)
{
  CU_CHECK(be, cudaStreamSynchronize(cu_p(be)->stream));
  return cu_check_flag(be);
}

static hart_status cu_mem_stats(hart_backend *be, size_t *used, size_t *peak, size_t *total)
{
  cu_priv *p = cu_p(be);
  size_t fr = 0, tot = 0;
  CU_CHECK(be, cudaMemGetInfo(&fr, &tot));
  cu_note_memory(p);
  if (used)
    *used = tot - fr;
  if (peak)
    *peak = p->mem_peak;
  if (total)
    *total = tot;
  return HART_OK;
}

/* ---- weights ---- */

static __global__ void k_f32_to_f16(__half *dst, const float *src, int64_t n)
{
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    dst[i] = __float2half_rn(src[i]);
}

hart_status cu_to_half(hart_backend *be, __half *dst, const float *src, int64_t n)
{
  if (n <= 0)
    return HART_OK;
  k_f32_to_f16<<<cu_blocks(n, 256), 256, 0, cu_p(be)->stream>>>(dst, src, n);
  CU_LAUNCHED(be, "k_f32_to_f16");
  return HART_OK;
}

static hart_bw *cu_weight_new(hart_backend *be, const float *host, int ndim, const int64_t *shape,
                              hart_wuse use)
{
  cu_priv *p = cu_p(be);
  hart_bw *w;
  float *dev32 = NULL;
  size_t bytes;
  cudaError_t e;

  if (ndim < 0 || ndim > 4) {
    hart_fail(be->err, HART_ERR_INVALID_ARGUMENT, "CUDA weight: %d dimensions", ndim);
    return NULL;
  }
  w = (hart_bw *)calloc(1, sizeof *w);
  if (w == NULL) {
    hart_fail(be->err, HART_ERR_NO_MEMORY, "out of memory for a weight");
    return NULL;
  }
  w->ndim = ndim;
  w->numel = 1;
  for (int i = 0; i < ndim; i++) {
    w->shape[i] = shape[i];
    w->numel *= shape[i];
  }
  w->use = use;
  bytes = (size_t)(w->numel > 0 ? w->numel : 1) * sizeof(float);
  e = cudaMalloc((void **)&dev32, bytes);
  if (e != cudaSuccess)
    goto fail;
  e = cudaMemcpyAsync(dev32, host, (size_t)w->numel * sizeof(float), cudaMemcpyHostToDevice,
                      p->stream);
  if (e != cudaSuccess)
    goto fail;
  if (use == HART_WUSE_GEMM || use == HART_WUSE_CONV) {
    __half *h = NULL;
    e = cudaMalloc((void **)&h, (size_t)(w->numel > 0 ? w->numel : 1) * sizeof(__half));
    if (e != cudaSuccess)
      goto fail;
    w->aux = h;
    if (cu_to_half(be, h, dev32, w->numel) != HART_OK)
      goto fail_recorded;
    /* The fp32 staging copy is dropped once the fp16 copy exists (cudaFree waits for it). */
    e = cudaStreamSynchronize(p->stream);
    if (e != cudaSuccess)
      goto fail;
    cudaFree(dev32);
    dev32 = NULL;
  } else {
    e = cudaStreamSynchronize(p->stream);
    if (e != cudaSuccess)
      goto fail;
    w->data = dev32;
  }
  cu_note_memory(p);
  return w;

fail:
  cu_fail(be, e, "weight upload");
fail_recorded:
  if (dev32)
    cudaFree(dev32);
  if (w->aux)
    cudaFree(w->aux);
  free(w);
  return NULL;
}

static void cu_weight_free(hart_backend *be, hart_bw *w)
{
  if (w == NULL)
    return;
  if (w->data)
    cudaFree(w->data);
  if (w->aux)
    cudaFree(w->aux);
  free(w);
}

static void cu_destroy(hart_backend *be)
{
  cu_priv *p;
  if (be == NULL)
    return;
  p = cu_p(be);
  if (p) {
    if (p->capturing) {
      cudaGraph_t g = NULL;
      if (cudaStreamEndCapture(p->stream, &g) == cudaSuccess && g)
        cudaGraphDestroy(g);
      p->capturing = 0;
    }
    cu_graphs_drop(p);
    cudaStreamSynchronize(p->stream);
    cu_scratch_free(&p->half_a);
    cu_scratch_free(&p->half_b);
    cu_scratch_free(&p->half_c);
    cu_scratch_free(&p->work);
    if (p->blas_ws)
      cudaFree(p->blas_ws);
    if (p->blas)
      cublasDestroy(p->blas);
    if (p->stream)
      cudaStreamDestroy(p->stream);
    if (p->flag)
      cudaFreeHost(p->flag);
    free(p);
  }
  free(be);
}

static const hart_backend_ops cu_ops = {
  .destroy = cu_destroy,
  .alloc = cu_alloc,
  .free = cu_free,
  .upload = cu_upload,
  .download = cu_download,
  .copy = cu_copy,
  .fill = cu_fill,
  .sync = cu_sync,
  .weight_new = cu_weight_new,
  .weight_free = cu_weight_free,
  .linear = cu_linear,
  .matmul_w = cu_matmul_w,
  .embed_rows = cu_embed_rows,
  .rmsnorm = cu_rmsnorm,
  .layernorm = cu_layernorm,
  .groupnorm = cu_groupnorm,
  .silu = cu_silu,
  .silu_mul = cu_silu_mul,
  .axpby = cu_axpby,
  .add_row = cu_add_row,
  .modulate = cu_modulate,
  .gated_add = cu_gated_add,
  .pool_max = cu_pool_max,
  .pool_mean_masked = cu_pool_mean_masked,
  .transpose = cu_transpose,
  .kv_cache_new = cu_kv_cache_new,
  .kv_cache_free = cu_kv_cache_free,
  .kv_cache_read = cu_kv_cache_read,
  .rope_append = cu_rope_append,
  .attention = cu_attention,
  .sample = cu_sample,
  .ddpm_step = cu_ddpm_step,
  .conv2d = cu_conv2d,
  .upsample2x = cu_upsample2x,
  .resize_bicubic = cu_resize_bicubic,
  .resize_area = cu_resize_area,
  .bmm = cu_bmm,
  .softmax_rows = cu_softmax_rows,
  .clamp = cu_clamp,
  .rope_inplace = cu_rope_inplace,
  .attention_causal = cu_attention_causal,
  .mem_stats = cu_mem_stats,
  .graph_launch = cu_graph_launch,
  .graph_begin = cu_graph_begin,
  .graph_end = cu_graph_end,
  .graph_reset = cu_graph_reset,
};

static hart_status create_fail(hart_error *err, hart_status code, cudaError_t e, const char *what)
{
  (void)cudaGetLastError();
  return hart_fail(err, code, "CUDA backend: %s: %s (%s)", what, cudaGetErrorString(e),
                   cudaGetErrorName(e));
}

extern "C" int hart_cuda_backend_abi(void)
{
  return HART_BACKEND_ABI;
}

extern "C" hart_status hart_cuda_backend_create(int device, hart_error *err, hart_backend **out)
{
  hart_backend *be = NULL;
  cu_priv *p = NULL;
  cudaDeviceProp prop;
  int count = 0, drv = 0, rt = 0;
  cudaError_t e;
  cublasStatus_t bs;
  size_t fr = 0, tot = 0;

  *out = NULL;
  e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    /* No driver, a driver too old for this runtime, or no device: nothing to run on. */
    hart_status code =
        (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver ||
         e == cudaErrorInitializationError || e == cudaErrorNotSupported ||
         e == cudaErrorSystemDriverMismatch || e == cudaErrorCompatNotSupportedOnDevice)
            ? HART_ERR_UNSUPPORTED
            : HART_ERR_DEVICE;
    return create_fail(err, code, e, "no usable GPU (cudaGetDeviceCount)");
  }
  if (count == 0)
    return hart_fail(err, HART_ERR_UNSUPPORTED, "CUDA backend: no GPU found");
  if (device < 0 || device >= count)
    return hart_fail(err, HART_ERR_INVALID_ARGUMENT, "CUDA backend: device %d of %d does not exist",
                     device, count);
  e = cudaSetDevice(device);
  if (e != cudaSuccess)
    return create_fail(err, HART_ERR_DEVICE, e, "cudaSetDevice");
  e = cudaGetDeviceProperties(&prop, device);
  if (e != cudaSuccess)
    return create_fail(err, HART_ERR_DEVICE, e, "cudaGetDeviceProperties");
  if (prop.major < 8)
    return hart_fail(err, HART_ERR_UNSUPPORTED,
                     "CUDA backend: %s has compute capability %d.%d; 8.0 or newer is needed",
                     prop.name, prop.major, prop.minor);

  be = (hart_backend *)calloc(1, sizeof *be);
  p = (cu_priv *)calloc(1, sizeof *p);
  if (be == NULL || p == NULL) {
    free(be);
    free(p);
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory");
  }
  be->priv = p;
  be->ops = &cu_ops;
  be->err = err;
  be->n_threads = 1;
  snprintf(be->name, sizeof be->name, "cuda");
  cudaDriverGetVersion(&drv);
  cudaRuntimeGetVersion(&rt);
  snprintf(be->device, sizeof be->device, "%.60s (sm_%d%d, %.1f GiB, driver %d.%d, runtime %d.%d)",
           prop.name, prop.major, prop.minor, prop.totalGlobalMem / 1073741824.0, drv / 1000,
           (drv % 1000) / 10, rt / 1000, (rt % 1000) / 10);
  p->device = device;
  p->sm_count = prop.multiProcessorCount;
  p->smem_optin = prop.sharedMemPerBlockOptin;

  e = cudaStreamCreateWithFlags(&p->stream, cudaStreamNonBlocking);
  if (e != cudaSuccess)
    goto fail;
  e = cudaMallocHost((void **)&p->flag, sizeof(int));
  if (e != cudaSuccess)
    goto fail;
  *p->flag = 0;
  bs = cublasCreate(&p->blas);
  if (bs != CUBLAS_STATUS_SUCCESS) {
    p->blas = NULL;
    hart_fail(err, bs == CUBLAS_STATUS_ALLOC_FAILED ? HART_ERR_DEVICE_MEMORY : HART_ERR_DEVICE,
              "CUDA backend: cublasCreate failed: %s", cublasGetStatusString(bs));
    cu_destroy(be);
    return err ? err->code : HART_ERR_DEVICE;
  }
  p->blas_ws_bytes = 32u << 20;
  e = cudaMalloc(&p->blas_ws, p->blas_ws_bytes);
  if (e != cudaSuccess)
    goto fail;
  if (cublasSetStream(p->blas, p->stream) != CUBLAS_STATUS_SUCCESS ||
      cublasSetWorkspace(p->blas, p->blas_ws, p->blas_ws_bytes) != CUBLAS_STATUS_SUCCESS) {
    hart_fail(err, HART_ERR_DEVICE, "CUDA backend: cublasSetStream/Workspace failed");
    cu_destroy(be);
    return HART_ERR_DEVICE;
  }
  /* fp32 products (the rare non-fp16 path) stay true fp32: no TF32 behind the caller's back. */
  cublasSetMathMode(p->blas, CUBLAS_DEFAULT_MATH);
  if (cudaMemGetInfo(&fr, &tot) == cudaSuccess) {
    p->mem_total = tot;
    p->mem_base = tot - fr;
    p->mem_peak = tot - fr;
  }
  *out = be;
  return HART_OK;

fail:
  create_fail(err, e == cudaErrorMemoryAllocation ? HART_ERR_DEVICE_MEMORY : HART_ERR_DEVICE, e,
              "initialisation");
  cu_destroy(be);
  return err ? err->code : HART_ERR_DEVICE;
}
