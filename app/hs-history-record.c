/* hs-history-record.c: see hs-history-record.h. */
#include "hs-history-record.h"

HsGenParams *hs_history_params_from_generation(const HsRequest *request, const HsImage *image,
                                               const hart_engine_info *info, const char *model_dir)
{
  HsGenParams *p = hs_gen_params_new();

  g_return_val_if_fail(request != NULL && image != NULL, p);
  p->source = HS_PNG_META_SOURCE_HART;
  /* A generation from a context tensor has no prompt: keep it searchable as such. */
  p->prompt = g_strdup(request->prompt ? request->prompt : "");
  p->seed = request->seed;
  p->has_seed = TRUE;
  p->cfg = request->cfg;
  p->has_cfg = TRUE;
  p->smooth = request->smooth;
  p->use_system_prompt = request->use_system_prompt;
  p->width = image->width;
  p->height = image->height;
  p->t_text = image->t_text;
  p->t_transformer = image->t_transformer;
  p->t_diffusion = image->t_diffusion;
  p->t_decode = image->t_decode;
  p->t_total = image->t_total;
  p->engine_version = g_strdup(hart_version());
  if (model_dir != NULL)
    p->model_name = g_path_get_basename(model_dir);
  if (info != NULL) {
    if (info->model_id[0] != '\0')
      p->model_hash = g_strndup(info->model_id, sizeof(info->model_id));
    p->backend = g_strdup(info->backend_name);
    p->device = g_strdup(info->device_name);
  }
  return p;
}

void hs_history_record_async(HsHistory *history, const HsRequest *request, const HsImage *image,
                             const hart_engine_info *info, const char *model_dir,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_autoptr(HsGenParams) p = NULL;

  g_return_if_fail(HS_IS_HISTORY(history) && request != NULL && image != NULL);
  p = hs_history_params_from_generation(request, image, info, model_dir);
  hs_history_add_async(history, p, image->rgb, image->width, image->height, cancellable, callback,
                       user_data);
}
