/* replay.c: golden case + recorded run -> replay inputs (see replay.h). */
#include "replay.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *get_any(const hart_tensor_set *set, const char *name, int as_i64, int64_t *numel,
                     hart_error *err)
{
  const hart_tensor *t = hart_tensor_set_get(set, name);
  void *buf;
  int64_t n;
  if (t == NULL) {
    hart_fail(err, HART_ERR_FORMAT, "recorded run: tensor %s missing", name);
    return NULL;
  }
  n = hart_tensor_numel(t);
  buf = malloc((size_t)(n > 0 ? n : 1) * 8);
  if (buf == NULL) {
    hart_fail(err, HART_ERR_NO_MEMORY, "out of memory reading %s", name);
    return NULL;
  }
  if ((as_i64 ? hart_tensor_to_i64(t, buf, err) : hart_tensor_to_f32(t, buf, err)) != HART_OK) {
    free(buf);
    return NULL;
  }
  if (numel)
    *numel = n;
  return buf;
}

static hart_status read_json(const char *path, JsonParser **parser, JsonObject **root,
                             hart_error *err)
{
  GError *gerr = NULL;
  JsonNode *node;
  *parser = json_parser_new();
  if (!json_parser_load_from_file(*parser, path, &gerr)) {
    hart_status st = hart_fail(err, HART_ERR_IO, "%s: %s", path, gerr->message);
    g_error_free(gerr);
    return st;
  }
  node = json_parser_get_root(*parser);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
    return hart_fail(err, HART_ERR_FORMAT, "%s: not a JSON object", path);
  *root = json_node_get_object(node);
  return HART_OK;
}

#define NEED(ptr)                                                                                  \
  do {                                                                                             \
    if ((ptr) == NULL) {                                                                           \
      st = err->code ? err->code : HART_ERR_FORMAT;                                                \
      goto out;                                                                                    \
    }                                                                                              \
  } while (0)

hart_status hart_replay_case_load(const char *case_dir, const char *run, int teacher,
                                  hart_replay_case **out, hart_error *err)
{
  hart_replay_case *rc = calloc(1, sizeof *rc);
  JsonParser *pc = NULL, *pr = NULL;
  JsonObject *jcase = NULL, *jrun = NULL, *scales;
  hart_tensor_set *inputs = NULL;
  char *p = NULL, name[96];
  hart_status st = HART_OK;

  *out = NULL;
  if (rc == NULL)
    return hart_fail(err, HART_ERR_NO_MEMORY, "out of memory");
  rc->smooth = g_str_has_suffix(run, "smooth1");
  p = g_build_filename(case_dir, "case.json", NULL);
  st = read_json(p, &pc, &jcase, err);
  g_free(p);
  if (st != HART_OK)
    goto out;
  rc->B = json_object_get_int_member_with_default(jcase, "B", 0);
  rc->cfg = (float)json_object_get_double_member_with_default(jcase, "cfg", 4.5);
  p = g_strdup_printf("%s/%s.json", case_dir, run);
  st = read_json(p, &pr, &jrun, err);
  g_free(p);
  if (st != HART_OK)
    goto out;
  scales = json_object_get_object_member(jrun, "scales");
  if (scales == NULL || rc->B < 1) {
    st = hart_fail(err, HART_ERR_FORMAT, "%s/%s.json: no scales (or case.json: no B)", case_dir,
                   run);
    goto out;
  }
  rc->n_scales = (int)json_object_get_size(scales);
  if (rc->n_scales < 2 || rc->n_scales > HART_MAX_SCALES) {
    st = hart_fail(err, HART_ERR_FORMAT, "%s.json: %d scales", run, rc->n_scales);
    goto out;
  }
  for (int si = 0; si < rc->n_scales - 1; si++) {
    JsonObject *s;
    snprintf(name, sizeof name, "%d", si);
    s = json_object_get_object_member(scales, name);
    if (s == NULL || !json_object_has_member(s, "phi_index")) {
      st = hart_fail(err, HART_ERR_FORMAT, "%s.json: scale %d has no phi_index", run, si);
      goto out;
    }
    rc->phi[si] = (int)json_object_get_int_member(s, "phi_index");
  }

  p = g_build_filename(case_dir, "inputs.safetensors", NULL);
  st = hart_tensor_set_open_safetensors(p, &inputs, err);
  g_free(p);
  if (st != HART_OK)
    goto out;
  NEED(rc->context = get_any(inputs, "context", 0, NULL, err));
  NEED(rc->position_ids = get_any(inputs, "context_position_ids", 1, NULL, err));
  {
    int64_t n = 0, *m64 = get_any(inputs, "context_mask", 1, &n, err);
    NEED(m64);
    rc->context_mask = malloc((size_t)n);
    if (rc->context_mask)
      for (int64_t i = 0; i < n; i++)
        rc->context_mask[i] = m64[i] != 0;
    free(m64);
    NEED(rc->context_mask);
  }

  p = g_strdup_printf("%s/%s.safetensors", case_dir, run);
  st = hart_tensor_set_open_safetensors(p, &rc->run, err);
  g_free(p);
  if (st != HART_OK)
    goto out;
  for (int si = 0; si < rc->n_scales; si++) {
    const hart_tensor *k;
    snprintf(name, sizeof name, "s%02d.idx", si);
    NEED(rc->idx[si] = get_any(rc->run, name, 1, NULL, err));
    snprintf(name, sizeof name, "s%02d.keep_idx", si);
    NEED(rc->keep[si] = get_any(rc->run, name, 1, NULL, err));
    k = hart_tensor_set_get(rc->run, name);
    rc->keep_K[si] = k->shape[k->ndim - 1];
    if (rc->smooth) {
      snprintf(name, sizeof name, "s%02d.gumbel", si);
      NEED(rc->gumbel[si] = get_any(rc->run, name, 0, NULL, err));
    }
    if (teacher && si < rc->n_scales - 1) {
      snprintf(name, sizeof name, "s%02d.fhat", si);
      NEED(rc->tf_fhat[si] = get_any(rc->run, name, 0, NULL, err));
      snprintf(name, sizeof name, "s%02d.next_map", si);
      NEED(rc->tf_next[si] = get_any(rc->run, name, 0, NULL, err));
    }
  }
  if (teacher) {
    snprintf(name, sizeof name, "s%02d.h_tokens", rc->n_scales - 1);
    NEED(rc->tf_h_tokens = get_any(rc->run, name, 0, NULL, err));
  }
  NEED(rc->noise0 = get_any(rc->run, "diff.noise0", 0, NULL, err));
  for (rc->n_steps = 0; rc->n_steps < 64; rc->n_steps++) {
    snprintf(name, sizeof name, "diff.step%d.noise", rc->n_steps);
    if (hart_tensor_set_get(rc->run, name) == NULL)
      break;
    NEED(rc->step_noise[rc->n_steps] = get_any(rc->run, name, 0, NULL, err));
  }
  rc->rp.idx = (const int64_t *const *)rc->idx;
  rc->rp.keep = (const int64_t *const *)rc->keep;
  rc->rp.keep_K = rc->keep_K;
  rc->rp.gumbel = rc->smooth ? (const float *const *)rc->gumbel : NULL;
  rc->rp.phi_index = rc->phi;
  rc->rp.noise0 = rc->noise0;
  rc->rp.step_noise = (const float *const *)rc->step_noise;
  if (teacher) {
    rc->rp.tf_fhat = (const float *const *)rc->tf_fhat;
    rc->rp.tf_next = (const float *const *)rc->tf_next;
    rc->rp.tf_h_tokens = rc->tf_h_tokens;
  }
out:
  if (pc)
    g_object_unref(pc);
  if (pr)
    g_object_unref(pr);
  hart_tensor_set_free(inputs);
  if (st != HART_OK) {
    hart_replay_case_free(rc);
    return st;
  }
  *out = rc;
  return HART_OK;
}

void hart_replay_case_free(hart_replay_case *rc)
{
  if (rc == NULL)
    return;
  free(rc->context);
  free(rc->context_mask);
  free(rc->position_ids);
  for (int i = 0; i < HART_MAX_SCALES; i++) {
    free(rc->idx[i]);
    free(rc->keep[i]);
    free(rc->gumbel[i]);
    free(rc->tf_fhat[i]);
    free(rc->tf_next[i]);
  }
  free(rc->tf_h_tokens);
  free(rc->noise0);
  for (int i = 0; i < 64; i++)
    free(rc->step_noise[i]);
  hart_tensor_set_free(rc->run);
  free(rc);
}
