/* test-malformed.c: corrupt model files, generated here into a temporary folder, each end in
 * the expected status and a message naming the file (and the tensor, key or record). A valid
 * file of each kind is checked first so that every corruption is a single change. */
#include "test-util.h"

#include <glib/gstdio.h>
#include <string.h>

#include "config.h"
#include "malformed-gen.h"
#include "model_files.h"
#include "torch_zip.h"

typedef enum {
  OPEN_FILE, /* hart_tensor_set_open_file on the written file */
  OPEN_DIR,  /* hart_tensor_set_open_dir on the folder */
  OPEN_LLM_CFG,
  OPEN_VAE_CFG,
  OPEN_QWEN2_CFG,
} open_kind;

typedef struct {
  const char *name;
  const char *file; /* written under the case's folder */
  GByteArray *(*gen)(const char *dir);
  open_kind open;
  hart_status want;
  const char *needle; /* besides the file name */
} mcase;

static char *tmp_root;

static GByteArray *bytes(const char *s)
{
  GByteArray *b = g_byte_array_new();
  g_byte_array_append(b, (const guint8 *)s, (guint)strlen(s));
  return b;
}

/* ---- safetensors ---- */

static const guint8 data16[16] = { 0 };

#define ST1(shape, offs) "{\"a\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":" offs "}}"

static GByteArray *st_short(const char *d)
{
  return bytes("\x05\0\0\0");
}
static GByteArray *st_hlen_past_eof(const char *d)
{
  GByteArray *b = mg_safetensors(ST1("[4]", "[0,16]"), data16, 16);
  mg_put32(b, 0, 4096);
  return b;
}
static GByteArray *st_hlen_huge(const char *d)
{
  GByteArray *b = mg_safetensors(ST1("[4]", "[0,16]"), data16, 16);
  mg_put32(b, 0, 0);
  mg_put32(b, 4, 0x100); /* 2^40 */
  return b;
}
static GByteArray *st_truncated(const char *d)
{
  return mg_safetensors(ST1("[4]", "[0,16]"), data16, 10);
}
static GByteArray *st_overlap(const char *d)
{
  return mg_safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                        data16, 12);
}
static GByteArray *st_hole(const char *d)
{
  return mg_safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}",
                        data16, 16);
}
static GByteArray *st_reversed(const char *d)
{
  return mg_safetensors(ST1("[0]", "[16,0]"), data16, 16);
}
static GByteArray *st_trailing(const char *d)
{
  return mg_safetensors(ST1("[3]", "[0,12]"), data16, 16);
}
static GByteArray *st_mismatch(const char *d)
{
  return mg_safetensors(ST1("[2,3]", "[0,16]"), data16, 16);
}
static GByteArray *st_unknown_dtype(const char *d)
{
  return mg_safetensors("{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}",
                        data16, 16);
}
static GByteArray *st_numel_overflow(const char *d)
{
  return mg_safetensors(ST1("[4294967296,4294967296,16]", "[0,16]"), data16, 16);
}
static GByteArray *st_bytes_overflow(const char *d)
{
  return mg_safetensors(ST1("[4611686018427387904]", "[0,16]"), data16, 16);
}
static GByteArray *st_not_utf8(const char *d)
{
  return mg_safetensors("{\"\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                        data16, 16);
}
static GByteArray *st_array(const char *d)
{
  return mg_safetensors("[1, 2, 3]", data16, 0);
}
static GByteArray *st_duplicate(const char *d)
{
  return mg_safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                        data16, 16);
}
static GByteArray *st_nan(const char *d)
{
  return mg_safetensors(ST1("[NaN]", "[0,16]"), data16, 16);
}
static GByteArray *st_extra_field(const char *d)
{
  return mg_safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16],"
                        "\"note\":1}}",
                        data16, 16);
}
static GByteArray *st_bool2(const char *d)
{
  static const guint8 v[4] = { 0, 1, 2, 1 };
  return mg_safetensors("{\"m\":{\"dtype\":\"BOOL\",\"shape\":[4],\"data_offsets\":[0,4]}}", v, 4);
}
static GByteArray *st_bad_metadata(const char *d)
{
  return mg_safetensors("{\"__metadata__\":{\"format\":5},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                        data16, 16);
}
static GByteArray *st_garbage_after(const char *d)
{
  return mg_safetensors(ST1("[4]", "[0,16]") " {}", data16, 16);
}
static GByteArray *st_negative_shape(const char *d)
{
  return mg_safetensors(ST1("[-4]", "[0,16]"), data16, 16);
}
static GByteArray *st_too_many_dims(const char *d)
{
  return mg_safetensors(ST1("[1,1,1,1,1,1,1,1,4]", "[0,16]"), data16, 16);
}

/* ---- torch.save zip ---- */

static GByteArray *zip_with(const mg_tensor *t, size_t nt, const void *storage, size_t slen,
                            const char *prefix, uint16_t method)
{
  GByteArray *pkl = mg_pickle(t, nt), *z;
  char *n1 = g_strconcat(prefix, "data.pkl", NULL), *n2 = g_strconcat(prefix, "data/0", NULL);
  mg_zip_entry e[2] = { { n1, pkl->data, pkl->len, 0 }, { n2, storage, slen, method } };
  mg_zip_layout lay;
  z = mg_zip(e, 2, &lay);
  g_byte_array_unref(pkl);
  g_free(n1);
  g_free(n2);
  return z;
}

static const mg_tensor w22 = { "w", "FloatStorage", "0", 4, 0, 2, { 2, 2 }, { 2, 1 } };

static GByteArray *zip_no_pickle(const char *d)
{
  mg_zip_entry e[1] = { { "ck/data/0", data16, 16, 0 } };
  mg_zip_layout lay;
  return mg_zip(e, 1, &lay);
}
static GByteArray *zip_two_folders(const char *d)
{
  GByteArray *pkl = mg_pickle(&w22, 1), *z;
  mg_zip_entry e[3] = { { "ck/data.pkl", pkl->data, pkl->len, 0 },
                        { "ck/data/0", data16, 16, 0 },
                        { "other/evil", "x", 1, 0 } };
  mg_zip_layout lay;
  z = mg_zip(e, 3, &lay);
  g_byte_array_unref(pkl);
  return z;
}
static GByteArray *zip_compressed(const char *d)
{
  return zip_with(&w22, 1, data16, 16, "ck/", 8);
}
static GByteArray *zip_huge_size(const char *d)
{
  GByteArray *pkl = mg_pickle(&w22, 1), *z;
  mg_zip_entry e[2] = { { "ck/data.pkl", pkl->data, pkl->len, 0 }, { "ck/data/0", data16, 16, 0 } };
  mg_zip_layout lay;
  z = mg_zip(e, 2, &lay);
  mg_put32(z, lay.central[1] + 20, 0x7fffffffu);
  mg_put32(z, lay.central[1] + 24, 0x7fffffffu);
  g_byte_array_unref(pkl);
  return z;
}
static GByteArray *zip_no_eocd(const char *d)
{
  GByteArray *z = mg_torch_zip_valid();
  g_byte_array_set_size(z, z->len - 10);
  return z;
}
static GByteArray *zip_cd_out_of_bounds(const char *d)
{
  GByteArray *pkl = mg_pickle(&w22, 1), *z;
  mg_zip_entry e[2] = { { "ck/data.pkl", pkl->data, pkl->len, 0 }, { "ck/data/0", data16, 16, 0 } };
  mg_zip_layout lay;
  z = mg_zip(e, 2, &lay);
  mg_put32(z, lay.eocd + 16, 0x7ffffff0u);
  g_byte_array_unref(pkl);
  return z;
}
static GByteArray *zip_overlap(const char *d)
{
  GByteArray *pkl = mg_pickle(&w22, 1), *z;
  mg_zip_entry e[2] = { { "ck/data.pkl", pkl->data, pkl->len, 0 }, { "ck/data/0", data16, 16, 0 } };
  mg_zip_layout lay;
  z = mg_zip(e, 2, &lay);
  /* The pickle's declared size runs into the next entry's local header. */
  mg_put32(z, lay.central[0] + 20, (uint32_t)pkl->len + 64);
  mg_put32(z, lay.central[0] + 24, (uint32_t)pkl->len + 64);
  g_byte_array_unref(pkl);
  return z;
}
static GByteArray *zip_header_mismatch(const char *d)
{
  GByteArray *pkl = mg_pickle(&w22, 1), *z;
  mg_zip_entry e[2] = { { "ck/data.pkl", pkl->data, pkl->len, 0 }, { "ck/data/0", data16, 16, 0 } };
  mg_zip_layout lay;
  z = mg_zip(e, 2, &lay);
  /* The storage entry claims to start inside the pickle entry (same local header). */
  mg_put32(z, lay.central[1] + 42, (uint32_t)lay.local[0]);
  g_byte_array_unref(pkl);
  return z;
}
static GByteArray *pkl_forbidden_global(const char *d)
{
  GByteArray *pkl = g_byte_array_new(), *z;
  mg_zip_entry e[1];
  mg_zip_layout lay;
  mg_pk_op(pkl, 0x80);
  mg_pk_op(pkl, 2);
  mg_pk_global(pkl, "os", "system");
  mg_pk_str(pkl, "touch /tmp/pwned");
  mg_pk_op(pkl, 0x85);
  mg_pk_op(pkl, 'R');
  mg_pk_op(pkl, '.');
  e[0] = (mg_zip_entry){ "ck/data.pkl", pkl->data, pkl->len, 0 };
  z = mg_zip(e, 1, &lay);
  g_byte_array_unref(pkl);
  return z;
}
static GByteArray *pkl_unknown_opcode(const char *d)
{
  GByteArray *pkl = g_byte_array_new(), *z;
  mg_zip_entry e[1];
  mg_zip_layout lay;
  mg_pk_op(pkl, 0x80);
  mg_pk_op(pkl, 2);
  mg_pk_op(pkl, '}');
  mg_pk_op(pkl, 'i'); /* INST: instantiates a class by name */
  mg_pk_op(pkl, '.');
  e[0] = (mg_zip_entry){ "ck/data.pkl", pkl->data, pkl->len, 0 };
  z = mg_zip(e, 1, &lay);
  g_byte_array_unref(pkl);
  return z;
}
static GByteArray *pkl_storage_oob(const char *d)
{
  mg_tensor t = w22;
  t.offset = 1; /* the last element would be storage[4] of 4 */
  return zip_with(&t, 1, data16, 16, "ck/", 0);
}
static GByteArray *pkl_stride_overflow(const char *d)
{
  mg_tensor t = w22;
  t.shape[0] = (int64_t)1 << 20;
  t.stride[0] = INT64_MAX;
  return zip_with(&t, 1, data16, 16, "ck/", 0);
}
static GByteArray *pkl_storage_missing(const char *d)
{
  mg_tensor t = w22;
  t.key = "7";
  return zip_with(&t, 1, data16, 16, "ck/", 0);
}
static GByteArray *pkl_storage_size(const char *d)
{
  mg_tensor t = w22;
  t.numel = 1000000; /* the record holds 16 bytes */
  return zip_with(&t, 1, data16, 16, "ck/", 0);
}
static GByteArray *pkl_truncated(const char *d)
{
  GByteArray *pkl = mg_pickle(&w22, 1), *z;
  mg_zip_entry e[2];
  mg_zip_layout lay;
  g_byte_array_set_size(pkl, pkl->len / 2);
  e[0] = (mg_zip_entry){ "ck/data.pkl", pkl->data, pkl->len, 0 };
  e[1] = (mg_zip_entry){ "ck/data/0", data16, 16, 0 };
  z = mg_zip(e, 2, &lay);
  g_byte_array_unref(pkl);
  return z;
}
static GByteArray *pkl_crc(const char *d)
{
  GByteArray *z = mg_torch_zip_valid();
  /* Flip a byte of the pickle's first string ("OrderedDict" -> "OrderedDicu"). */
  guint8 *p = memmem(z->data, z->len, "OrderedDict", 11);
  p[10] ^= 1;
  return z;
}
static GByteArray *pkl_not_dict(const char *d)
{
  GByteArray *pkl = g_byte_array_new(), *z;
  mg_zip_entry e[1];
  mg_zip_layout lay;
  mg_pk_op(pkl, 0x80);
  mg_pk_op(pkl, 2);
  mg_pk_op(pkl, ']');
  mg_pk_op(pkl, '.');
  e[0] = (mg_zip_entry){ "ck/data.pkl", pkl->data, pkl->len, 0 };
  z = mg_zip(e, 1, &lay);
  g_byte_array_unref(pkl);
  return z;
}
static GByteArray *pkl_bool_byte(const char *d)
{
  static const guint8 v[4] = { 1, 0, 7, 1 };
  mg_tensor t = { "mask", "BoolStorage", "0", 4, 0, 1, { 4 }, { 1 } };
  return zip_with(&t, 1, v, 4, "ck/", 0);
}
static GByteArray *pkl_big_endian(const char *d)
{
  GByteArray *pkl = mg_pickle(&w22, 1), *z;
  mg_zip_entry e[3] = { { "ck/data.pkl", pkl->data, pkl->len, 0 },
                        { "ck/data/0", data16, 16, 0 },
                        { "ck/byteorder", "big", 3, 0 } };
  mg_zip_layout lay;
  z = mg_zip(e, 3, &lay);
  g_byte_array_unref(pkl);
  return z;
}
static GByteArray *pkl_duplicate_name(const char *d)
{
  mg_tensor t[2] = { w22, w22 };
  return zip_with(t, 2, data16, 16, "ck/", 0);
}
static GByteArray *legacy_file(const char *d)
{
  /* The start of a legacy torch.save file: PROTO 2, LONG1 magic number. */
  static const guint8 v[] = { 0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                              0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e, 0x80, 0x02 };
  GByteArray *b = g_byte_array_new();
  g_byte_array_append(b, v, sizeof v);
  return b;
}

/* ---- folders: sharded index, configs ---- */

static void write_in(const char *dir, const char *name, GByteArray *b)
{
  char *p = g_build_filename(dir, name, NULL);
  g_assert_true(g_file_set_contents(p, (const char *)b->data, b->len, NULL));
  g_free(p);
  g_byte_array_unref(b);
}

static GByteArray *index_missing_shard(const char *dir)
{
  write_in(dir, "model-00001-of-00002.safetensors",
           mg_safetensors(ST1("[4]", "[0,16]"), data16, 16));
  return bytes("{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", "
               "\"b\": \"model-00002-of-00002.safetensors\"}}");
}
static GByteArray *index_two_shards(const char *dir)
{
  write_in(dir, "s1.safetensors", mg_safetensors(ST1("[4]", "[0,16]"), data16, 16));
  write_in(dir, "s2.safetensors", mg_safetensors(ST1("[4]", "[0,16]"), data16, 16));
  return bytes("{\"weight_map\": {\"a\": \"s1.safetensors\", \"a2\": \"s2.safetensors\"}}");
}
static GByteArray *index_wrong_shard(const char *dir)
{
  write_in(dir, "s1.safetensors", mg_safetensors(ST1("[4]", "[0,16]"), data16, 16));
  write_in(dir, "s2.safetensors",
           mg_safetensors("{\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                          data16, 16));
  return bytes("{\"weight_map\": {\"a\": \"s2.safetensors\", \"b\": \"s1.safetensors\"}}");
}
static GByteArray *index_path_escape(const char *dir)
{
  return bytes("{\"weight_map\": {\"a\": \"/etc/passwd\"}}");
}
static GByteArray *index_not_string(const char *dir)
{
  return bytes("{\"weight_map\": {\"a\": 3}}");
}

static GByteArray *llm_cfg_wrong_type(const char *d)
{
  return bytes("{\"model_type\": \"hart_transformer_t2i\", \"depth\": \"two\"}");
}
static GByteArray *llm_cfg_heads(const char *d)
{
  return bytes("{\"model_type\": \"hart_transformer_t2i\", \"embed_dim\": 64, \"num_heads\": 5, "
               "\"mlp_type\": \"llama\", \"attn_type\": \"llama\", \"use_timestep_embed\": true, "
               "\"use_context_norm\": true}");
}
static GByteArray *llm_cfg_switch(const char *d)
{
  return bytes("{\"model_type\": \"hart_transformer_t2i\", \"mlp_type\": \"llama\", "
               "\"attn_type\": \"gpt2\"}");
}
static GByteArray *llm_cfg_patch_nums(const char *d)
{
  return bytes("{\"model_type\": \"hart_transformer_t2i\", \"patch_nums\": [2, 4], "
               "\"mlp_type\": \"llama\", \"attn_type\": \"llama\", \"use_timestep_embed\": true, "
               "\"use_context_norm\": true}");
}
static GByteArray *llm_cfg_not_object(const char *d)
{
  return bytes("[\"hart_transformer_t2i\"]");
}
static GByteArray *vae_cfg_groups(const char *d)
{
  return bytes("{\"model_type\": \"hart_autoencoder_with_disc\", \"ch\": 48}");
}
static GByteArray *vae_cfg_quantizer(const char *d)
{
  return bytes("{\"model_type\": \"hart_autoencoder_with_disc\", \"quantizer_type\": \"vq\"}");
}
static GByteArray *qwen_cfg_missing(const char *d)
{
  return bytes("{\"model_type\": \"qwen2\", \"hidden_size\": 32, \"num_hidden_layers\": 2, "
               "\"intermediate_size\": 96}");
}
static GByteArray *qwen_cfg_gqa(const char *d)
{
  return bytes("{\"model_type\": \"qwen2\", \"hidden_size\": 32, \"num_hidden_layers\": 2, "
               "\"num_attention_heads\": 4, \"num_key_value_heads\": 3, "
               "\"intermediate_size\": 96}");
}
static GByteArray *qwen_cfg_truncated(const char *d)
{
  return bytes("{\"model_type\": \"qwen2\", \"hidden_size\": 3");
}

static const mcase cases[] = {
  { "st-shorter-than-8", "x.safetensors", st_short, OPEN_FILE, HART_ERR_FORMAT, "shorter than 8" },
  { "st-header-past-eof", "x.safetensors", st_hlen_past_eof, OPEN_FILE, HART_ERR_FORMAT,
    "past the end of the file" },
  { "st-header-over-100mb", "x.safetensors", st_hlen_huge, OPEN_FILE, HART_ERR_FORMAT, "100 MB" },
  { "st-truncated-data", "x.safetensors", st_truncated, OPEN_FILE, HART_ERR_FORMAT,
    "tensor a: data ends past the end" },
  { "st-overlap", "x.safetensors", st_overlap, OPEN_FILE, HART_ERR_FORMAT,
    "tensor b: data overlaps" },
  { "st-hole", "x.safetensors", st_hole, OPEN_FILE, HART_ERR_FORMAT,
    "tensor b: data leaves a hole" },
  { "st-offsets-reversed", "x.safetensors", st_reversed, OPEN_FILE, HART_ERR_FORMAT,
    "tensor a: data_offsets begin > end" },
  { "st-trailing-bytes", "x.safetensors", st_trailing, OPEN_FILE, HART_ERR_FORMAT,
    "4 bytes after the last tensor" },
  { "st-shape-bytes-mismatch", "x.safetensors", st_mismatch, OPEN_FILE, HART_ERR_FORMAT,
    "tensor a: 16 bytes for 6 elements" },
  { "st-unknown-dtype", "x.safetensors", st_unknown_dtype, OPEN_FILE, HART_ERR_FORMAT,
    "tensor a: unknown dtype \"F128\"" },
  { "st-element-count-overflow", "x.safetensors", st_numel_overflow, OPEN_FILE, HART_ERR_FORMAT,
    "tensor a: element count overflows" },
  { "st-byte-size-overflow", "x.safetensors", st_bytes_overflow, OPEN_FILE, HART_ERR_FORMAT,
    "tensor a: byte size overflows" },
  { "st-not-utf8", "x.safetensors", st_not_utf8, OPEN_FILE, HART_ERR_FORMAT, "not valid UTF-8" },
  { "st-not-object", "x.safetensors", st_array, OPEN_FILE, HART_ERR_FORMAT, "not a JSON object" },
  { "st-duplicate-key", "x.safetensors", st_duplicate, OPEN_FILE, HART_ERR_FORMAT,
    "duplicate key \"a\"" },
  { "st-nan-literal", "x.safetensors", st_nan, OPEN_FILE, HART_ERR_FORMAT, "not valid JSON" },
  { "st-extra-entry-field", "x.safetensors", st_extra_field, OPEN_FILE, HART_ERR_FORMAT,
    "tensor a: entry must have exactly" },
  { "st-bool-byte-2", "x.safetensors", st_bool2, OPEN_FILE, HART_ERR_FORMAT,
    "tensor m: BOOL byte 2" },
  { "st-bad-metadata", "x.safetensors", st_bad_metadata, OPEN_FILE, HART_ERR_FORMAT,
    "__metadata__ value of \"format\"" },
  { "st-second-json-value", "x.safetensors", st_garbage_after, OPEN_FILE, HART_ERR_FORMAT,
    "data after its JSON object" },
  { "st-negative-shape", "x.safetensors", st_negative_shape, OPEN_FILE, HART_ERR_FORMAT,
    "tensor a: shape[0] is negative" },
  { "st-too-many-dims", "x.safetensors", st_too_many_dims, OPEN_FILE, HART_ERR_FORMAT,
    "tensor a: more than 8 dimensions" },
  { "zip-no-pickle", "x.bin", zip_no_pickle, OPEN_FILE, HART_ERR_FORMAT, "no <folder>/data.pkl" },
  { "zip-two-folders", "x.bin", zip_two_folders, OPEN_FILE, HART_ERR_FORMAT,
    "zip entry other/evil is outside" },
  { "zip-compressed-entry", "x.bin", zip_compressed, OPEN_FILE, HART_ERR_UNSUPPORTED,
    "zip entry ck/data/0 is compressed" },
  { "zip-huge-declared-size", "x.bin", zip_huge_size, OPEN_FILE, HART_ERR_FORMAT,
    "zip entry ck/data/0 declares 2147483647 bytes" },
  { "zip-no-end-record", "x.bin", zip_no_eocd, OPEN_FILE, HART_ERR_FORMAT,
    "end of central directory not found" },
  { "zip-directory-out-of-bounds", "x.bin", zip_cd_out_of_bounds, OPEN_FILE, HART_ERR_FORMAT,
    "central directory (offset 2147483632" },
  { "zip-overlapping-entries", "x.bin", zip_overlap, OPEN_FILE, HART_ERR_FORMAT,
    "zip entries ck/data.pkl and ck/data/0 overlap" },
  { "zip-local-header-mismatch", "x.bin", zip_header_mismatch, OPEN_FILE, HART_ERR_FORMAT,
    "zip entry ck/data/0: local header does not match" },
  { "pickle-forbidden-global", "x.bin", pkl_forbidden_global, OPEN_FILE, HART_ERR_FORMAT,
    "global os.system is not allowed" },
  { "pickle-unknown-opcode", "x.bin", pkl_unknown_opcode, OPEN_FILE, HART_ERR_FORMAT,
    "opcode 0x69" },
  { "pickle-storage-out-of-bounds", "x.bin", pkl_storage_oob, OPEN_FILE, HART_ERR_FORMAT,
    "tensor w: view (offset 1) reaches element 4 of a storage of 4" },
  { "pickle-stride-overflow", "x.bin", pkl_stride_overflow, OPEN_FILE, HART_ERR_FORMAT,
    "tensor w: strides overflow" },
  { "pickle-storage-missing", "x.bin", pkl_storage_missing, OPEN_FILE, HART_ERR_FORMAT,
    "tensor w: storage record ck/data/7 is missing" },
  { "pickle-storage-size", "x.bin", pkl_storage_size, OPEN_FILE, HART_ERR_FORMAT,
    "tensor w: storage ck/data/0 holds 16 bytes, not 1000000 elements" },
  { "pickle-truncated", "x.bin", pkl_truncated, OPEN_FILE, HART_ERR_FORMAT, "data.pkl" },
  { "pickle-crc-mismatch", "x.bin", pkl_crc, OPEN_FILE, HART_ERR_FORMAT, "CRC mismatch" },
  { "pickle-not-a-dict", "x.bin", pkl_not_dict, OPEN_FILE, HART_ERR_FORMAT,
    "top-level object is not a dict" },
  { "pickle-bool-byte", "x.bin", pkl_bool_byte, OPEN_FILE, HART_ERR_FORMAT,
    "tensor mask: BOOL byte 7" },
  { "pickle-duplicate-name", "x.bin", pkl_duplicate_name, OPEN_FILE, HART_ERR_FORMAT,
    "tensor w appears twice" },
  { "zip-big-endian", "x.bin", pkl_big_endian, OPEN_FILE, HART_ERR_UNSUPPORTED, "little-endian" },
  { "torch-legacy-format", "x.bin", legacy_file, OPEN_FILE, HART_ERR_UNSUPPORTED,
    "legacy torch.save format is not supported" },
  { "index-missing-shard", "model.safetensors.index.json", index_missing_shard, OPEN_DIR,
    HART_ERR_IO, "shard model-00002-of-00002.safetensors is missing" },
  { "index-name-in-two-shards", "model.safetensors.index.json", index_two_shards, OPEN_DIR,
    HART_ERR_FORMAT, "tensor a is in two shards: s1.safetensors and s2.safetensors" },
  { "index-wrong-shard", "model.safetensors.index.json", index_wrong_shard, OPEN_DIR,
    HART_ERR_FORMAT, "but the index maps it to" },
  { "index-path-escape", "model.safetensors.index.json", index_path_escape, OPEN_DIR,
    HART_ERR_FORMAT, "weight_map[\"a\"] = \"/etc/passwd\" is not a file name" },
  { "index-not-string", "model.safetensors.index.json", index_not_string, OPEN_DIR, HART_ERR_FORMAT,
    "weight_map[\"a\"] is not a string" },
  { "llm-config-wrong-type", "config.json", llm_cfg_wrong_type, OPEN_LLM_CFG, HART_ERR_FORMAT,
    "depth must be an integer" },
  { "llm-config-heads", "config.json", llm_cfg_heads, OPEN_LLM_CFG, HART_ERR_UNSUPPORTED,
    "embed_dim = 64 is not a multiple of num_heads = 5" },
  { "llm-config-switch", "config.json", llm_cfg_switch, OPEN_LLM_CFG, HART_ERR_UNSUPPORTED,
    "attn_type = \"gpt2\" is not supported" },
  { "llm-config-patch-nums", "config.json", llm_cfg_patch_nums, OPEN_LLM_CFG, HART_ERR_UNSUPPORTED,
    "patch_nums[0] = 2" },
  { "llm-config-not-object", "config.json", llm_cfg_not_object, OPEN_LLM_CFG, HART_ERR_FORMAT,
    "not a JSON object" },
  { "vae-config-groups", "config.json", vae_cfg_groups, OPEN_VAE_CFG, HART_ERR_UNSUPPORTED,
    "ch * ch_mult[0] = 48" },
  { "vae-config-quantizer", "config.json", vae_cfg_quantizer, OPEN_VAE_CFG, HART_ERR_UNSUPPORTED,
    "quantizer_type = \"vq\"" },
  { "qwen2-config-missing-key", "config.json", qwen_cfg_missing, OPEN_QWEN2_CFG, HART_ERR_FORMAT,
    "num_attention_heads is missing" },
  { "qwen2-config-kv-heads", "config.json", qwen_cfg_gqa, OPEN_QWEN2_CFG, HART_ERR_UNSUPPORTED,
    "num_key_value_heads 3" },
  { "qwen2-config-truncated", "config.json", qwen_cfg_truncated, OPEN_QWEN2_CFG, HART_ERR_FORMAT,
    "config.json" },
};

static hart_status open_case(const mcase *c, const char *dir, const char *path, hart_error *err)
{
  hart_tensor_set *set = NULL;
  hart_llm_config lc;
  hart_vae_config vc;
  hart_qwen2_config qc;
  hart_status st;

  switch (c->open) {
  case OPEN_FILE:
    st = hart_tensor_set_open_file(path, &set, err);
    break;
  case OPEN_DIR:
    st = hart_tensor_set_open_dir(dir, &set, err);
    break;
  case OPEN_LLM_CFG:
    return hart_llm_config_load(path, &lc, err);
  case OPEN_VAE_CFG:
    return hart_vae_config_load(path, &vc, err);
  case OPEN_QWEN2_CFG:
  default:
    return hart_qwen2_config_load(path, &qc, err);
  }
  g_assert_true((st == HART_OK) == (set != NULL));
  hart_tensor_set_free(set);
  return st;
}

static void run_case(gconstpointer data)
{
  const mcase *c = data;
  char *dir = g_build_filename(tmp_root, c->name, NULL);
  char *path = g_build_filename(dir, c->file, NULL);
  hart_error err = { 0 };
  hart_status st;

  g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
  write_in(dir, c->file, c->gen(dir));
  st = open_case(c, dir, path, &err);
  g_test_message("%s -> %s: %s", c->name, hart_status_name(st), err.msg);
  /* The status, and a message naming the file (the index for sharded folders) and what is
   * wrong. Failures are reported without aborting, so one run lists them all. */
  if (st != c->want)
    g_test_fail_printf("%s: status %s, expected %s", c->name, hart_status_name(st),
                       hart_status_name(c->want));
  else if (strstr(err.msg, path) == NULL)
    g_test_fail_printf("message \"%s\" does not name %s", err.msg, path);
  else if (strstr(err.msg, c->needle) == NULL)
    g_test_fail_printf("message \"%s\" lacks \"%s\"", err.msg, c->needle);
  g_free(path);
  g_free(dir);
}

/* The unmodified generators produce files that load: each corruption above is one change. */
static void test_controls(void)
{
  char *dir = g_build_filename(tmp_root, "controls", NULL);
  char *st = g_build_filename(dir, "ok.safetensors", NULL),
       *zp = g_build_filename(dir, "ok.bin", NULL);
  hart_tensor_set *set = NULL;
  hart_error err = { 0 };
  const hart_tensor *t;
  static const guint8 mask[4] = { 0, 1, 1, 0 };
  mg_tensor b = { "mask", "BoolStorage", "0", 4, 0, 1, { 4 }, { 1 } };

  g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
  write_in(dir, "ok.safetensors", mg_safetensors(ST1("[4]", "[0,16]"), data16, 16));
  if (hart_tensor_set_open_file(st, &set, &err) != HART_OK)
    g_error("%s", err.msg);
  hart_tensor_set_free(set);
  write_in(dir, "ok.bin", mg_torch_zip_valid());
  if (hart_tensor_set_open_file(zp, &set, &err) != HART_OK)
    g_error("%s", err.msg);
  t = hart_tensor_set_get(set, "w");
  g_assert_nonnull(t);
  g_assert_cmpint(t->ndim, ==, 2);
  g_assert_cmpfloat(((const float *)t->data)[3], ==, 4.0f);
  hart_tensor_set_free(set);
  write_in(dir, "ok.bin", zip_with(&b, 1, mask, 4, "ck/", 0));
  if (hart_tensor_set_open_file(zp, &set, &err) != HART_OK)
    g_error("%s", err.msg);
  hart_tensor_set_free(set);
  /* ZIP64 records (torch writes them for archives past 4 GiB). */
  write_in(dir, "ok.bin", mg_torch_zip64_valid());
  if (hart_tensor_set_open_file(zp, &set, &err) != HART_OK)
    g_error("%s", err.msg);
  g_assert_cmpfloat(((const float *)hart_tensor_set_get(set, "w")->data)[2], ==, 3.0f);
  hart_tensor_set_free(set);
  /* A header of 640 bytes: its length starts with the bytes of a pickle PROTO 2 opcode. */
  {
    GString *h = g_string_new(ST1("[4]", "[0,16]"));
    while (h->len < 640)
      g_string_append_c(h, ' ');
    write_in(dir, "ok.safetensors", mg_safetensors(h->str, data16, 16));
    g_string_free(h, TRUE);
    if (hart_tensor_set_open_file(st, &set, &err) != HART_OK)
      g_error("%s", err.msg);
    hart_tensor_set_free(set);
  }
  g_free(st);
  g_free(zp);
  g_free(dir);
}

int main(int argc, char **argv)
{
  int r;

  g_test_init(&argc, &argv, NULL);
  tmp_root = g_dir_make_tmp("hart-malformed-XXXXXX", NULL);
  g_assert_nonnull(tmp_root);
  g_assert_cmpuint(G_N_ELEMENTS(cases), >=, 30);
  g_test_add_func("/malformed/controls", test_controls);
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    char *p = g_strdup_printf("/malformed/%s", cases[i].name);
    g_test_add_data_func(p, &cases[i], run_case);
    g_free(p);
  }
  r = g_test_run();
  ht_rm_tree(tmp_root);
  g_free(tmp_root);
  return r;
}
