/* cmd_inspect.c: `hart inspect DIR`: the resolved configuration, files, tensor and parameter
 * counts and bytes by dtype of a HART folder (llm/ + tokenizer/), a Qwen2 folder, or a single
 * model part folder. Every check of the loader runs, so a folder that inspects cleanly loads. */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "model_part.h"

static const char usage_text[] =
    "Usage: hart inspect [--json] DIR\n"
    "\n"
    "Show what a model folder holds and check it as the engine would load it:\n"
    "the resolved configuration (defaults applied), the files, the weights file\n"
    "chosen, the tensor count, the parameter count and the bytes by dtype.\n"
    "\n"
    "DIR is a HART folder (with llm/ and tokenizer/), a Qwen2 folder, or one\n"
    "model part folder (with a config.json).\n"
    "\n"
    "Options:\n"
    "  --json      print one JSON object instead of text\n"
    "  -h, --help  show this help\n";

static char *int_list(const int *v, int n)
{
  GString *s = g_string_new(NULL);
  for (int i = 0; i < n; i++)
    g_string_append_printf(s, i ? ", %d" : "%d", v[i]);
  return g_string_free(s, FALSE);
}

/* The configuration as (key, value) text pairs, shared by both output formats. */
static GPtrArray *config_pairs(const hart_model_part *p)
{
  GPtrArray *kv = g_ptr_array_new_with_free_func(g_free);
#define KV(k, ...)                                                                                 \
  do {                                                                                             \
    g_ptr_array_add(kv, g_strdup(k));                                                              \
    g_ptr_array_add(kv, g_strdup_printf(__VA_ARGS__));                                             \
  } while (0)
  switch (p->kind) {
  case HART_PART_LLM: {
    const hart_llm_config *c = &p->llm;
    char *pn = int_list(c->patch_nums, c->n_scales);
    KV("embed_dim", "%d", c->embed_dim);
    KV("depth", "%d", c->depth);
    KV("num_heads", "%d", c->num_heads);
    KV("head_dim", "%d", c->head_dim);
    KV("mlp_ratio", "%g", c->mlp_ratio);
    KV("mlp_hidden", "%d", c->mlp_hidden);
    KV("patch_nums", "[%s]", pn);
    KV("context_token", "%d", c->context_token);
    KV("context_dim", "%d", c->context_dim);
    KV("norm_eps", "%g", (double)c->norm_eps);
    KV("diff_width", "%d", c->diff_width);
    KV("diff_depth", "%d", c->diff_depth);
    KV("num_sampling_steps", "%d", c->num_sampling_steps);
    KV("disable_aln", "%s", c->disable_aln ? "true" : "false");
    KV("attn_l2_norm", "%s", c->attn_l2_norm ? "true" : "false");
    KV("vocab_size (from head.weight)", "%lld", (long long)p->stats.vocab_size);
    KV("vae_channels (from word_embed.weight)", "%lld", (long long)p->stats.vae_channels);
    g_free(pn);
    break;
  }
  case HART_PART_VAE: {
    const hart_vae_config *c = &p->vae;
    char *cm = int_list(c->ch_mult, c->n_ch_mult);
    KV("vocab_size", "%d", c->vocab_size);
    KV("z_channels", "%d", c->z_channels);
    KV("ch", "%d", c->ch);
    KV("ch_mult", "[%s]", cm);
    KV("num_res_blocks", "%d", c->num_res_blocks);
    KV("quant_resi", "%g", (double)c->quant_resi);
    KV("share_quant_resi", "%d", c->share_quant_resi);
    g_free(cm);
    break;
  }
  case HART_PART_QWEN2:
  default: {
    const hart_qwen2_config *c = &p->qwen2;
    KV("hidden_size", "%d", c->hidden_size);
    KV("num_hidden_layers", "%d", c->num_layers);
    KV("num_attention_heads", "%d", c->num_heads);
    KV("num_key_value_heads", "%d", c->num_kv_heads);
    KV("head_dim", "%d", c->head_dim);
    KV("intermediate_size", "%d", c->intermediate_size);
    KV("vocab_size", "%d", c->vocab_size);
    KV("rope_theta", "%g", c->rope_theta);
    KV("rms_norm_eps", "%g", (double)c->rms_norm_eps);
    break;
  }
  }
#undef KV
  return kv;
}

/* Regular files of the folder, sorted, as (name, size). */
static int cmp_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static GPtrArray *list_files(const char *dir)
{
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  GDir *d = g_dir_open(dir, 0, NULL);
  const char *n;
  while (d != NULL && (n = g_dir_read_name(d)) != NULL)
    g_ptr_array_add(names, g_strdup(n));
  if (d != NULL)
    g_dir_close(d);
  g_ptr_array_sort(names, cmp_names);
  return names;
}

static gint64 file_size(const char *dir, const char *name)
{
  char *p = g_build_filename(dir, name, NULL);
  GStatBuf sb;
  gint64 r = g_stat(p, &sb) == 0 && S_ISREG(sb.st_mode) ? (gint64)sb.st_size : -1;
  g_free(p);
  return r;
}

static void print_text(const hart_model_part *p, const char *label)
{
  GPtrArray *kv = config_pairs(p), *files = list_files(p->dir);
  const hart_manifest_stats *s = &p->stats;

  printf("%s: %s (%s)\n", label, p->dir, hart_part_kind_name(p->kind));
  printf("  configuration (%s, defaults applied):\n", p->config_path);
  for (guint i = 0; i < kv->len; i += 2)
    printf("    %-38s %s\n", (char *)kv->pdata[i], (char *)kv->pdata[i + 1]);
  printf("  files:\n");
  for (guint i = 0; i < files->len; i++) {
    gint64 sz = file_size(p->dir, files->pdata[i]);
    if (sz >= 0)
      printf("    %-38s %" G_GINT64_FORMAT " bytes\n", (char *)files->pdata[i], sz);
    else
      printf("    %s/\n", (char *)files->pdata[i]);
  }
  printf("  weights: %s\n", p->weights_path);
  printf("  tensors: %zu (%zu used by the engine, %zu ignored)\n", s->n_tensors, s->n_expected,
         s->n_ignored);
  printf("  parameters: %" G_GINT64_FORMAT " (used), %" G_GINT64_FORMAT " elements in all\n",
         (gint64)s->n_params, (gint64)s->n_elements);
  printf("  bytes by dtype:");
  for (int d = 0; d < HART_DT_COUNT; d++)
    if (s->elements_by_dtype[d] > 0 || s->bytes_by_dtype[d] > 0)
      printf(" %s %" G_GUINT64_FORMAT " (%" G_GINT64_FORMAT " elements);",
             hart_dtype_name((hart_dtype)d), (guint64)s->bytes_by_dtype[d],
             (gint64)s->elements_by_dtype[d]);
  printf(" total %" G_GUINT64_FORMAT "\n", (guint64)s->n_bytes);
  g_ptr_array_unref(files);
  g_ptr_array_unref(kv);
}

static void build_json(JsonBuilder *b, const hart_model_part *p)
{
  GPtrArray *kv = config_pairs(p), *files = list_files(p->dir);
  const hart_manifest_stats *s = &p->stats;

  json_builder_begin_object(b);
  json_builder_set_member_name(b, "kind");
  json_builder_add_string_value(b, hart_part_kind_name(p->kind));
  json_builder_set_member_name(b, "dir");
  json_builder_add_string_value(b, p->dir);
  json_builder_set_member_name(b, "config");
  json_builder_begin_object(b);
  for (guint i = 0; i < kv->len; i += 2) {
    /* Numbers, booleans and lists as JSON values; anything else as a string. */
    JsonNode *v = json_from_string(kv->pdata[i + 1], NULL);
    json_builder_set_member_name(b, kv->pdata[i]);
    if (v != NULL)
      json_builder_add_value(b, v);
    else
      json_builder_add_string_value(b, kv->pdata[i + 1]);
  }
  json_builder_end_object(b);
  json_builder_set_member_name(b, "files");
  json_builder_begin_object(b);
  for (guint i = 0; i < files->len; i++) {
    json_builder_set_member_name(b, files->pdata[i]);
    json_builder_add_int_value(b, file_size(p->dir, files->pdata[i]));
  }
  json_builder_end_object(b);
  json_builder_set_member_name(b, "weights");
  json_builder_add_string_value(b, p->weights_path);
  json_builder_set_member_name(b, "tensors");
  json_builder_add_int_value(b, (gint64)s->n_tensors);
  json_builder_set_member_name(b, "tensors_used");
  json_builder_add_int_value(b, (gint64)s->n_expected);
  json_builder_set_member_name(b, "tensors_ignored");
  json_builder_add_int_value(b, (gint64)s->n_ignored);
  json_builder_set_member_name(b, "parameters");
  json_builder_add_int_value(b, s->n_params);
  json_builder_set_member_name(b, "elements");
  json_builder_add_int_value(b, s->n_elements);
  json_builder_set_member_name(b, "bytes");
  json_builder_add_int_value(b, (gint64)s->n_bytes);
  json_builder_set_member_name(b, "bytes_by_dtype");
  json_builder_begin_object(b);
  for (int d = 0; d < HART_DT_COUNT; d++)
    if (s->elements_by_dtype[d] > 0 || s->bytes_by_dtype[d] > 0) {
      json_builder_set_member_name(b, hart_dtype_name((hart_dtype)d));
      json_builder_add_int_value(b, (gint64)s->bytes_by_dtype[d]);
    }
  json_builder_end_object(b);
  json_builder_end_object(b);
  g_ptr_array_unref(files);
  g_ptr_array_unref(kv);
}

/* Opens the parts of dir: llm + tokenizer for a HART folder, else the folder itself. */
static hart_status open_parts(const char *dir, hart_model_part *parts, const char **labels, int *n,
                              hart_error *err)
{
  hart_status st;
  hart_part_kind kind;

  *n = 0;
  if (hart_is_hart_folder(dir)) {
    char *llm = g_build_filename(dir, "llm", NULL), *tok = g_build_filename(dir, "tokenizer", NULL);
    st = hart_model_part_open(llm, HART_PART_LLM, &parts[0], err);
    if (st == HART_OK) {
      *n = 1;
      st = hart_model_part_open(tok, HART_PART_VAE, &parts[1], err);
    }
    if (st == HART_OK) {
      *n = 2;
      st = hart_model_check_pair(&parts[0], &parts[1], err);
    }
    labels[0] = "llm";
    labels[1] = "tokenizer";
    g_free(llm);
    g_free(tok);
    return st;
  }
  {
    char *cfg = g_build_filename(dir, "config.json", NULL);
    gboolean has_cfg = g_file_test(cfg, G_FILE_TEST_EXISTS);
    g_free(cfg);
    if (!has_cfg)
      return hart_fail(err, HART_ERR_IO,
                       "%s: neither a HART folder (llm/ and tokenizer/) nor a model folder "
                       "(config.json)",
                       dir);
  }
  st = hart_model_part_detect(dir, &kind, err);
  if (st == HART_OK)
    st = hart_model_part_open(dir, kind, &parts[0], err);
  if (st == HART_OK)
    *n = 1;
  labels[0] = "model";
  return st;
}

int hart_cmd_inspect(int argc, char **argv)
{
  gboolean json = FALSE;
  const char *dir = NULL;
  hart_model_part parts[2];
  const char *labels[2] = { NULL, NULL };
  hart_error err = { 0 };
  hart_status st;
  int n = 0;

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage_text, stdout);
      return 0;
    } else if (strcmp(argv[i], "--json") == 0) {
      json = TRUE;
    } else if (argv[i][0] == '-' || dir != NULL) {
      fprintf(stderr, "hart inspect: unexpected argument '%s'\n\n%s", argv[i], usage_text);
      return 2;
    } else {
      dir = argv[i];
    }
  }
  if (dir == NULL) {
    fputs(usage_text, stderr);
    return 2;
  }
  if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
    fprintf(stderr, "hart inspect: %s: not a folder\n", dir);
    return 1;
  }
  st = open_parts(dir, parts, labels, &n, &err);
  if (st != HART_OK) {
    fprintf(stderr, "hart inspect: %s (%s)\n", err.msg, hart_status_name(st));
    for (int i = 0; i < n; i++)
      hart_model_part_clear(&parts[i]);
    return 1;
  }
  if (json) {
    JsonBuilder *b = json_builder_new();
    JsonGenerator *g = json_generator_new();
    JsonNode *root;
    char *text;
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "folder");
    json_builder_add_string_value(b, dir);
    for (int i = 0; i < n; i++) {
      json_builder_set_member_name(b, labels[i]);
      build_json(b, &parts[i]);
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(g, root);
    json_generator_set_pretty(g, TRUE);
    text = json_generator_to_data(g, NULL);
    printf("%s\n", text);
    g_free(text);
    json_node_unref(root);
    g_object_unref(g);
    g_object_unref(b);
  } else {
    printf("%s: %s\n", n == 2 ? "HART folder" : "model folder", dir);
    for (int i = 0; i < n; i++)
      print_text(&parts[i], labels[i]);
    printf("status: ok (every check of the loader passed)\n");
  }
  for (int i = 0; i < n; i++)
    hart_model_part_clear(&parts[i]);
  return 0;
}
