/* hs-history.c: HsHistory, the async face of the history store.
 *
 * One worker thread owns the HsHistoryDb (and so the sqlite3 connection) for the object's whole
 * life; requests are queued as jobs and run in order. Each job completes an inner GTask that has
 * no source object, so the worker never holds (or drops) a reference to the HsHistory: that keeps
 * finalization on the owner's thread, where it can join the worker. The inner task's callback runs
 * in the caller's main context, applies the change to the objects there (signals, item flags) and
 * only then completes the caller's task. */
#include "hs-history.h"

#include "hs-history-db.h"

G_DEFINE_QUARK(hs - history - error - quark, hs_history_error)

typedef gpointer (*JobRun)(HsHistoryDb *db, gpointer data, GError **error);
typedef void (*JobApply)(HsHistory *self, gpointer data, gpointer result);

typedef struct {
  JobRun run;     /* on the worker; NULL marks the stop sentinel */
  JobApply apply; /* on the main context after success (may be NULL) */
  gpointer data;  /* the job's arguments */
  GDestroyNotify data_free;
  GDestroyNotify result_free;
  HsHistory *self; /* strong ref, dropped on the main context */
  GTask *task;     /* the caller's task */
  GCancellable *cancellable;
} Job;

/* State shared with the worker thread. Only the worker touches db; the rest is locked. */
typedef struct {
  GAsyncQueue *queue;
  char *dir;
  HsHistoryDb *db;
  GError *open_error;
  gboolean opened;
  GMutex lock;
  gboolean read_only;
  char *notice;
} Worker;

struct _HsHistory {
  GObject parent_instance;
  Worker *worker;
  GThread *thread;
};

G_DEFINE_FINAL_TYPE(HsHistory, hs_history, G_TYPE_OBJECT)

enum {
  SIGNAL_ITEM_ADDED,
  SIGNAL_ITEM_REMOVED,
  SIGNAL_ITEM_RESTORED,
  SIGNAL_ITEM_CHANGED,
  SIGNAL_CHANGED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

#define RESULT_TRUE GINT_TO_POINTER(1)

static void job_free(Job *job)
{
  if (job->data_free != NULL && job->data != NULL)
    job->data_free(job->data);
  g_clear_object(&job->task);
  g_clear_object(&job->cancellable);
  g_clear_object(&job->self);
  g_free(job);
}

/* Opens the database on first use; later jobs see the same outcome. */
static gboolean worker_ensure_open(Worker *w, GError **error)
{
  if (!w->opened) {
    char *notice = NULL;
    w->opened = TRUE;
    w->db = hs_history_db_open(w->dir, &notice, &w->open_error);
    g_mutex_lock(&w->lock);
    w->notice = notice;
    w->read_only = w->db != NULL && hs_history_db_is_read_only(w->db);
    g_mutex_unlock(&w->lock);
  }
  if (w->db == NULL) {
    g_propagate_error(error, g_error_copy(w->open_error));
    return FALSE;
  }
  return TRUE;
}

static gpointer worker_main(gpointer data)
{
  Worker *w = data;
  GTask *inner;

  while ((inner = g_async_queue_pop(w->queue)) != NULL) {
    Job *job = g_task_get_task_data(inner);
    GError *error = NULL;
    gpointer result = NULL;

    if (job->run == NULL) {
      g_object_unref(inner);
      break;
    }
    if (!g_cancellable_set_error_if_cancelled(job->cancellable, &error) &&
        worker_ensure_open(w, &error))
      result = job->run(w->db, job->data, &error);
    if (error != NULL)
      g_task_return_error(inner, error);
    else
      g_task_return_pointer(inner, result, job->result_free);
    g_object_unref(inner);
  }
  g_clear_pointer(&w->db, hs_history_db_close);
  return NULL;
}

/* On the caller's main context once the worker is done with a job. */
static void job_done(GObject *unused, GAsyncResult *res, gpointer user_data)
{
  Job *job = user_data;
  GError *error = NULL;
  gpointer result = g_task_propagate_pointer(G_TASK(res), &error);

  if (error != NULL) {
    g_task_return_error(job->task, error);
  } else {
    if (job->apply != NULL)
      job->apply(job->self, job->data, result);
    g_task_return_pointer(job->task, result, job->result_free);
  }
  job_free(job);
}

static void queue_job(HsHistory *self, JobRun run, JobApply apply, gpointer data,
                      GDestroyNotify data_free, GDestroyNotify result_free, gpointer source_tag,
                      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  Job *job = g_new0(Job, 1);
  GTask *inner;

  job->run = run;
  job->apply = apply;
  job->data = data;
  job->data_free = data_free;
  job->result_free = result_free;
  job->self = g_object_ref(self);
  job->cancellable = cancellable ? g_object_ref(cancellable) : NULL;
  job->task = g_task_new(self, cancellable, callback, user_data);
  g_task_set_source_tag(job->task, source_tag);
  /* A change that reached the database is reported as done even if cancelled meanwhile. */
  g_task_set_check_cancellable(job->task, FALSE);
  inner = g_task_new(NULL, NULL, job_done, job);
  g_task_set_task_data(inner, job, NULL);
  g_async_queue_push(self->worker->queue, inner);
}

static void hs_history_finalize(GObject *object)
{
  HsHistory *self = HS_HISTORY(object);
  Worker *w = self->worker;
  Job *stop = g_new0(Job, 1);
  GTask *inner = g_task_new(NULL, NULL, NULL, NULL);

  /* Jobs hold a reference on self, so the queue is empty: the worker stops at once. */
  g_task_set_task_data(inner, stop, g_free);
  g_async_queue_push(w->queue, inner);
  g_thread_join(self->thread);
  g_async_queue_unref(w->queue);
  g_clear_error(&w->open_error);
  g_mutex_clear(&w->lock);
  g_free(w->notice);
  g_free(w->dir);
  g_free(w);
  G_OBJECT_CLASS(hs_history_parent_class)->finalize(object);
}

static void hs_history_class_init(HsHistoryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);

  object_class->finalize = hs_history_finalize;
  /* An item was added (a finished image, or a re-indexed orphan). */
  signals[SIGNAL_ITEM_ADDED] =
      g_signal_new("item-added", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                   G_TYPE_NONE, 1, HS_TYPE_HISTORY_ITEM);
  /* An item was deleted (hidden; its purge or undo follows). */
  signals[SIGNAL_ITEM_REMOVED] =
      g_signal_new("item-removed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                   G_TYPE_NONE, 1, HS_TYPE_HISTORY_ITEM);
  signals[SIGNAL_ITEM_RESTORED] =
      g_signal_new("item-restored", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                   NULL, G_TYPE_NONE, 1, HS_TYPE_HISTORY_ITEM);
  /* An item's favorite flag changed (after notify::favorite on the item passed in). */
  signals[SIGNAL_ITEM_CHANGED] =
      g_signal_new("item-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                   G_TYPE_NONE, 1, HS_TYPE_HISTORY_ITEM);
  /* Several rows changed at once (reconcile): views should reload. */
  signals[SIGNAL_CHANGED] = g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                         NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void hs_history_init(HsHistory *self)
{
}

char *hs_history_default_dir(void)
{
  return g_build_filename(g_get_user_data_dir(), "hart-studio", NULL);
}

HsHistory *hs_history_new(const char *dir)
{
  HsHistory *self = g_object_new(HS_TYPE_HISTORY, NULL);
  Worker *w = g_new0(Worker, 1);

  w->queue = g_async_queue_new();
  w->dir = dir ? g_strdup(dir) : hs_history_default_dir();
  g_mutex_init(&w->lock);
  self->worker = w;
  self->thread = g_thread_new("hs-history", worker_main, w);
  return self;
}

const char *hs_history_get_dir(HsHistory *self)
{
  g_return_val_if_fail(HS_IS_HISTORY(self), NULL);
  return self->worker->dir;
}

gboolean hs_history_get_read_only(HsHistory *self)
{
  gboolean ro;

  g_return_val_if_fail(HS_IS_HISTORY(self), FALSE);
  g_mutex_lock(&self->worker->lock);
  ro = self->worker->read_only;
  g_mutex_unlock(&self->worker->lock);
  return ro;
}

const char *hs_history_get_notice(HsHistory *self)
{
  const char *notice;

  g_return_val_if_fail(HS_IS_HISTORY(self), NULL);
  /* Written once by the worker at open, never changed afterwards. */
  g_mutex_lock(&self->worker->lock);
  notice = self->worker->notice;
  g_mutex_unlock(&self->worker->lock);
  return notice;
}

/* Finishing helpers: every task carries a pointer result. */
static gpointer finish_pointer(HsHistory *self, GAsyncResult *result, gpointer tag, GError **error)
{
  g_return_val_if_fail(HS_IS_HISTORY(self), NULL);
  g_return_val_if_fail(g_task_is_valid(result, self), NULL);
  g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == tag, NULL);
  return g_task_propagate_pointer(G_TASK(result), error);
}

static gboolean finish_boolean(HsHistory *self, GAsyncResult *result, gpointer tag, GError **error)
{
  return finish_pointer(self, result, tag, error) != NULL;
}

/* --- open --- */

static gpointer run_open(HsHistoryDb *db, gpointer data, GError **error)
{
  return RESULT_TRUE;
}

void hs_history_open_async(HsHistory *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  g_return_if_fail(HS_IS_HISTORY(self));
  queue_job(self, run_open, NULL, NULL, NULL, NULL, hs_history_open_async, cancellable, callback,
            user_data);
}

gboolean hs_history_open_finish(HsHistory *self, GAsyncResult *result, GError **error)
{
  return finish_boolean(self, result, hs_history_open_async, error);
}

/* --- add --- */

typedef struct {
  HsGenParams *params;
  GBytes *rgb;
  int width, height;
} AddData;

static void add_data_free(gpointer data)
{
  AddData *a = data;
  hs_gen_params_free(a->params);
  g_bytes_unref(a->rgb);
  g_free(a);
}

static gpointer run_add(HsHistoryDb *db, gpointer data, GError **error)
{
  AddData *a = data;
  gsize len = 0;
  const guint8 *rgb = g_bytes_get_data(a->rgb, &len);

  if (a->width <= 0 || a->height <= 0 || len != (gsize)a->width * (gsize)a->height * 3) {
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_INVALID,
                "The image holds %zu bytes, not %d×%d×3", (size_t)len, a->width, a->height);
    return NULL;
  }
  return hs_history_db_add(db, a->params, rgb, a->width, a->height, error);
}

static void apply_added(HsHistory *self, gpointer data, gpointer result)
{
  g_signal_emit(self, signals[SIGNAL_ITEM_ADDED], 0, result);
}

void hs_history_add_async(HsHistory *self, const HsGenParams *params, GBytes *rgb, int width,
                          int height, GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
  AddData *a;

  g_return_if_fail(HS_IS_HISTORY(self));
  g_return_if_fail(params != NULL && rgb != NULL);
  a = g_new0(AddData, 1);
  a->params = hs_gen_params_copy(params);
  a->rgb = g_bytes_ref(rgb);
  a->width = width;
  a->height = height;
  queue_job(self, run_add, apply_added, a, add_data_free, g_object_unref, hs_history_add_async,
            cancellable, callback, user_data);
}

HsHistoryItem *hs_history_add_finish(HsHistory *self, GAsyncResult *result, GError **error)
{
  return finish_pointer(self, result, hs_history_add_async, error);
}

/* --- list --- */

typedef struct {
  char *query;
  gboolean favorites_only;
  guint offset, limit;
} ListData;

static void list_data_free(gpointer data)
{
  ListData *l = data;
  g_free(l->query);
  g_free(l);
}

static gpointer run_list(HsHistoryDb *db, gpointer data, GError **error)
{
  ListData *l = data;
  return hs_history_db_list(db, l->query, l->favorites_only, l->offset, l->limit, error);
}

void hs_history_list_async(HsHistory *self, const char *query, gboolean favorites_only,
                           guint offset, guint limit, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  ListData *l;

  g_return_if_fail(HS_IS_HISTORY(self));
  l = g_new0(ListData, 1);
  l->query = g_strdup(query);
  l->favorites_only = favorites_only;
  l->offset = offset;
  l->limit = limit;
  queue_job(self, run_list, NULL, l, list_data_free, (GDestroyNotify)g_ptr_array_unref,
            hs_history_list_async, cancellable, callback, user_data);
}

GPtrArray *hs_history_list_finish(HsHistory *self, GAsyncResult *result, GError **error)
{
  return finish_pointer(self, result, hs_history_list_async, error);
}

/* --- thumbnail --- */

static gpointer run_thumbnail(HsHistoryDb *db, gpointer data, GError **error)
{
  return hs_history_db_thumbnail(db, *(gint64 *)data, error);
}

void hs_history_thumbnail_async(HsHistory *self, gint64 id, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(HS_IS_HISTORY(self));
  queue_job(self, run_thumbnail, NULL, g_memdup2(&id, sizeof(id)), g_free,
            (GDestroyNotify)g_bytes_unref, hs_history_thumbnail_async, cancellable, callback,
            user_data);
}

GBytes *hs_history_thumbnail_finish(HsHistory *self, GAsyncResult *result, GError **error)
{
  return finish_pointer(self, result, hs_history_thumbnail_async, error);
}

/* --- per-item changes: favorite, delete, undo, purge --- */

typedef struct {
  HsHistoryItem *item;
  gboolean value;
} ItemData;

static void item_data_free(gpointer data)
{
  ItemData *d = data;
  g_object_unref(d->item);
  g_free(d);
}

static void queue_item_job(HsHistory *self, HsHistoryItem *item, gboolean value, JobRun run,
                           JobApply apply, gpointer tag, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  ItemData *d = g_new0(ItemData, 1);

  d->item = g_object_ref(item);
  d->value = value;
  queue_job(self, run, apply, d, item_data_free, NULL, tag, cancellable, callback, user_data);
}

static gpointer run_favorite(HsHistoryDb *db, gpointer data, GError **error)
{
  ItemData *d = data;
  gint64 id = hs_history_item_get_id(d->item);
  return hs_history_db_set_favorite(db, id, d->value, error) ? RESULT_TRUE : NULL;
}

static void apply_favorite(HsHistory *self, gpointer data, gpointer result)
{
  ItemData *d = data;
  hs_history_item_set_favorite(d->item, d->value);
  g_signal_emit(self, signals[SIGNAL_ITEM_CHANGED], 0, d->item);
}

void hs_history_set_favorite_async(HsHistory *self, HsHistoryItem *item, gboolean favorite,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  g_return_if_fail(HS_IS_HISTORY(self) && HS_IS_HISTORY_ITEM(item));
  queue_item_job(self, item, favorite, run_favorite, apply_favorite, hs_history_set_favorite_async,
                 cancellable, callback, user_data);
}

gboolean hs_history_set_favorite_finish(HsHistory *self, GAsyncResult *result, GError **error)
{
  return finish_boolean(self, result, hs_history_set_favorite_async, error);
}

static gpointer run_hidden(HsHistoryDb *db, gpointer data, GError **error)
{
  ItemData *d = data;
  gint64 id = hs_history_item_get_id(d->item);
  return hs_history_db_set_hidden(db, id, d->value, error) ? RESULT_TRUE : NULL;
}

static void apply_hidden(HsHistory *self, gpointer data, gpointer result)
{
  ItemData *d = data;
  g_signal_emit(self, signals[d->value ? SIGNAL_ITEM_REMOVED : SIGNAL_ITEM_RESTORED], 0, d->item);
}

void hs_history_delete_async(HsHistory *self, HsHistoryItem *item, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(HS_IS_HISTORY(self) && HS_IS_HISTORY_ITEM(item));
  queue_item_job(self, item, TRUE, run_hidden, apply_hidden, hs_history_delete_async, cancellable,
                 callback, user_data);
}

gboolean hs_history_delete_finish(HsHistory *self, GAsyncResult *result, GError **error)
{
  return finish_boolean(self, result, hs_history_delete_async, error);
}

void hs_history_undo_delete_async(HsHistory *self, HsHistoryItem *item, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(HS_IS_HISTORY(self) && HS_IS_HISTORY_ITEM(item));
  queue_item_job(self, item, FALSE, run_hidden, apply_hidden, hs_history_undo_delete_async,
                 cancellable, callback, user_data);
}

gboolean hs_history_undo_delete_finish(HsHistory *self, GAsyncResult *result, GError **error)
{
  return finish_boolean(self, result, hs_history_undo_delete_async, error);
}

static gpointer run_purge(HsHistoryDb *db, gpointer data, GError **error)
{
  ItemData *d = data;
  return hs_history_db_purge(db, hs_history_item_get_id(d->item), error) ? RESULT_TRUE : NULL;
}

void hs_history_purge_async(HsHistory *self, HsHistoryItem *item, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(HS_IS_HISTORY(self) && HS_IS_HISTORY_ITEM(item));
  queue_item_job(self, item, TRUE, run_purge, NULL, hs_history_purge_async, cancellable, callback,
                 user_data);
}

gboolean hs_history_purge_finish(HsHistory *self, GAsyncResult *result, GError **error)
{
  return finish_boolean(self, result, hs_history_purge_async, error);
}

/* --- reconcile, reindex --- */

static gpointer run_reconcile(HsHistoryDb *db, gpointer data, GError **error)
{
  return hs_history_db_reconcile(db, error);
}

static void apply_reconcile(HsHistory *self, gpointer data, gpointer result)
{
  HsHistoryReconcileReport *r = result;

  if (r->rows_missing + r->rows_found_again + r->hidden_purged > 0)
    g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

void hs_history_reconcile_async(HsHistory *self, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(HS_IS_HISTORY(self));
  queue_job(self, run_reconcile, apply_reconcile, NULL, NULL,
            (GDestroyNotify)hs_history_reconcile_report_free, hs_history_reconcile_async,
            cancellable, callback, user_data);
}

HsHistoryReconcileReport *hs_history_reconcile_finish(HsHistory *self, GAsyncResult *result,
                                                      GError **error)
{
  return finish_pointer(self, result, hs_history_reconcile_async, error);
}

static gpointer run_reindex(HsHistoryDb *db, gpointer data, GError **error)
{
  return hs_history_db_reindex(db, data, error);
}

void hs_history_reindex_async(HsHistory *self, const char *path, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(HS_IS_HISTORY(self) && path != NULL);
  queue_job(self, run_reindex, apply_added, g_strdup(path), g_free, g_object_unref,
            hs_history_reindex_async, cancellable, callback, user_data);
}

HsHistoryItem *hs_history_reindex_finish(HsHistory *self, GAsyncResult *result, GError **error)
{
  return finish_pointer(self, result, hs_history_reindex_async, error);
}
