/* cuda_graph.cu: recorded op sequences (backend.h's graph_* ops) as CUDA graphs.
 *
 * The engine records the transformer blocks of one scale (24 blocks, ~500 launches) the second
 * time it runs them and replays the recording from then on: one graph launch instead of hundreds
 * of kernel and cuBLAS launches, which is most of the time of the small scales. Recordings are
 * keyed by the caller and hold device pointers, so they are dropped whenever a buffer they may use
 * goes away: a scratch buffer that grows (cu_scratch_get), a KV cache that is freed, or the caller
 * saying so (graph_reset, when its buffers are freed). A scratch buffer that must grow while a
 * recording is in progress cannot be freed (that would synchronise the capturing stream): the old
 * block is parked in the graveyard until the recordings go.
 *
 * HART_CUDA_GRAPHS=0 turns recording off (every op then runs as it is issued). */
#include "cuda_common.h"

#include <stdlib.h>
#include <string.h>

static int graphs_enabled(void)
{
  const char *e = getenv("HART_CUDA_GRAPHS");
  return !(e != NULL && strcmp(e, "0") == 0);
}

static void destroy_recordings(cu_priv *p)
{
  for (int i = 0; i < p->n_graphs; i++)
    cudaGraphExecDestroy(p->graphs[i].exec);
  p->n_graphs = 0;
}

/* Drops every recording and frees the parked scratch blocks. Not while recording. */
void cu_graphs_drop(cu_priv *p)
{
  destroy_recordings(p);
  if (p->n_graveyard > 0) {
    cudaStreamSynchronize(p->stream); /* queued replays may still read them */
    for (int i = 0; i < p->n_graveyard; i++)
      cudaFree(p->graveyard[i]);
    p->n_graveyard = 0;
  }
}

hart_status cu_graph_launch(hart_backend *be, uint64_t key, int *launched)
{
  cu_priv *p = cu_p(be);
  *launched = 0;
  if (!graphs_enabled() || p->capturing)
    return HART_OK;
  for (int i = 0; i < p->n_graphs; i++) {
    if (p->graphs[i].key == key) {
      CU_CHECK(be, cudaGraphLaunch(p->graphs[i].exec, p->stream));
      *launched = 1;
      return HART_OK;
    }
  }
  return HART_OK;
}

hart_status cu_graph_begin(hart_backend *be, uint64_t key)
{
  cu_priv *p = cu_p(be);
  if (!graphs_enabled() || p->capturing)
    return HART_OK; /* the ops run as issued; graph_end then has nothing to do */
  /* Relaxed: a scratch buffer may still be allocated while recording (cu_scratch_get). */
  CU_CHECK(be, cudaStreamBeginCapture(p->stream, cudaStreamCaptureModeRelaxed));
  p->capturing = 1;
  p->capture_key = key;
  return HART_OK;
}

hart_status cu_graph_end(hart_backend *be, uint64_t key, int keep)
{
  cu_priv *p = cu_p(be);
  cudaGraph_t graph = NULL;
  cudaGraphExec_t exec = NULL;
  cudaError_t e;

  if (!p->capturing)
    return HART_OK;
  p->capturing = 0;
  e = cudaStreamEndCapture(p->stream, &graph);
  if (e != cudaSuccess || graph == NULL) {
    if (graph)
      cudaGraphDestroy(graph);
    return keep ? cu_fail(be, e != cudaSuccess ? e : cudaErrorStreamCaptureInvalidated,
                          "cudaStreamEndCapture")
                : HART_OK;
  }
  if (!keep || key != p->capture_key) {
    cudaGraphDestroy(graph);
    return keep ? hart_fail(be->err, HART_ERR_INTERNAL, "CUDA graph_end: another key") : HART_OK;
  }
  e = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (e != cudaSuccess)
    return cu_fail(be, e, "cudaGraphInstantiate");
  if (p->n_graphs == CU_MAX_GRAPHS) {
    /* Full (another caller's keys): start over rather than track ages. The parked scratch
     * blocks stay: the recording just made may use them. */
    destroy_recordings(p);
  }
  p->graphs[p->n_graphs].key = key;
  p->graphs[p->n_graphs].exec = exec;
  p->n_graphs++;
  /* The recorded work has not run yet: run it now. */
  CU_CHECK(be, cudaGraphLaunch(exec, p->stream));
  return HART_OK;
}

void cu_graph_reset(hart_backend *be)
{
  cu_priv *p = cu_p(be);
  if (!p->capturing)
    cu_graphs_drop(p);
}
