/* hs-engine-worker.c: one thread, one engine, a queue of jobs answered through GTask. */
#define G_LOG_DOMAIN "HsEngineWorker"

#include "hs-config.h"

#include "hs-engine-worker.h"

#include <errno.h>
#include <string.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "hs-generation-private.h"

typedef enum {
  JOB_OPEN,
  JOB_GENERATE,
  JOB_QUIT,
} JobKind;

typedef struct {
  JobKind kind;
  GTask *task; /* NULL for JOB_QUIT */
} Job;

typedef struct {
  HsRequest *request;
  HsGeneration *generation; /* may be NULL */
  hart_cancel *cancel;
  GCancellable *cancellable;
  gulong cancel_handler;
} GenerateData;

struct _HsEngineWorker {
  GObject parent_instance;

  GThread *thread;
  GAsyncQueue *jobs;

  /* Guards everything below; the engine itself is touched by the worker thread only. */
  GMutex lock;
  hart_cancel *running_cancel; /* the job in progress, for shutdown */
  gboolean shut_down;
  gboolean has_info;
  hart_engine_info info;

  hart_engine *engine; /* worker thread only */
};

G_DEFINE_FINAL_TYPE(HsEngineWorker, hs_engine_worker, G_TYPE_OBJECT)

GQuark hs_engine_error_quark(void)
{
  return g_quark_from_static_string("hs-engine-error-quark");
}

int hs_engine_error_from_status(hart_status status)
{
  switch (status) {
  case HART_OK:
  case HART_CANCELLED:
    return -1;
  case HART_ERR_INVALID_ARGUMENT:
    return HS_ENGINE_ERROR_INVALID_ARGUMENT;
  case HART_ERR_IO:
    return HS_ENGINE_ERROR_IO;
  case HART_ERR_FORMAT:
    return HS_ENGINE_ERROR_FORMAT;
  case HART_ERR_UNSUPPORTED:
    return HS_ENGINE_ERROR_UNSUPPORTED;
  case HART_ERR_NO_MEMORY:
    return HS_ENGINE_ERROR_NO_MEMORY;
  case HART_ERR_DEVICE:
    return HS_ENGINE_ERROR_DEVICE;
  case HART_ERR_DEVICE_MEMORY:
    return HS_ENGINE_ERROR_DEVICE_MEMORY;
  case HART_ERR_INTERNAL:
  default:
    return HS_ENGINE_ERROR_INTERNAL;
  }
}

HsEngineOptions *hs_engine_options_new(const char *model_dir, const char *text_model_dir)
{
  HsEngineOptions *options = g_new0(HsEngineOptions, 1);

  options->model_dir = g_strdup(model_dir);
  options->text_model_dir = g_strdup(text_model_dir);
  options->backend = HART_BACKEND_AUTO;
  return options;
}

static HsEngineOptions *hs_engine_options_copy(const HsEngineOptions *options)
{
  HsEngineOptions *copy = hs_engine_options_new(options->model_dir, options->text_model_dir);

  copy->backend = options->backend;
  copy->n_threads = options->n_threads;
  return copy;
}

void hs_engine_options_free(HsEngineOptions *options)
{
  if (options == NULL)
    return;
  g_free(options->model_dir);
  g_free(options->text_model_dir);
  g_free(options);
}

/* Runs in the main context when the task is finalized, so the handler is gone before the
 * engine token it points to. */
static void generate_data_free(gpointer data)
{
  GenerateData *gd = data;

  if (gd->cancel_handler != 0)
    g_cancellable_disconnect(gd->cancellable, gd->cancel_handler);
  g_clear_object(&gd->cancellable);
  g_clear_pointer(&gd->cancel, hart_cancel_free);
  g_clear_object(&gd->generation);
  g_clear_pointer(&gd->request, hs_request_free);
  g_free(gd);
}

static gboolean release_nothing(gpointer data)
{
  return G_SOURCE_REMOVE;
}

/* The worker thread must never drop the last reference to a task: the task holds the worker,
 * and a worker finalized on its own thread would try to join itself. The reference is handed
 * back to the task's main context instead. */
static void release_task_in_context(GTask *task)
{
  GSource *source = g_idle_source_new();

  g_source_set_priority(source, G_PRIORITY_DEFAULT);
  g_source_set_callback(source, release_nothing, task, g_object_unref);
  g_source_set_static_name(source, "[hs] release task");
  g_source_attach(source, g_task_get_context(task));
  g_source_unref(source);
}

/* Worker thread. */
static void job_free(Job *job)
{
  if (job->task != NULL)
    release_task_in_context(g_steal_pointer(&job->task));
  g_free(job);
}

static void return_status_error(GTask *task, hart_status status, const char *message)
{
  int code = hs_engine_error_from_status(status);

  if (code < 0)
    g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s", "Cancelled");
  else
    g_task_return_new_error(task, HS_ENGINE_ERROR, code, "%s",
                            message && *message ? message : hart_status_name(status));
}

/* Worker thread. */
static void run_open(HsEngineWorker *self, GTask *task)
{
  const HsEngineOptions *options = g_task_get_task_data(task);
  hart_open_options oo;
  hart_engine *engine = NULL;
  hart_engine_info info;
  char errbuf[1024] = "";
  hart_status status;

  /* Free the old model first: two released models may not fit side by side. */
  g_mutex_lock(&self->lock);
  self->has_info = FALSE;
  g_mutex_unlock(&self->lock);
  g_clear_pointer(&self->engine, hart_engine_close);

  hart_open_options_init(&oo);
  oo.model_dir = options->model_dir;
  oo.text_model_dir = options->text_model_dir;
  oo.backend = options->backend;
  oo.n_threads = options->n_threads;
  status = hart_engine_open(&oo, &engine, errbuf, sizeof errbuf);
  if (status != HART_OK) {
    return_status_error(task, status, errbuf);
    return;
  }

  self->engine = engine;
  hart_engine_get_info(engine, &info);
  g_mutex_lock(&self->lock);
  self->info = info;
  self->has_info = TRUE;
  g_mutex_unlock(&self->lock);
  g_task_return_boolean(task, TRUE);
}

static void on_engine_progress(const hart_progress *progress, void *user_data)
{
  GenerateData *gd = user_data;

  if (gd->generation != NULL)
    _hs_generation_push_progress(gd->generation, (HsStage)progress->stage, progress->step,
                                 progress->n_steps, progress->elapsed_s);
}

static void on_engine_preview(const hart_preview *preview, void *user_data)
{
  GenerateData *gd = user_data;
  g_autoptr(GBytes) rgb = NULL;

  if (gd->generation == NULL || preview->width <= 0 || preview->height <= 0)
    return;
  /* The engine's buffer is only valid during the callback. */
  rgb = g_bytes_new(preview->rgb, (gsize)preview->width * preview->height * 3);
  _hs_generation_push_preview(gd->generation, hs_image_new(preview->width, preview->height, rgb));
}

static HsImage *image_from_engine(const hart_image *image)
{
  g_autoptr(GBytes) rgb = g_bytes_new(image->rgb, (gsize)image->width * image->height * 3);
  HsImage *out = hs_image_new(image->width, image->height, rgb);

  out->t_text = image->t_text;
  out->t_transformer = image->t_transformer;
  out->t_diffusion = image->t_diffusion;
  out->t_decode = image->t_decode;
  out->t_total = image->t_total;
  return out;
}

/* Fills req from the app request; the pointers stay owned by gd. */
static void fill_engine_request(GenerateData *gd, hart_request *req)
{
  const HsRequest *r = gd->request;

  hart_request_init(req);
  if (r->context != NULL) {
    gsize bytes = 0;

    req->context = g_bytes_get_data(r->context, &bytes);
    req->context_numel = bytes / sizeof(float);
    req->context_mask = r->context_mask ? g_bytes_get_data(r->context_mask, NULL) : NULL;
    req->context_position_ids =
        r->context_position_ids ? g_bytes_get_data(r->context_position_ids, NULL) : NULL;
  } else {
    req->prompt = r->prompt ? r->prompt : "";
  }
  req->use_system_prompt = r->use_system_prompt;
  req->seed = r->seed;
  req->cfg = (float)r->cfg;
  req->smooth = r->smooth;
  req->preview_mode = (hart_preview_mode)r->preview_mode;
  req->on_progress = on_engine_progress;
  req->on_preview = r->preview_mode != HS_PREVIEW_OFF ? on_engine_preview : NULL;
  req->user_data = gd;
  req->cancel = gd->cancel;
}

/* Worker thread. */
static void run_generate(HsEngineWorker *self, GTask *task)
{
  GenerateData *gd = g_task_get_task_data(task);
  hart_request req;
  hart_image image;
  hart_status status;

  if (self->engine == NULL) {
    g_task_return_new_error(task, HS_ENGINE_ERROR, HS_ENGINE_ERROR_NOT_OPEN, "%s",
                            "No model is loaded");
    return;
  }

  fill_engine_request(gd, &req);
  memset(&image, 0, sizeof image);

  g_mutex_lock(&self->lock);
  self->running_cancel = gd->cancel;
  g_mutex_unlock(&self->lock);

  status = hart_generate(self->engine, &req, &image);

  g_mutex_lock(&self->lock);
  self->running_cancel = NULL;
  g_mutex_unlock(&self->lock);

  if (gd->generation != NULL)
    _hs_generation_worker_done(gd->generation);

  if (status == HART_OK && image.rgb != NULL && image.width > 0 && image.height > 0)
    g_task_return_pointer(task, image_from_engine(&image), (GDestroyNotify)hs_image_unref);
  else if (status == HART_OK)
    g_task_return_new_error(task, HS_ENGINE_ERROR, HS_ENGINE_ERROR_INTERNAL, "%s",
                            "The engine returned no image");
  else
    return_status_error(task, status, hart_engine_last_error(self->engine));
  hart_image_clear(&image);
}

/* The engine's compute threads (OpenMP) are started from this thread and inherit its nice
 * value: a lower priority keeps the main loop, and so the window, responsive while a picture is
 * being made on the CPU, without slowing the engine on an otherwise idle machine. */
static void lower_thread_priority(void)
{
#ifdef __linux__
  if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) != 0)
    g_debug("could not lower the engine thread's priority: %s", g_strerror(errno));
#endif
}

static gpointer worker_main(gpointer data)
{
  HsEngineWorker *self = data;
  Job *job;

  lower_thread_priority();

  while ((job = g_async_queue_pop(self->jobs)) != NULL) {
    gboolean quit = job->kind == JOB_QUIT;
    gboolean shut_down;

    g_mutex_lock(&self->lock);
    shut_down = self->shut_down;
    g_mutex_unlock(&self->lock);

    if (quit) {
      job_free(job);
      break;
    }
    if (shut_down)
      g_task_return_new_error(job->task, HS_ENGINE_ERROR, HS_ENGINE_ERROR_SHUT_DOWN, "%s",
                              "The engine is shutting down");
    else if (!g_task_return_error_if_cancelled(job->task)) {
      switch (job->kind) {
      case JOB_OPEN:
        run_open(self, job->task);
        break;
      case JOB_GENERATE:
        run_generate(self, job->task);
        break;
      case JOB_QUIT:
      default:
        g_assert_not_reached();
      }
    }
    job_free(job);
  }

  /* The engine is closed on the thread that opened it. */
  g_clear_pointer(&self->engine, hart_engine_close);
  return NULL;
}

static void hs_engine_worker_dispose(GObject *object)
{
  hs_engine_worker_shutdown(HS_ENGINE_WORKER(object));
  G_OBJECT_CLASS(hs_engine_worker_parent_class)->dispose(object);
}

static void hs_engine_worker_finalize(GObject *object)
{
  HsEngineWorker *self = HS_ENGINE_WORKER(object);

  g_clear_pointer(&self->jobs, g_async_queue_unref);
  g_mutex_clear(&self->lock);
  G_OBJECT_CLASS(hs_engine_worker_parent_class)->finalize(object);
}

static void hs_engine_worker_class_init(HsEngineWorkerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);

  object_class->dispose = hs_engine_worker_dispose;
  object_class->finalize = hs_engine_worker_finalize;
}

static void hs_engine_worker_init(HsEngineWorker *self)
{
  g_mutex_init(&self->lock);
  self->jobs = g_async_queue_new();
  /* The thread borrows self: dispose joins it before self can go away. */
  self->thread = g_thread_new("hs-engine", worker_main, self);
}

HsEngineWorker *hs_engine_worker_new(void)
{
  return g_object_new(HS_TYPE_ENGINE_WORKER, NULL);
}

static gboolean is_shut_down(HsEngineWorker *self)
{
  gboolean ret;

  g_mutex_lock(&self->lock);
  ret = self->shut_down;
  g_mutex_unlock(&self->lock);
  return ret;
}

static void push_job(HsEngineWorker *self, JobKind kind, GTask *task)
{
  Job *job = g_new0(Job, 1);

  job->kind = kind;
  job->task = task; /* takes the reference */
  g_async_queue_push(self->jobs, job);
}

void hs_engine_worker_open_async(HsEngineWorker *self, const HsEngineOptions *options,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  GTask *task;

  g_return_if_fail(HS_IS_ENGINE_WORKER(self));
  g_return_if_fail(options != NULL && options->model_dir != NULL);
  g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

  task = g_task_new(self, cancellable, callback, user_data);
  g_task_set_source_tag(task, hs_engine_worker_open_async);
  g_task_set_task_data(task, hs_engine_options_copy(options),
                       (GDestroyNotify)hs_engine_options_free);
  if (is_shut_down(self)) {
    g_task_return_new_error(task, HS_ENGINE_ERROR, HS_ENGINE_ERROR_SHUT_DOWN, "%s",
                            "The engine is shut down");
    g_object_unref(task);
    return;
  }
  push_job(self, JOB_OPEN, task);
}

gboolean hs_engine_worker_open_finish(HsEngineWorker *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(HS_IS_ENGINE_WORKER(self), FALSE);
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == hs_engine_worker_open_async, FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

gboolean hs_engine_worker_get_info(HsEngineWorker *self, hart_engine_info *info)
{
  gboolean ret;

  g_return_val_if_fail(HS_IS_ENGINE_WORKER(self), FALSE);

  g_mutex_lock(&self->lock);
  ret = self->has_info;
  if (ret && info != NULL)
    *info = self->info;
  g_mutex_unlock(&self->lock);
  return ret;
}

/* Any thread: the engine's token is thread-safe. */
static void on_cancellable_cancelled(GCancellable *cancellable, gpointer data)
{
  hart_cancel_request(data);
}

void hs_engine_worker_generate_async(HsEngineWorker *self, const HsRequest *request,
                                     HsGeneration *generation, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;
  GenerateData *gd;

  g_return_if_fail(HS_IS_ENGINE_WORKER(self));
  g_return_if_fail(request != NULL);
  g_return_if_fail(generation == NULL || HS_IS_GENERATION(generation));
  g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

  task = g_task_new(self, cancellable, callback, user_data);
  g_task_set_source_tag(task, hs_engine_worker_generate_async);

  gd = g_new0(GenerateData, 1);
  gd->request = hs_request_copy(request);
  gd->generation = generation ? g_object_ref(generation) : NULL;
  gd->cancel = hart_cancel_new();
  g_task_set_task_data(task, gd, generate_data_free);
  if (gd->cancel == NULL) {
    g_task_return_new_error(task, HS_ENGINE_ERROR, HS_ENGINE_ERROR_NO_MEMORY, "%s",
                            "Out of memory");
    g_object_unref(task);
    return;
  }
  if (cancellable != NULL) {
    gd->cancellable = g_object_ref(cancellable);
    /* Fires at once when already cancelled; the job then stops at its first check. */
    gd->cancel_handler =
        g_cancellable_connect(cancellable, G_CALLBACK(on_cancellable_cancelled), gd->cancel, NULL);
  }
  if (is_shut_down(self)) {
    g_task_return_new_error(task, HS_ENGINE_ERROR, HS_ENGINE_ERROR_SHUT_DOWN, "%s",
                            "The engine is shut down");
    g_object_unref(task);
    return;
  }
  push_job(self, JOB_GENERATE, task);
}

HsImage *hs_engine_worker_generate_finish(HsEngineWorker *self, GAsyncResult *result,
                                          GError **error)
{
  g_return_val_if_fail(HS_IS_ENGINE_WORKER(self), NULL);
  g_return_val_if_fail(g_task_is_valid(result, self), NULL);
  g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == hs_engine_worker_generate_async,
                       NULL);
  return g_task_propagate_pointer(G_TASK(result), error);
}

void hs_engine_worker_shutdown(HsEngineWorker *self)
{
  Job *quit;

  g_return_if_fail(HS_IS_ENGINE_WORKER(self));

  if (self->thread == NULL)
    return;

  g_mutex_lock(&self->lock);
  self->shut_down = TRUE;
  self->has_info = FALSE;
  if (self->running_cancel != NULL)
    hart_cancel_request(self->running_cancel);
  g_mutex_unlock(&self->lock);

  quit = g_new0(Job, 1);
  quit->kind = JOB_QUIT;
  g_async_queue_push(self->jobs, quit);
  g_thread_join(g_steal_pointer(&self->thread));
}
