/* hart.h: public API of libhart, the HART text-to-image engine.
 *
 * Plain C11, no GLib types. Every handle is opaque. Functions return a hart_status; on failure the
 * engine keeps a message that hart_engine_last_error() returns (hart_engine_open() writes its
 * message into the caller's buffer because no engine exists yet).
 *
 * Threading: one engine runs one request at a time. hart_cancel_request() may be called from any
 * thread while hart_generate() runs on another; callbacks run on the generating thread.
 */
#ifndef HART_H
#define HART_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HART_API_VERSION 1

typedef enum {
  HART_OK = 0,
  HART_CANCELLED = 1, /* the request was cancelled: not an error */
  HART_ERR_INVALID_ARGUMENT = -1,
  HART_ERR_IO = -2,          /* a file could not be opened, read or written */
  HART_ERR_FORMAT = -3,      /* a file is malformed (names the file, tensor or key) */
  HART_ERR_UNSUPPORTED = -4, /* a valid configuration the engine does not implement */
  HART_ERR_NO_MEMORY = -5,
  HART_ERR_DEVICE = -6,        /* a GPU/driver failure other than memory */
  HART_ERR_DEVICE_MEMORY = -7, /* out of GPU memory: retry on the CPU or a smaller request */
  HART_ERR_INTERNAL = -8,
} hart_status;

/* A short English name for a status ("ok", "cancelled", "format error", ...). */
const char *hart_status_name(hart_status status);

typedef enum {
  HART_BACKEND_AUTO = 0, /* CUDA when a usable GPU and the CUDA module exist, else the CPU */
  HART_BACKEND_CPU = 1,
  HART_BACKEND_CUDA = 2,
} hart_backend_kind;

typedef enum {
  HART_PREVIEW_NONE = 0,
  HART_PREVIEW_CHEAP = 1,   /* linear latent-to-RGB projection, at the latent's resolution */
  HART_PREVIEW_DECODER = 2, /* the VAE decoder at the scale's own resolution */
} hart_preview_mode;

typedef enum {
  HART_STAGE_LOAD = 0,
  HART_STAGE_TEXT = 1,      /* tokenizer + Qwen2 encoder */
  HART_STAGE_SCALE = 2,     /* transformer scale `step` of `n_steps` */
  HART_STAGE_DIFFUSION = 3, /* residual diffusion step `step` of `n_steps` */
  HART_STAGE_DECODE = 4,    /* VAE decoder */
  HART_STAGE_DONE = 5,
} hart_stage;

/* A short English name for a stage ("scale", "diffusion", "decode", ...). */
const char *hart_stage_name(hart_stage stage);

typedef struct hart_engine hart_engine;
typedef struct hart_cancel hart_cancel;

typedef struct {
  const char *model_dir;      /* HART folder holding llm/ and tokenizer/ (required) */
  const char *text_model_dir; /* Qwen2 folder (optional: without it only context tensors work) */
  hart_backend_kind backend;
  int n_threads; /* CPU threads; 0 = all cores */
  int cuda_device;
  /* Free the text encoder's weights after each encoding to keep peak memory low. */
  int release_text_model;
} hart_open_options;

void hart_open_options_init(hart_open_options *opts);

/* Loads and validates a model. On failure *out is NULL and errbuf (if given) holds a message. */
hart_status hart_engine_open(const hart_open_options *opts, hart_engine **out, char *errbuf,
                             size_t errbuf_len);
void hart_engine_close(hart_engine *engine);

/* The message of the last failure on this engine ("" if none). Valid until the next call. */
const char *hart_engine_last_error(const hart_engine *engine);

/* Facts about the loaded model and backend. Strings live as long as the engine. */
typedef struct {
  const char *backend_name; /* "cpu" or "cuda" */
  const char *device_name;  /* GPU name or "CPU (N threads)" */
  const char *backend_note; /* why AUTO chose the CPU, or "" */
  int image_size;           /* output side in pixels */
  int context_tokens;       /* context_token of the config */
  int context_dim;
  int n_scales;
  int n_diffusion_steps;
  int has_text_model;
  char model_id[65]; /* hex SHA-256 of the resolved configuration and tensor manifest */
} hart_engine_info;

void hart_engine_get_info(const hart_engine *engine, hart_engine_info *info);

/* Cancellation token: thread-safe; hart_cancel_request() may be called from any thread. */
hart_cancel *hart_cancel_new(void);
void hart_cancel_request(hart_cancel *cancel);
int hart_cancel_is_requested(const hart_cancel *cancel);
void hart_cancel_reset(hart_cancel *cancel);
void hart_cancel_free(hart_cancel *cancel);

typedef struct {
  hart_stage stage;
  int step;    /* 1-based within the stage */
  int n_steps; /* steps of the stage */
  double elapsed_s;
} hart_progress;

/* RGB8, tightly packed rows (stride = 3 * width). Only valid during the callback. */
typedef struct {
  hart_stage stage; /* HART_STAGE_SCALE or HART_STAGE_DIFFUSION */
  int step;
  int n_steps;
  int width;
  int height;
  const uint8_t *rgb;
} hart_preview;

typedef void (*hart_progress_fn)(const hart_progress *progress, void *user_data);
typedef void (*hart_preview_fn)(const hart_preview *preview, void *user_data);

typedef struct {
  /* Conditioning: either a prompt (needs a text model) or a context tensor. */
  const char *prompt;
  int use_system_prompt; /* HART's LLM system prompt prefix (default 1) */
  /* Context tensor [context_tokens, context_dim] fp32 with its mask and position ids, as
   * `hart encode` writes them. Used when prompt is NULL. */
  const float *context;
  const uint8_t *context_mask;         /* NULL: every token valid */
  const int64_t *context_position_ids; /* NULL: 0..n_valid-1, then n_valid-1 repeated */

  uint64_t seed;   /* 0 .. 2^63-1 (fits a signed 64-bit integer) */
  float cfg;       /* classifier-free guidance, default 4.5; 0.1 .. 20 */
  int smooth;      /* more_smooth Gumbel soft embedding (default 1) */
  int top_k_early; /* top-k for scales 0..6; 0 = default 600 */
  int top_k_late;  /* top-k for later scales; 0 = default 300 */
  float top_p;     /* 0 = off */

  hart_preview_mode preview_mode;
  hart_progress_fn on_progress;
  hart_preview_fn on_preview;
  void *user_data;
  hart_cancel *cancel; /* optional */
  /* Number of floats behind `context` when known (0: not checked); must equal
   * context_tokens * context_dim. */
  size_t context_numel;
} hart_request;

void hart_request_init(hart_request *req);

typedef struct {
  int width;
  int height;
  uint8_t *rgb; /* width * height * 3 bytes, row-major RGB */
  /* Wall times in seconds. */
  double t_text, t_transformer, t_diffusion, t_decode, t_total;
} hart_image;

/* Generates one image. HART_CANCELLED when cancelled (image untouched). */
hart_status hart_generate(hart_engine *engine, const hart_request *req, hart_image *image);
void hart_image_clear(hart_image *image);

/* Version string of the engine ("0.1.0"). */
const char *hart_version(void);

#ifdef __cplusplus
}
#endif

#endif /* HART_H */
