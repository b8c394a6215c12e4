/* hs-model-store.c: the model store (see hs-model-store.h). */
#include "hs-model-store.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "hs-hub.h"
#include "hs-model-fs.h"
#include "hs-model-validate.h"

/* Space kept free beyond what the files need, so the disk never fills to the last byte. */
#define FREE_SPACE_MARGIN (64 * 1024 * 1024)
#define PROGRESS_INTERVAL_US 100000
#define RATE_WINDOW_US 500000

struct _HsModelStore {
  GObject parent_instance;
  char *root;
  HsDownloadPolicy policy;
  guint timeout_s;
  gint64 free_space_override;
  GMainContext *context; /* where ::progress is emitted */

  GMutex lock; /* guards the pending progress snapshot below */
  HsModelProgress pending;
  char *pending_repo;
  char *pending_path;
  gboolean pending_scheduled;

  /* The store's own download (main thread only). */
  GCancellable *download_cancellable;
  HsModelProgress last;
  char *last_repo;
  char *last_path;
};

G_DEFINE_TYPE(HsModelStore, hs_model_store, G_TYPE_OBJECT)

enum { PROP_0, PROP_ROOT, PROP_DOWNLOADING, N_PROPS };
enum { SIGNAL_PROGRESS, SIGNAL_DOWNLOAD_FINISHED, N_SIGNALS };
static GParamSpec *props[N_PROPS];
static guint signals[N_SIGNALS];

void hs_model_entry_free(HsModelEntry *entry)
{
  if (entry == NULL)
    return;
  g_free(entry->dir);
  hs_model_manifest_free(entry->manifest);
  g_free(entry);
}

char *hs_model_store_default_root(void)
{
  return g_build_filename(g_get_user_data_dir(), "hart-studio", "models", NULL);
}

static void hs_model_store_finalize(GObject *object)
{
  HsModelStore *self = HS_MODEL_STORE(object);
  g_free(self->root);
  g_free(self->pending_repo);
  g_free(self->pending_path);
  g_free(self->last_repo);
  g_free(self->last_path);
  g_main_context_unref(self->context);
  g_mutex_clear(&self->lock);
  G_OBJECT_CLASS(hs_model_store_parent_class)->finalize(object);
}

static void hs_model_store_set_property(GObject *object, guint id, const GValue *value,
                                        GParamSpec *pspec)
{
  HsModelStore *self = HS_MODEL_STORE(object);
  switch (id) {
  case PROP_ROOT:
    g_free(self->root);
    self->root = g_value_dup_string(value);
    if (self->root == NULL)
      self->root = hs_model_store_default_root();
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void hs_model_store_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  HsModelStore *self = HS_MODEL_STORE(object);
  switch (id) {
  case PROP_ROOT:
    g_value_set_string(value, self->root);
    break;
  case PROP_DOWNLOADING:
    g_value_set_boolean(value, self->download_cancellable != NULL);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void hs_model_store_class_init(HsModelStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);

  object_class->finalize = hs_model_store_finalize;
  object_class->set_property = hs_model_store_set_property;
  object_class->get_property = hs_model_store_get_property;
  props[PROP_ROOT] =
      g_param_spec_string("root", "Root", "Folder of the store", NULL,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  props[PROP_DOWNLOADING] =
      g_param_spec_boolean("downloading", "Downloading", "Whether the store's download runs", FALSE,
                           G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, props);
  /* ::download-finished (const GError *error), NULL on success. */
  signals[SIGNAL_DOWNLOAD_FINISHED] =
      g_signal_new("download-finished", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                   NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  /* ::progress (const HsModelProgress *progress), valid during the emission only. */
  signals[SIGNAL_PROGRESS] = g_signal_new("progress", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void hs_model_store_init(HsModelStore *self)
{
  self->last.eta_seconds = -1;
  hs_download_policy_init(&self->policy);
  self->timeout_s = 60;
  self->free_space_override = -1;
  self->context = g_main_context_ref_thread_default();
  g_mutex_init(&self->lock);
}

HsModelStore *hs_model_store_new(const char *root)
{
  return g_object_new(HS_TYPE_MODEL_STORE, "root", root, NULL);
}

const char *hs_model_store_get_root(HsModelStore *store)
{
  return store->root;
}

void hs_model_store_set_policy(HsModelStore *store, const HsDownloadPolicy *policy)
{
  store->policy = *policy;
}

void hs_model_store_set_timeout(HsModelStore *store, guint timeout_s)
{
  store->timeout_s = timeout_s;
}

void hs_model_store_set_free_space_override(HsModelStore *store, gint64 free_bytes)
{
  store->free_space_override = free_bytes;
}

char *hs_model_store_entry_dir(HsModelStore *store, const char *repo_id, const char *revision)
{
  g_autofree char *repo_dir = NULL;
  if (!hs_hub_repo_id_is_valid(repo_id) || !hs_hub_revision_is_valid(revision))
    return NULL;
  repo_dir = hs_model_repo_dirname(repo_id);
  return g_build_filename(store->root, repo_dir, revision, NULL);
}

static void add_entries_of(const char *repo_dir, GPtrArray *out)
{
  g_autoptr(GDir) d = g_dir_open(repo_dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
    g_autofree char *dir = g_build_filename(repo_dir, name, NULL);
    HsModelManifest *m;
    HsModelEntry *e;

    if (name[0] == '.' || !g_file_test(dir, G_FILE_TEST_IS_DIR) ||
        (m = hs_model_manifest_load(dir, NULL)) == NULL)
      continue;
    e = g_new0(HsModelEntry, 1);
    e->dir = g_steal_pointer(&dir);
    e->manifest = m;
    g_ptr_array_add(out, e);
  }
}

static gint compare_entries(gconstpointer a, gconstpointer b)
{
  return strcmp((*(HsModelEntry *const *)a)->dir, (*(HsModelEntry *const *)b)->dir);
}

GPtrArray *hs_model_store_list(HsModelStore *store)
{
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)hs_model_entry_free);
  g_autoptr(GDir) d = g_dir_open(store->root, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
    g_autofree char *repo_dir = g_build_filename(store->root, name, NULL);
    if (name[0] != '.' && g_file_test(repo_dir, G_FILE_TEST_IS_DIR))
      add_entries_of(repo_dir, out);
  }
  g_ptr_array_sort(out, compare_entries);
  return out;
}

/* ---- progress bookkeeping (runs on the working thread) ---- */

typedef struct {
  HsModelProgress p;
  HsModelProgressFunc func;
  gpointer user_data;
  guint64 file_base; /* bytes_done of the files before the current one */
  gint64 last_emit;
  gint64 rate_time;
  guint64 rate_bytes;
} Tracker;

static void tracker_emit(Tracker *t, gboolean force)
{
  gint64 now = g_get_monotonic_time();
  if (t->func == NULL || (!force && now - t->last_emit < PROGRESS_INTERVAL_US))
    return;
  t->last_emit = now;
  t->func(&t->p, t->user_data);
}

static void tracker_phase(Tracker *t, HsModelPhase phase, const char *repo, const char *path)
{
  t->p.phase = phase;
  t->p.repo_id = repo;
  t->p.path = path;
  tracker_emit(t, TRUE);
}

/* Transfer rate smoothed over windows of at least RATE_WINDOW_US (an exponential average),
 * so the ETA does not jump with every chunk. */
static void tracker_bytes(Tracker *t, guint64 done)
{
  gint64 now = g_get_monotonic_time();

  t->p.bytes_done = done;
  if (t->rate_time == 0 || done < t->rate_bytes) {
    t->rate_time = now;
    t->rate_bytes = done;
  } else if (now - t->rate_time >= RATE_WINDOW_US) {
    double inst = (double)(done - t->rate_bytes) * 1e6 / (double)(now - t->rate_time);
    t->p.bytes_per_second =
        t->p.bytes_per_second > 0 ? 0.7 * t->p.bytes_per_second + 0.3 * inst : inst;
    t->rate_time = now;
    t->rate_bytes = done;
  }
  t->p.eta_seconds =
      t->p.bytes_per_second > 0
          ? (double)(t->p.bytes_total - MIN(done, t->p.bytes_total)) / t->p.bytes_per_second
          : -1;
  tracker_emit(t, FALSE);
}

static void on_file_progress(guint64 file_done, guint64 file_total, gboolean rehashing,
                             gpointer user_data)
{
  Tracker *t = user_data;
  HsModelPhase phase = rehashing ? HS_MODEL_PHASE_VERIFYING : HS_MODEL_PHASE_DOWNLOADING;

  if (t->p.phase != phase) {
    /* Hashing the local .part is not transfer: restart the rate window either way. */
    t->rate_time = 0;
    t->p.bytes_per_second = 0;
    t->p.phase = phase;
    tracker_emit(t, TRUE);
  }
  if (rehashing) {
    t->p.bytes_done = t->file_base + file_done;
    tracker_emit(t, FALSE);
    return;
  }
  tracker_bytes(t, t->file_base + file_done);
}

/* ---- finishing an entry: conversion, validation, state ---- */

static gboolean record_conversions(HsModelManifest *m, const char *dir, GPtrArray *conversions,
                                   GCancellable *cancellable, GError **error)
{
  for (guint i = 0; i < conversions->len; i++) {
    HsConversion *c = conversions->pdata[i];
    g_autofree char *path = g_build_filename(dir, c->to, NULL);
    char *sha = hs_file_sha256(path, cancellable, error);
    HsModelFile *f, *src;

    if (sha == NULL)
      return FALSE;
    f = hs_model_manifest_find(m, c->to);
    if (f == NULL)
      f = hs_model_manifest_add(m, c->to, 0);
    f->size = (guint64)hs_fs_file_size(path);
    g_free(f->sha256);
    f->sha256 = sha;
    f->state = HS_MODEL_FILE_COMPLETE;
    g_free(f->converted_from);
    f->converted_from = g_strdup(c->from);
    src = hs_model_manifest_find(m, c->from);
    if (src != NULL) {
      g_free(src->converted_to);
      src->converted_to = g_strdup(c->to);
    }
  }
  return TRUE;
}

/* Removes the checkpoints the conversion replaced, once the folder validated without them
 * being needed (the loader prefers the converted files). */
static void remove_converted_sources(HsModelManifest *m, const char *dir)
{
  for (guint i = 0; i < m->files->len; i++) {
    HsModelFile *f = m->files->pdata[i];
    if (f->converted_to != NULL && f->state == HS_MODEL_FILE_COMPLETE) {
      g_autofree char *path = g_build_filename(dir, f->path, NULL);
      if (g_unlink(path) == 0)
        f->state = HS_MODEL_FILE_CONVERTED;
    }
  }
}

static gboolean mark_broken(HsModelManifest *m, const char *dir, GError *cause, GError **error)
{
  hs_model_manifest_set_message(m, HS_MODEL_STATE_BROKEN, cause->message);
  hs_model_manifest_save(m, dir, NULL);
  g_propagate_error(error, cause);
  return FALSE;
}

/* Converts checkpoints (once), validates with the engine and records the state. A missing or
 * not yet capable `hart convert` leaves the checkpoint in place: the engine reads it directly,
 * and the manifest message says the conversion is still to be done. */
static gboolean finish_entry(HsModelManifest *m, const char *dir, Tracker *t,
                             GCancellable *cancellable, GError **error)
{
  g_autoptr(GPtrArray) conversions = NULL;
  g_autofree char *note = NULL;
  GError *local = NULL;

  if (hs_model_needs_conversion(dir)) {
    tracker_phase(t, HS_MODEL_PHASE_CONVERTING, m->repo_id, NULL);
    conversions = hs_model_convert_dir(dir, cancellable, &local);
    if (conversions == NULL) {
      if (!g_error_matches(local, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
        return mark_broken(m, dir, local, error);
      note = g_strdup_printf("checkpoints not converted: %s", local->message);
      g_clear_error(&local);
    } else if (!record_conversions(m, dir, conversions, cancellable, &local)) {
      return mark_broken(m, dir, local, error);
    }
  }
  tracker_phase(t, HS_MODEL_PHASE_VALIDATING, m->repo_id, NULL);
  if (!hs_model_validate_dir(dir, m->part, &local))
    return mark_broken(m, dir, local, error);
  remove_converted_sources(m, dir);
  hs_model_manifest_set_message(m, HS_MODEL_STATE_READY, note);
  return hs_model_manifest_save(m, dir, error);
}

/* ---- download ---- */

typedef struct {
  const HsModelComponent *component;
  char *dir;
  HsModelManifest *manifest;
  GPtrArray *listing; /* HsHubFile, only the wanted files */
  gboolean ready;     /* already installed: nothing to do */
} Plan;

static void plan_clear(Plan *p)
{
  g_free(p->dir);
  hs_model_manifest_free(p->manifest);
  if (p->listing != NULL)
    g_ptr_array_unref(p->listing);
}

/* An existing ready entry for this component's pinned revision, found without the network. */
static char *find_ready_for(HsModelStore *store, const HsModelComponent *c)
{
  g_autoptr(GPtrArray) entries = hs_model_store_list(store);
  for (guint i = 0; i < entries->len; i++) {
    HsModelEntry *e = entries->pdata[i];
    if (e->manifest->state == HS_MODEL_STATE_READY &&
        g_strcmp0(e->manifest->repo_id, c->repo_id) == 0 &&
        g_strcmp0(e->manifest->requested_revision, c->revision) == 0 &&
        g_str_has_prefix(e->manifest->source, "download:"))
      return g_strdup(e->dir);
  }
  return NULL;
}

/* Keeps only the files the engine needs and checks them against the pinned table. */
static GPtrArray *select_files(const HsModelComponent *c, GPtrArray *all, GError **error)
{
  g_autoptr(GHashTable) listed = g_hash_table_new(g_str_hash, g_str_equal);
  GPtrArray *wanted = g_ptr_array_new_with_free_func((GDestroyNotify)hs_hub_file_free);

  for (guint i = 0; i < all->len; i++)
    g_hash_table_add(listed, ((HsHubFile *)all->pdata[i])->path);
  for (guint i = 0; i < all->len; i++) {
    HsHubFile *f = all->pdata[i];
    const HsPinnedFile *pin = hs_model_component_pinned(c, f->path);
    if (!hs_model_component_wants(c, f->path, listed))
      continue;
    if (pin != NULL && (pin->size != f->size ||
                        g_ascii_strcasecmp(pin->sha256, f->sha256 ? f->sha256 : "") != 0)) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "%s: %s differs from the pinned release (size or SHA-256); refused", c->repo_id,
                  f->path);
      g_ptr_array_unref(wanted);
      return NULL;
    }
    if (f->sha256 == NULL && f->git_oid == NULL) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "%s: %s has no hash in the listing; refused", c->repo_id, f->path);
      g_ptr_array_unref(wanted);
      return NULL;
    }
    g_ptr_array_add(wanted, g_steal_pointer(&all->pdata[i]));
  }
  if (wanted->len == 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: none of the needed files is listed",
                c->repo_id);
    g_ptr_array_unref(wanted);
    return NULL;
  }
  return wanted;
}

/* The manifest of the revision: files from the listing; files an earlier run completed stay
 * complete when they are still there with the same size and expected hash. */
static HsModelManifest *plan_manifest(const HsModelComponent *c, const char *dir,
                                      const char *revision, const char *base, GPtrArray *listing)
{
  g_autoptr(HsModelManifest) old = hs_model_manifest_load(dir, NULL);
  HsModelManifest *m = hs_model_manifest_new(c->repo_id, revision, c->part);

  g_free(m->requested_revision);
  m->requested_revision = g_strdup(c->revision);
  g_free(m->source);
  m->source = g_strconcat("download:", base, NULL);
  for (guint i = 0; i < listing->len; i++) {
    HsHubFile *hf = listing->pdata[i];
    HsModelFile *f = hs_model_manifest_add(m, hf->path, hf->size);
    HsModelFile *prev = old ? hs_model_manifest_find(old, hf->path) : NULL;
    g_autofree char *path = g_build_filename(dir, hf->path, NULL);

    f->sha256 = g_strdup(hf->sha256);
    f->git_oid = g_strdup(hf->git_oid);
    if (prev != NULL && prev->state == HS_MODEL_FILE_COMPLETE && prev->size == hf->size &&
        prev->sha256 != NULL && (hf->sha256 == NULL || strcmp(prev->sha256, hf->sha256) == 0) &&
        hs_fs_file_size(path) == (gint64)hf->size) {
      f->state = HS_MODEL_FILE_COMPLETE;
      g_free(f->sha256);
      f->sha256 = g_strdup(prev->sha256);
    }
  }
  return m;
}

static gboolean plan_component(HsModelStore *store, SoupSession *session, const char *base, Plan *p,
                               GCancellable *cancellable, GError **error)
{
  const HsModelComponent *c = p->component;
  g_autofree char *revision = NULL;
  g_autoptr(GPtrArray) all = NULL;

  if ((p->dir = find_ready_for(store, c)) != NULL) {
    p->ready = TRUE;
    return TRUE;
  }
  revision = hs_hub_resolve_revision(session, base, c->repo_id, c->revision, cancellable, error);
  if (revision == NULL)
    return FALSE;
  p->dir = hs_model_store_entry_dir(store, c->repo_id, revision);
  if (p->dir == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "invalid repository %s or revision %s",
                c->repo_id, revision);
    return FALSE;
  }
  all = hs_hub_list_files(session, base, c->repo_id, revision, cancellable, error);
  if (all == NULL || (p->listing = select_files(c, all, error)) == NULL)
    return FALSE;
  if (g_mkdir_with_parents(p->dir, 0755) != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot create %s", p->dir);
    return FALSE;
  }
  p->manifest = plan_manifest(c, p->dir, revision, base, p->listing);
  return hs_model_manifest_save(p->manifest, p->dir, error);
}

/* Bytes still to write: missing parts of pending files, plus a converted copy of each torch
 * checkpoint (written beside it before the checkpoint is removed). */
static guint64 bytes_needed(Plan *plans, guint n)
{
  guint64 need = 0;
  for (guint i = 0; i < n; i++) {
    for (guint j = 0; !plans[i].ready && j < plans[i].manifest->files->len; j++) {
      HsModelFile *f = plans[i].manifest->files->pdata[j];
      g_autofree char *part = g_strconcat(plans[i].dir, "/", f->path, ".part", NULL);
      gint64 have = hs_fs_file_size(part);
      if (f->state != HS_MODEL_FILE_COMPLETE)
        need += f->size - (guint64)CLAMP(have, 0, (gint64)f->size);
      if (g_str_has_suffix(f->path, ".bin"))
        need += f->size;
    }
  }
  return need;
}

static gboolean check_space(HsModelStore *store, guint64 need, GError **error)
{
  guint64 free_bytes = 0;
  g_autofree char *need_s = NULL;
  g_autofree char *free_s = NULL;

  if (store->free_space_override >= 0)
    free_bytes = (guint64)store->free_space_override;
  else if (!hs_fs_free_space(store->root, &free_bytes, error))
    return FALSE;
  if (free_bytes >= need + FREE_SPACE_MARGIN)
    return TRUE;
  need_s = g_format_size(need + FREE_SPACE_MARGIN);
  free_s = g_format_size(free_bytes);
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
              "not enough disk space in %s: %s needed, %s free", store->root, need_s, free_s);
  return FALSE;
}

static gboolean download_component(HsModelStore *store, SoupSession *session, const char *base,
                                   Plan *p, Tracker *t, GCancellable *cancellable, GError **error)
{
  HsModelManifest *m = p->manifest;

  for (guint i = 0; i < m->files->len; i++) {
    HsModelFile *f = m->files->pdata[i];
    HsHubFile *hf = p->listing->pdata[i];
    g_autofree char *url = NULL;
    g_autofree char *dest = NULL;
    HsDownloadStats stats;

    t->p.file_index++;
    if (f->state == HS_MODEL_FILE_COMPLETE) {
      t->file_base += f->size;
      continue;
    }
    url = hs_hub_file_url(base, m->repo_id, m->revision, f->path);
    dest = g_build_filename(p->dir, f->path, NULL);
    tracker_phase(t, HS_MODEL_PHASE_DOWNLOADING, m->repo_id, f->path);
    if (!hs_download_file(session, url, dest, hf->size, hf->sha256, hf->git_oid, &store->policy,
                          on_file_progress, t, &stats, cancellable, error))
      return FALSE;
    g_free(f->sha256);
    f->sha256 = g_strdup(stats.sha256);
    f->state = HS_MODEL_FILE_COMPLETE;
    t->file_base += f->size;
    tracker_bytes(t, t->file_base);
    tracker_emit(t, TRUE); /* each finished file shows, whatever the throttle says */
    if (!hs_model_manifest_save(m, p->dir, error))
      return FALSE;
  }
  return finish_entry(m, p->dir, t, cancellable, error);
}

/* One writer per store across processes (the app and `hart-models`): an exclusive flock on
 * <root>/.lock, released when the fd closes. Returns the fd, or -1 with G_IO_ERROR_BUSY. */
static int store_lock(HsModelStore *store, GError **error)
{
  g_autofree char *path = g_build_filename(store->root, ".lock", NULL);
  int fd;

  if (g_mkdir_with_parents(store->root, 0755) != 0 ||
      (fd = g_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot open %s: %s", path,
                g_strerror(errno));
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY,
                "another download or import is using the model store %s", store->root);
    return -1;
  }
  return fd;
}

gboolean hs_model_store_download_sync(HsModelStore *store, const HsModelRelease *release,
                                      const char *base_url, HsModelProgressFunc progress,
                                      gpointer user_data, GCancellable *cancellable, GError **error)
{
  g_autofree char *base = base_url ? g_strdup(base_url) : hs_hub_base_url();
  g_autoptr(SoupSession) session = hs_hub_session_new(store->timeout_s);
  Plan plans[G_N_ELEMENTS(release->components)] = { 0 };
  Tracker t = { 0 };
  gboolean ok = TRUE;
  guint n = release->n_components;
  int lock_fd = store_lock(store, error);

  if (lock_fd < 0)
    return FALSE;
  t.func = progress;
  t.user_data = user_data;
  t.p.eta_seconds = -1;
  tracker_phase(&t, HS_MODEL_PHASE_PREPARING, NULL, NULL);
  for (guint i = 0; ok && i < n; i++) {
    plans[i].component = &release->components[i];
    ok = plan_component(store, session, base, &plans[i], cancellable, error);
  }
  for (guint i = 0; ok && i < n; i++) {
    for (guint j = 0; !plans[i].ready && j < plans[i].manifest->files->len; j++)
      t.p.bytes_total += ((HsModelFile *)plans[i].manifest->files->pdata[j])->size;
    t.p.n_files += plans[i].ready ? 0 : plans[i].manifest->files->len;
  }
  ok = ok && check_space(store, bytes_needed(plans, n), error);
  for (guint i = 0; ok && i < n; i++)
    if (!plans[i].ready)
      ok = download_component(store, session, base, &plans[i], &t, cancellable, error);
  if (ok)
    tracker_phase(&t, HS_MODEL_PHASE_DONE, NULL, NULL);
  for (guint i = 0; i < n; i++)
    plan_clear(&plans[i]);
  close(lock_fd);
  return ok;
}

/* ---- async download with ::progress on the store's main context ---- */

static gboolean emit_pending(gpointer data)
{
  HsModelStore *self = data;
  HsModelProgress p;
  g_autofree char *repo = NULL;
  g_autofree char *path = NULL;

  g_mutex_lock(&self->lock);
  p = self->pending;
  repo = g_steal_pointer(&self->pending_repo);
  path = g_steal_pointer(&self->pending_path);
  p.repo_id = repo;
  p.path = path;
  self->pending_scheduled = FALSE;
  g_mutex_unlock(&self->lock);
  self->last = p;
  g_free(self->last_repo);
  g_free(self->last_path);
  self->last_repo = g_strdup(repo);
  self->last_path = g_strdup(path);
  self->last.repo_id = self->last_repo;
  self->last.path = self->last_path;
  g_signal_emit(self, signals[SIGNAL_PROGRESS], 0, &p);
  return G_SOURCE_REMOVE;
}

/* Worker side: store the latest snapshot; at most one emission is queued at any time. */
static void queue_progress(const HsModelProgress *p, gpointer data)
{
  HsModelStore *self = data;
  gboolean schedule;

  g_mutex_lock(&self->lock);
  self->pending = *p;
  g_free(self->pending_repo);
  g_free(self->pending_path);
  self->pending_repo = g_strdup(p->repo_id);
  self->pending_path = g_strdup(p->path);
  schedule = !self->pending_scheduled;
  self->pending_scheduled = TRUE;
  g_mutex_unlock(&self->lock);
  if (schedule) {
    /* Always through a source: g_main_context_invoke would run the handler right here on the
     * worker whenever the main thread happens not to hold its context. */
    GSource *source = g_idle_source_new();
    g_source_set_priority(source, G_PRIORITY_DEFAULT);
    g_source_set_callback(source, emit_pending, g_object_ref(self), g_object_unref);
    g_source_attach(source, self->context);
    g_source_unref(source);
  }
}

typedef struct {
  const HsModelRelease *release;
  char *base_url;
} DownloadData;

static void download_data_free(DownloadData *d)
{
  g_free(d->base_url);
  g_free(d);
}

static void download_thread(GTask *task, gpointer source, gpointer task_data,
                            GCancellable *cancellable)
{
  DownloadData *d = task_data;
  GError *error = NULL;

  if (hs_model_store_download_sync(source, d->release, d->base_url, queue_progress, source,
                                   cancellable, &error))
    g_task_return_boolean(task, TRUE);
  else
    g_task_return_error(task, error);
}

void hs_model_store_download_async(HsModelStore *store, const HsModelRelease *release,
                                   const char *base_url, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(store, cancellable, callback, user_data);
  DownloadData *d = g_new0(DownloadData, 1);

  d->release = release;
  d->base_url = g_strdup(base_url);
  g_task_set_source_tag(task, hs_model_store_download_async);
  g_task_set_task_data(task, d, (GDestroyNotify)download_data_free);
  /* The store's own cancellation is in the transfer: a cancelled task still reports the
   * G_IO_ERROR_CANCELLED the download returned, after the .part file is closed. */
  g_task_set_return_on_cancel(task, FALSE);
  g_task_run_in_thread(task, download_thread);
}

gboolean hs_model_store_download_finish(HsModelStore *store, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, store), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---- the store's own download ---- */

static void on_own_download_done(GObject *source, GAsyncResult *result, gpointer data)
{
  HsModelStore *self = HS_MODEL_STORE(source);
  g_autoptr(GError) error = NULL;

  hs_model_store_download_finish(self, result, &error);
  g_clear_object(&self->download_cancellable);
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_DOWNLOADING]);
  g_signal_emit(self, signals[SIGNAL_DOWNLOAD_FINISHED], 0, error);
}

void hs_model_store_start_download(HsModelStore *store, const HsModelRelease *release,
                                   const char *base_url)
{
  if (store->download_cancellable != NULL)
    return;
  store->download_cancellable = g_cancellable_new();
  memset(&store->last, 0, sizeof store->last);
  store->last.eta_seconds = -1;
  g_object_notify_by_pspec(G_OBJECT(store), props[PROP_DOWNLOADING]);
  /* The task holds a reference on the store until the download ends. */
  hs_model_store_download_async(store, release, base_url, store->download_cancellable,
                                on_own_download_done, NULL);
}

void hs_model_store_cancel_download(HsModelStore *store)
{
  if (store->download_cancellable != NULL)
    g_cancellable_cancel(store->download_cancellable);
}

gboolean hs_model_store_get_downloading(HsModelStore *store)
{
  return store->download_cancellable != NULL;
}

const HsModelProgress *hs_model_store_get_last_progress(HsModelStore *store)
{
  return &store->last;
}

/* ---- import ---- */

/* "local-" + 16 hex digits of a hash over the sorted (path, sha256) pairs: the same folder
 * imported twice lands in the same entry. */
static char *local_revision(HsModelManifest *m)
{
  g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
  for (guint i = 0; i < m->files->len; i++) {
    HsModelFile *f = m->files->pdata[i];
    g_checksum_update(sum, (const guchar *)f->path, -1);
    g_checksum_update(sum, (const guchar *)"\n", 1);
    g_checksum_update(sum, (const guchar *)f->sha256, -1);
    g_checksum_update(sum, (const guchar *)"\n", 1);
  }
  return g_strdup_printf("local-%.16s", g_checksum_get_string(sum));
}

static const HsModelComponent *component_for_part(HsModelPart part)
{
  const HsModelRelease *r = hs_model_release_default();
  for (guint i = 0; i < r->n_components; i++)
    if (r->components[i].part == part)
      return &r->components[i];
  return NULL;
}

static gboolean copy_files(const char *src_dir, const char *staging, HsModelManifest *m, Tracker *t,
                           GCancellable *cancellable, GError **error)
{
  for (guint i = 0; i < m->files->len; i++) {
    HsModelFile *f = m->files->pdata[i];
    g_autofree char *src = g_build_filename(src_dir, f->path, NULL);
    g_autofree char *dest = g_build_filename(staging, f->path, NULL);

    t->p.file_index = i + 1;
    tracker_phase(t, HS_MODEL_PHASE_COPYING, m->repo_id, f->path);
    if (!hs_fs_copy_hashed(src, dest, &f->sha256, cancellable, error))
      return FALSE;
    f->state = HS_MODEL_FILE_COMPLETE;
    t->file_base += f->size;
    tracker_bytes(t, t->file_base);
  }
  return TRUE;
}

static HsModelManifest *import_manifest(const char *src_dir, const HsModelComponent *c,
                                        GError **error)
{
  g_autoptr(GPtrArray) files = hs_fs_list_files(src_dir, error);
  g_autoptr(GHashTable) listed = g_hash_table_new(g_str_hash, g_str_equal);
  HsModelManifest *m;

  if (files == NULL)
    return NULL;
  for (guint i = 0; i < files->len; i++)
    g_hash_table_add(listed, files->pdata[i]);
  m = hs_model_manifest_new(c->repo_id, "local", c->part);
  g_free(m->source);
  m->source = g_strconcat("import:", src_dir, NULL);
  for (guint i = 0; i < files->len; i++) {
    g_autofree char *path = g_build_filename(src_dir, files->pdata[i], NULL);
    if (hs_model_component_wants(c, files->pdata[i], listed))
      hs_model_manifest_add(m, files->pdata[i], (guint64)hs_fs_file_size(path));
  }
  return m;
}

static char *import_locked(HsModelStore *store, const char *src_dir, HsModelProgressFunc progress,
                           gpointer user_data, GCancellable *cancellable, GError **error)
{
  g_autoptr(HsModelManifest) m = NULL;
  g_autofree char *staging = NULL;
  g_autofree char *revision = NULL;
  g_autofree char *dir = NULL;
  const HsModelComponent *c;
  HsModelPart part;
  Tracker t = { 0 };

  t.func = progress;
  t.user_data = user_data;
  t.p.eta_seconds = -1;
  /* Refuse a broken folder before copying gigabytes of it. */
  if (!hs_model_detect_part(src_dir, &part, error) || !hs_model_validate_dir(src_dir, part, error))
    return NULL;
  c = component_for_part(part);
  if ((m = import_manifest(src_dir, c, error)) == NULL)
    return NULL;
  for (guint i = 0; i < m->files->len; i++)
    t.p.bytes_total += ((HsModelFile *)m->files->pdata[i])->size;
  t.p.n_files = m->files->len;
  staging = g_build_filename(store->root, ".import-XXXXXX", NULL);
  if (g_mkdir_with_parents(store->root, 0755) != 0 || g_mkdtemp(staging) == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot create a folder in %s", store->root);
    return NULL;
  }
  if (!check_space(store, t.p.bytes_total, error) ||
      !copy_files(src_dir, staging, m, &t, cancellable, error))
    goto fail;
  revision = local_revision(m);
  g_free(m->revision);
  m->revision = g_strdup(revision);
  g_free(m->requested_revision);
  m->requested_revision = g_strdup(revision);
  dir = hs_model_store_entry_dir(store, c->repo_id, revision);
  if (!finish_entry(m, staging, &t, cancellable, error))
    goto fail;
  {
    g_autofree char *parent = g_path_get_dirname(dir);
    /* Same content imported again: the new copy replaces the old one. */
    if (g_mkdir_with_parents(parent, 0755) != 0 || !hs_fs_remove_tree(dir, error))
      goto fail;
    if (g_rename(staging, dir) != 0) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot move %s to %s", staging, dir);
      goto fail;
    }
  }
  tracker_phase(&t, HS_MODEL_PHASE_DONE, NULL, NULL);
  return g_steal_pointer(&dir);

fail:
  hs_fs_remove_tree(staging, NULL);
  return NULL;
}

char *hs_model_store_import_sync(HsModelStore *store, const char *src_dir,
                                 HsModelProgressFunc progress, gpointer user_data,
                                 GCancellable *cancellable, GError **error)
{
  int lock_fd = store_lock(store, error);
  char *dir;

  if (lock_fd < 0)
    return NULL;
  dir = import_locked(store, src_dir, progress, user_data, cancellable, error);
  close(lock_fd);
  return dir;
}

/* ---- verify and delete ---- */

static gboolean verify_files(HsModelManifest *m, const char *dir, Tracker *t,
                             GCancellable *cancellable, GError **error)
{
  for (guint i = 0; i < m->files->len; i++) {
    HsModelFile *f = m->files->pdata[i];
    g_autofree char *path = g_build_filename(dir, f->path, NULL);
    g_autofree char *sha = NULL;

    t->p.file_index = i + 1;
    if (f->state != HS_MODEL_FILE_COMPLETE)
      continue;
    tracker_phase(t, HS_MODEL_PHASE_VERIFYING, m->repo_id, f->path);
    if (hs_fs_file_size(path) != (gint64)f->size) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "%s: missing or not %" G_GUINT64_FORMAT " bytes long", path, f->size);
      return FALSE;
    }
    if ((sha = hs_file_sha256(path, cancellable, error)) == NULL)
      return FALSE;
    if (f->sha256 == NULL || g_ascii_strcasecmp(sha, f->sha256) != 0) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "%s: SHA-256 %s does not match the recorded %s", path, sha,
                  f->sha256 ? f->sha256 : "(none)");
      return FALSE;
    }
    t->file_base += f->size;
    tracker_bytes(t, t->file_base);
  }
  return TRUE;
}

gboolean hs_model_store_verify_sync(HsModelStore *store, const char *entry_dir,
                                    HsModelProgressFunc progress, gpointer user_data,
                                    GCancellable *cancellable, GError **error)
{
  g_autoptr(HsModelManifest) m = hs_model_manifest_load(entry_dir, error);
  Tracker t = { 0 };
  GError *local = NULL;

  if (m == NULL)
    return FALSE;
  t.func = progress;
  t.user_data = user_data;
  t.p.eta_seconds = -1;
  t.p.n_files = m->files->len;
  t.p.bytes_total = hs_model_manifest_size_on_disk(m);
  if (!verify_files(m, entry_dir, &t, cancellable, &local)) {
    if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_propagate_error(error, local);
      return FALSE;
    }
    return mark_broken(m, entry_dir, local, error);
  }
  tracker_phase(&t, HS_MODEL_PHASE_VALIDATING, m->repo_id, NULL);
  if (!hs_model_validate_dir(entry_dir, m->part, &local))
    return mark_broken(m, entry_dir, local, error);
  if (m->state != HS_MODEL_STATE_READY)
    hs_model_manifest_set_message(m, HS_MODEL_STATE_READY, NULL);
  return hs_model_manifest_save(m, entry_dir, error);
}

gboolean hs_model_store_delete(HsModelStore *store, const char *entry_dir, GError **error)
{
  g_autofree char *root = g_canonicalize_filename(store->root, NULL);
  g_autofree char *dir = g_canonicalize_filename(entry_dir, NULL);
  g_autofree char *parent = g_path_get_dirname(dir);
  g_autofree char *grandparent = g_path_get_dirname(parent);

  /* Exactly <root>/<repo>/<revision>: nothing else is ever removed. */
  if (strcmp(grandparent, root) != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "%s is not a model folder of the store %s", entry_dir, store->root);
    return FALSE;
  }
  if (!hs_fs_remove_tree(dir, error))
    return FALSE;
  g_rmdir(parent); /* fails harmlessly while other revisions remain */
  return TRUE;
}

static char *pick_ready(GPtrArray *entries, const HsModelComponent *c)
{
  HsModelEntry *fallback = NULL;
  for (guint i = 0; i < entries->len; i++) {
    HsModelEntry *e = entries->pdata[i];
    if (e->manifest->state != HS_MODEL_STATE_READY || e->manifest->part != c->part)
      continue;
    if (g_strcmp0(e->manifest->repo_id, c->repo_id) == 0 &&
        g_strcmp0(e->manifest->requested_revision, c->revision) == 0)
      return g_strdup(e->dir);
    if (fallback == NULL && g_str_has_prefix(e->manifest->source, "import:"))
      fallback = e;
  }
  return fallback ? g_strdup(fallback->dir) : NULL;
}

gboolean hs_model_store_find_ready(HsModelStore *store, const HsModelRelease *release,
                                   char **hart_dir, char **text_dir)
{
  g_autoptr(GPtrArray) entries = hs_model_store_list(store);
  *hart_dir = NULL;
  *text_dir = NULL;
  for (guint i = 0; i < release->n_components; i++) {
    const HsModelComponent *c = &release->components[i];
    char **slot = c->part == HS_MODEL_PART_HART ? hart_dir : text_dir;
    if (*slot == NULL)
      *slot = pick_ready(entries, c);
  }
  if (*hart_dir != NULL && *text_dir != NULL)
    return TRUE;
  g_clear_pointer(hart_dir, g_free);
  g_clear_pointer(text_dir, g_free);
  return FALSE;
}
