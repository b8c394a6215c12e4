/* hs-png-meta.h: generation settings inside PNG files.
 *
 * Hart Studio writes two text chunks into every PNG it makes (ux.md §3):
 *   - tEXt "parameters": the A1111 "infotext" (prompt line(s), then "Steps: 8, Sampler: HART,
 *     CFG scale: 4.5, Seed: N, Size: WxH, Model: ...") that A1111/Civitai readers understand;
 *   - iTXt "hart_metadata": a JSON object with every setting and the model identity.
 * Reading accepts either (the JSON chunk wins), so a PNG made by Hart Studio or by an app that
 * writes A1111 "parameters" can restore its prompt and settings. Reading is bounded: files from
 * the outside are hostile until proven otherwise.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define HS_PNG_META_JSON_KEY "hart_metadata"
#define HS_PNG_META_A1111_KEY "parameters"
/* Limits for reading: a text chunk longer than this is refused (libpng's chunk allocation
 * limit), and so is a prompt longer than HS_PNG_META_MAX_PROMPT bytes. */
#define HS_PNG_META_MAX_CHUNK (256 * 1024)
#define HS_PNG_META_MAX_PROMPT (64 * 1024)
#define HS_PNG_META_MAX_SIDE 16384

#define HS_PNG_META_ERROR (hs_png_meta_error_quark())
GQuark hs_png_meta_error_quark(void);

typedef enum {
  HS_PNG_META_ERROR_IO,        /* the file could not be read or written */
  HS_PNG_META_ERROR_NOT_PNG,   /* not a PNG, or a damaged one */
  HS_PNG_META_ERROR_TOO_LARGE, /* a chunk, the image or the prompt exceeds a limit */
  HS_PNG_META_ERROR_NO_DATA,   /* a valid PNG without generation settings */
  HS_PNG_META_ERROR_INVALID,   /* settings present but malformed (bad JSON, bad UTF-8, ...) */
} HsPngMetaError;

typedef enum {
  HS_PNG_META_SOURCE_NONE = 0,
  HS_PNG_META_SOURCE_HART = 1,  /* the hart_metadata JSON chunk */
  HS_PNG_META_SOURCE_A1111 = 2, /* only the A1111 parameters chunk */
} HsPngMetaSource;

/* Settings of one generation. Strings are owned (g_free); NULL when unknown. */
typedef struct {
  HsPngMetaSource source;
  char *prompt;
  guint64 seed;
  gboolean has_seed;
  double cfg;
  gboolean has_cfg;
  gboolean smooth;
  gboolean use_system_prompt;
  int width;
  int height;
  char *model_name;
  char *model_revision;
  char *model_hash;
  char *engine_version;
  char *backend;
  char *device;
  /* Wall times in seconds (0 when unknown). */
  double t_text, t_transformer, t_diffusion, t_decode, t_total;
  gint64 created_us; /* unix time in microseconds, 0 when unknown */
} HsGenParams;

#define HS_TYPE_GEN_PARAMS (hs_gen_params_get_type())
GType hs_gen_params_get_type(void) G_GNUC_CONST;

/* Defaults of the engine: cfg 4.5, smooth and system prompt on. */
HsGenParams *hs_gen_params_new(void);
HsGenParams *hs_gen_params_copy(const HsGenParams *params);
void hs_gen_params_free(HsGenParams *params);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HsGenParams, hs_gen_params_free)

/* The A1111 infotext for params (newly allocated). */
char *hs_gen_params_to_a1111(const HsGenParams *params);
/* The JSON text of the hart_metadata chunk (newly allocated). */
char *hs_gen_params_to_json(const HsGenParams *params);

/* Parses the two formats; bounded and strict about types. FALSE + error on bad input. */
gboolean hs_gen_params_parse_json(const char *json, gsize len, HsGenParams *params, GError **error);
gboolean hs_gen_params_parse_a1111(const char *text, gsize len, HsGenParams *params,
                                   GError **error);

/* Encodes RGB8 pixels (stride = 3 * width) as PNG bytes with both metadata chunks (params may be
 * NULL: no metadata). */
GBytes *hs_png_meta_encode(const guint8 *rgb, int width, int height, const HsGenParams *params,
                           GError **error);

/* Reads the settings of a PNG file. Only the chunks before the image data are read. */
gboolean hs_png_meta_read(const char *path, HsGenParams **params, GError **error);
/* The same for PNG bytes in memory (a drop from another app, a clipboard). */
gboolean hs_png_meta_read_bytes(GBytes *png, HsGenParams **params, GError **error);

G_END_DECLS
