/* hs-models-page.c: the Models preferences page and the first-run view (see the header). */
#include "hs-models-page.h"

#include <glib/gi18n.h>

#include "hs-demo-model.h"
#include "hs-models-download-view.h"

/* ---- running store work off the main thread ---- */

typedef enum { JOB_IMPORT, JOB_VERIFY } JobKind;

typedef struct {
  JobKind kind;
  char *path;
} Job;

static void job_free(Job *job)
{
  g_free(job->path);
  g_free(job);
}

static void job_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Job *job = data;
  GError *error = NULL;
  HsModelStore *store = HS_MODEL_STORE(source);
  char *dir = NULL;
  gboolean ok;

  if (job->kind == JOB_IMPORT) {
    dir = hs_model_store_import_sync(store, job->path, NULL, NULL, cancellable, &error);
    ok = dir != NULL;
  } else {
    ok = hs_model_store_verify_sync(store, job->path, NULL, NULL, cancellable, &error);
  }
  if (ok)
    g_task_return_pointer(task, dir ? dir : g_strdup(job->path), g_free);
  else
    g_task_return_error(task, error);
}

static void run_job(HsModelStore *store, JobKind kind, const char *path, GAsyncReadyCallback done,
                    gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(store, NULL, done, user_data);
  Job *job = g_new0(Job, 1);
  job->kind = kind;
  job->path = g_strdup(path);
  g_task_set_task_data(task, job, (GDestroyNotify)job_free);
  g_task_run_in_thread(task, job_thread);
}

/* ---- the preferences page ---- */

struct _HsModelsPage {
  AdwPreferencesPage parent_instance;
  HsModelStore *store;
  const HsModelRelease *release;
  AdwPreferencesGroup *installed;
  GPtrArray *rows; /* the rows of `installed`, removed on refresh */
  guint n_entries; /* entries those rows show */
  GtkWidget *import_row;
  gboolean has_demo; /* the demo model's row is shown */
  gulong finished_id;
};

G_DEFINE_FINAL_TYPE(HsModelsPage, hs_models_page, ADW_TYPE_PREFERENCES_PAGE)

static void page_set_note(HsModelsPage *self, const char *text)
{
  adw_action_row_set_subtitle(ADW_ACTION_ROW(self->import_row), text);
}

static void on_job_done(GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(HsModelsPage) self = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_task_propagate_pointer(G_TASK(result), &error);

  if (self->store == NULL)
    return; /* disposed meanwhile */
  if (dir != NULL) {
    g_autofree char *note = g_strdup_printf(_("Done: %s"), dir);
    page_set_note(self, note);
  } else {
    page_set_note(self, error->message);
  }
  hs_models_page_refresh(self);
}

static void on_verify(GtkButton *button, HsModelsPage *self)
{
  const char *dir = g_object_get_data(G_OBJECT(button), "hs-entry-dir");
  page_set_note(self, _("Verifying…"));
  run_job(self->store, JOB_VERIFY, dir, on_job_done, g_object_ref(self));
}

static void on_delete(GtkButton *button, HsModelsPage *self)
{
  const char *dir = g_object_get_data(G_OBJECT(button), "hs-entry-dir");
  g_autoptr(GError) error = NULL;

  if (!hs_model_store_delete(self->store, dir, &error))
    page_set_note(self, error->message);
  hs_models_page_refresh(self);
}

static GtkWidget *entry_button(const char *label, const char *dir)
{
  GtkWidget *b = gtk_button_new_with_mnemonic(label);
  gtk_widget_set_valign(b, GTK_ALIGN_CENTER);
  g_object_set_data_full(G_OBJECT(b), "hs-entry-dir", g_strdup(dir), g_free);
  return b;
}

static GtkWidget *entry_row(HsModelsPage *self, const HsModelEntry *e)
{
  GtkWidget *row = adw_action_row_new();
  GtkWidget *verify = entry_button(_("_Verify"), e->dir);
  GtkWidget *del = entry_button(_("_Delete"), e->dir);
  g_autofree char *size = g_format_size(hs_model_manifest_size_on_disk(e->manifest));
  g_autofree char *rev = g_strndup(e->manifest->revision, 22);
  g_autofree char *subtitle = NULL;

  subtitle = g_strdup_printf("%s · %s · %s%s%s", rev, size, hs_model_state_name(e->manifest->state),
                             e->manifest->message[0] ? " · " : "", e->manifest->message);
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), e->manifest->repo_id);
  adw_action_row_set_subtitle(ADW_ACTION_ROW(row), subtitle);
  adw_action_row_set_subtitle_lines(ADW_ACTION_ROW(row), 3);
  g_signal_connect(verify, "clicked", G_CALLBACK(on_verify), self);
  g_signal_connect(del, "clicked", G_CALLBACK(on_delete), self);
  gtk_widget_add_css_class(del, "destructive-action");
  adw_action_row_add_suffix(ADW_ACTION_ROW(row), verify);
  adw_action_row_add_suffix(ADW_ACTION_ROW(row), del);
  return row;
}

void hs_models_page_refresh(HsModelsPage *self)
{
  g_autoptr(GPtrArray) entries = hs_model_store_list(self->store);

  for (guint i = 0; i < self->rows->len; i++)
    adw_preferences_group_remove(self->installed, self->rows->pdata[i]);
  g_ptr_array_set_size(self->rows, 0);
  self->n_entries = entries->len;
  for (guint i = 0; i < entries->len; i++) {
    GtkWidget *row = entry_row(self, entries->pdata[i]);
    adw_preferences_group_add(self->installed, row);
    g_ptr_array_add(self->rows, row);
  }
  if (entries->len == 0) {
    GtkWidget *row = adw_action_row_new();
    /* Beside the demo model's row, "none installed" would read as a contradiction. */
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row),
                                  self->has_demo ? _("Nothing downloaded or imported yet")
                                                 : _("No models installed"));
    adw_preferences_group_add(self->installed, row);
    g_ptr_array_add(self->rows, row);
  }
}

guint hs_models_page_get_n_entries(HsModelsPage *self)
{
  return self->n_entries;
}

void hs_models_page_import(HsModelsPage *self, const char *folder)
{
  page_set_note(self, _("Importing and verifying…"));
  run_job(self->store, JOB_IMPORT, folder, on_job_done, g_object_ref(self));
}

static void on_chooser_response(GtkNativeDialog *dialog, int response, HsModelsPage *self)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
    g_autofree char *path = file ? g_file_get_path(file) : NULL;
    if (path != NULL)
      hs_models_page_import(self, path);
  }
  g_object_unref(dialog);
}

static GtkFileChooserNative *folder_chooser(GtkWidget *from)
{
  GtkRoot *root = gtk_widget_get_root(from);
  return gtk_file_chooser_native_new(_("Import Model Folder"),
                                     GTK_IS_WINDOW(root) ? GTK_WINDOW(root) : NULL,
                                     GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Import"), NULL);
}

static void on_import_clicked(GtkButton *button, HsModelsPage *self)
{
  GtkFileChooserNative *chooser = folder_chooser(GTK_WIDGET(self));
  g_signal_connect(chooser, "response", G_CALLBACK(on_chooser_response), self);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(chooser));
}

static void on_download_finished(HsModelStore *store, const GError *error, HsModelsPage *self)
{
  hs_models_page_refresh(self);
}

static void hs_models_page_dispose(GObject *object)
{
  HsModelsPage *self = HS_MODELS_PAGE(object);
  if (self->store != NULL)
    g_clear_signal_handler(&self->finished_id, self->store);
  g_clear_object(&self->store);
  g_clear_pointer(&self->rows, g_ptr_array_unref);
  G_OBJECT_CLASS(hs_models_page_parent_class)->dispose(object);
}

static void hs_models_page_class_init(HsModelsPageClass *klass)
{
  G_OBJECT_CLASS(klass)->dispose = hs_models_page_dispose;
}

static void hs_models_page_init(HsModelsPage *self)
{
  self->rows = g_ptr_array_new();
}

static AdwPreferencesGroup *add_group(HsModelsPage *self, const char *title,
                                      const char *description)
{
  GtkWidget *group = adw_preferences_group_new();
  adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(group), title);
  if (description != NULL)
    adw_preferences_group_set_description(ADW_PREFERENCES_GROUP(group), description);
  adw_preferences_page_add(ADW_PREFERENCES_PAGE(self), ADW_PREFERENCES_GROUP(group));
  return ADW_PREFERENCES_GROUP(group);
}

/* The demo model that ships with the app, first in the list (it is not in the store: it cannot be
 * verified or deleted, and is used only while no other model is configured or ready). */
static void add_demo_row(HsModelsPage *self)
{
  g_autofree char *root = hs_demo_model_find(NULL, NULL, NULL);
  g_autofree char *subtitle = NULL;
  GtkWidget *row;

  if (root == NULL)
    return;
  row = adw_action_row_new();
  subtitle = g_strdup_printf(
      _("Small pictures of simple shapes, used while no other model is ready · %s"), root);
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), _("Demo model (built in)"));
  adw_action_row_set_subtitle(ADW_ACTION_ROW(row), subtitle);
  adw_action_row_set_subtitle_lines(ADW_ACTION_ROW(row), 3);
  adw_preferences_group_add(self->installed, row);
  self->has_demo = TRUE;
}

GtkWidget *hs_models_page_new(HsModelStore *store, const HsModelRelease *release,
                              const char *base_url)
{
  HsModelsPage *self = g_object_new(HS_TYPE_MODELS_PAGE, "title", _("Models"), "icon-name",
                                    "folder-download-symbolic", "name", "models", NULL);
  AdwPreferencesGroup *group;
  GtkWidget *view, *button;

  self->store = g_object_ref(store);
  self->release = release;
  group = add_group(self, _("Download"),
                    _("HART 0.7B and its Qwen2 text encoder from Hugging Face, about 11.5 GB. "
                      "Every file is checked against its SHA-256."));
  view = hs_models_download_view_new(store, release, base_url);
  gtk_widget_set_margin_top(view, 6);
  adw_preferences_group_add(group, view);

  self->installed = add_group(self, _("Installed"), hs_model_store_get_root(store));
  add_demo_row(self);
  self->import_row = adw_action_row_new();
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->import_row),
                                _("Import an existing copy (llm/ and tokenizer/, or Qwen2)"));
  button = gtk_button_new_with_mnemonic(_("_Import Folder…"));
  gtk_widget_set_valign(button, GTK_ALIGN_CENTER);
  g_signal_connect(button, "clicked", G_CALLBACK(on_import_clicked), self);
  adw_action_row_add_suffix(ADW_ACTION_ROW(self->import_row), button);
  group = add_group(self, _("Import"), NULL);
  adw_preferences_group_add(group, self->import_row);

  self->finished_id =
      g_signal_connect(store, "download-finished", G_CALLBACK(on_download_finished), self);
  hs_models_page_refresh(self);
  return GTK_WIDGET(self);
}

/* ---- the first-run view ---- */

struct _HsModelsFirstRun {
  GtkWidget parent_instance;
  HsModelStore *store;
  const HsModelRelease *release;
  GtkWidget *status_page;
  GtkWidget *view;
  GtkWidget *note;
  gulong finished_id;
};

G_DEFINE_FINAL_TYPE(HsModelsFirstRun, hs_models_first_run, GTK_TYPE_WIDGET)

enum { FIRST_RUN_READY, FIRST_RUN_N_SIGNALS };
static guint first_run_signals[FIRST_RUN_N_SIGNALS];

static void first_run_check_ready(HsModelsFirstRun *self)
{
  g_autofree char *hart = NULL;
  g_autofree char *text = NULL;
  if (hs_model_store_find_ready(self->store, self->release, &hart, &text))
    g_signal_emit(self, first_run_signals[FIRST_RUN_READY], 0, hart, text);
}

static void on_first_run_finished(HsModelStore *store, const GError *error, HsModelsFirstRun *self)
{
  if (error == NULL)
    first_run_check_ready(self);
}

static void on_first_run_import_done(GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(HsModelsFirstRun) self = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_task_propagate_pointer(G_TASK(result), &error);

  if (self->store == NULL)
    return;
  gtk_label_set_text(GTK_LABEL(self->note),
                     dir ? _("Imported. Import the other part too if it is still missing.")
                         : error->message);
  first_run_check_ready(self);
}

static void on_first_run_chooser(GtkNativeDialog *dialog, int response, HsModelsFirstRun *self)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
    g_autofree char *path = file ? g_file_get_path(file) : NULL;
    if (path != NULL) {
      gtk_label_set_text(GTK_LABEL(self->note), _("Importing and verifying…"));
      run_job(self->store, JOB_IMPORT, path, on_first_run_import_done, g_object_ref(self));
    }
  }
  g_object_unref(dialog);
}

static void on_first_run_import(GtkButton *button, HsModelsFirstRun *self)
{
  GtkFileChooserNative *chooser = folder_chooser(GTK_WIDGET(self));
  g_signal_connect(chooser, "response", G_CALLBACK(on_first_run_chooser), self);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(chooser));
}

static void hs_models_first_run_dispose(GObject *object)
{
  HsModelsFirstRun *self = HS_MODELS_FIRST_RUN(object);
  if (self->store != NULL)
    g_clear_signal_handler(&self->finished_id, self->store);
  g_clear_object(&self->store);
  g_clear_pointer(&self->status_page, gtk_widget_unparent);
  G_OBJECT_CLASS(hs_models_first_run_parent_class)->dispose(object);
}

static void hs_models_first_run_class_init(HsModelsFirstRunClass *klass)
{
  G_OBJECT_CLASS(klass)->dispose = hs_models_first_run_dispose;
  gtk_widget_class_set_layout_manager_type(GTK_WIDGET_CLASS(klass), GTK_TYPE_BIN_LAYOUT);
  /* ::ready (const char *hart_dir, const char *text_dir): both parts are installed. */
  first_run_signals[FIRST_RUN_READY] =
      g_signal_new("ready", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                   G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
}

static void hs_models_first_run_init(HsModelsFirstRun *self)
{
}

GtkWidget *hs_models_first_run_new(HsModelStore *store, const HsModelRelease *release,
                                   const char *base_url)
{
  HsModelsFirstRun *self = g_object_new(HS_TYPE_MODELS_FIRST_RUN, NULL);
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
  GtkWidget *import = gtk_button_new_with_mnemonic(_("_Import Existing Folder…"));
  GtkWidget *clamp = adw_clamp_new();
  g_autofree char *desc = NULL;

  self->store = g_object_ref(store);
  self->release = release;
  self->status_page = adw_status_page_new();
  gtk_widget_set_parent(self->status_page, GTK_WIDGET(self));
  adw_status_page_set_icon_name(ADW_STATUS_PAGE(self->status_page), "folder-download-symbolic");
  adw_status_page_set_title(ADW_STATUS_PAGE(self->status_page), _("Download HART"));
  desc = g_strdup_printf(
      _("Hart Studio generates images on this computer with the HART model (%s and %s, about "
        "11.5 GB). The download can be paused and continues where it stopped; every file is "
        "checked against its SHA-256. Models are kept in %s."),
      release->components[0].repo_id, release->components[1].repo_id,
      hs_model_store_get_root(store));
  adw_status_page_set_description(ADW_STATUS_PAGE(self->status_page), desc);
  self->view = hs_models_download_view_new(store, release, base_url);
  self->note = gtk_label_new("");
  gtk_label_set_wrap(GTK_LABEL(self->note), TRUE);
  gtk_widget_add_css_class(self->note, "dim-label");
  gtk_widget_set_halign(import, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class(import, "pill");
  g_signal_connect(import, "clicked", G_CALLBACK(on_first_run_import), self);
  gtk_box_append(GTK_BOX(box), self->view);
  gtk_box_append(GTK_BOX(box), import);
  gtk_box_append(GTK_BOX(box), self->note);
  adw_clamp_set_maximum_size(ADW_CLAMP(clamp), 560);
  adw_clamp_set_child(ADW_CLAMP(clamp), box);
  adw_status_page_set_child(ADW_STATUS_PAGE(self->status_page), clamp);
  self->finished_id =
      g_signal_connect(store, "download-finished", G_CALLBACK(on_first_run_finished), self);
  return GTK_WIDGET(self);
}

GtkWidget *hs_models_first_run_get_download_view(HsModelsFirstRun *self)
{
  return self->view;
}
