/* engine.c: the public engine API (open, info, generate, close). */
#include "hart.h"

#include <stdio.h>
#include <string.h>

void hart_open_options_init(hart_open_options *opts)
{
  memset(opts, 0, sizeof *opts);
  opts->backend = HART_BACKEND_AUTO;
}

void hart_request_init(hart_request *req)
{
  memset(req, 0, sizeof *req);
  req->use_system_prompt = 1;
  req->seed = 1;
  req->cfg = 4.5f;
  req->smooth = 1;
  req->preview_mode = HART_PREVIEW_CHEAP;
}

hart_status hart_engine_open(const hart_open_options *opts, hart_engine **out, char *errbuf,
                             size_t errbuf_len)
{
  *out = NULL;
  if (errbuf && errbuf_len)
    snprintf(errbuf, errbuf_len, "engine not implemented yet");
  return HART_ERR_UNSUPPORTED;
}

void hart_engine_close(hart_engine *engine)
{
}

const char *hart_engine_last_error(const hart_engine *engine)
{
  return "";
}

void hart_engine_get_info(const hart_engine *engine, hart_engine_info *info)
{
  memset(info, 0, sizeof *info);
}

hart_status hart_generate(hart_engine *engine, const hart_request *req, hart_image *image)
{
  return HART_ERR_UNSUPPORTED;
}

void hart_image_clear(hart_image *image)
{
}
