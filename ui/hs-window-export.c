/* hs-window-export.c: getting the picture out: save as PNG, copy, drag as a file. */
#define G_LOG_DOMAIN "HsWindow"

#include "hs-config.h"

#include <glib/gi18n.h>

#include "hs-metadata.h"
#include "hs-window-private.h"

GdkTexture *_hs_window_texture_for(HsImage *img)
{
  /* Previews arrive prepared by the worker; the final picture is prepared here, once. */
  hs_image_prepare_display(img, HS_DISPLAY_MIN_SIDE);
  return gdk_memory_texture_new(img->display_width, img->display_height, GDK_MEMORY_DEFAULT,
                                img->display, (gsize)img->display_width * 4);
}

typedef struct {
  char *path;
  HsRequest *request;
  HsImage *image;
  char *model_dir;
  char *text_model_dir;
  hart_engine_info info;
  gboolean have_info;
} SaveJob;

static void save_job_free(SaveJob *job)
{
  g_free(job->path);
  hs_request_free(job->request);
  hs_image_unref(job->image);
  g_free(job->model_dir);
  g_free(job->text_model_dir);
  g_free(job);
}

static SaveJob *save_job_new(HsWindow *self, const char *path)
{
  SaveJob *job = g_new0(SaveJob, 1);

  job->path = g_strdup(path);
  job->request = hs_request_copy(self->result_request);
  job->image = hs_image_ref(self->result);
  job->model_dir = g_strdup(self->model_dir);
  job->text_model_dir = g_strdup(self->text_model_dir);
  job->info = self->info;
  job->have_info = self->have_info;
  return job;
}

static gboolean save_job_run(SaveJob *job, GError **error)
{
  HsModelIdentity model = { job->model_dir, job->text_model_dir,
                            job->have_info ? &job->info : NULL };

  return hs_metadata_save_png(job->path, job->request, job->image, &model, error);
}

/* GTask's shared pool: PNG encoding of a 1024² picture takes a noticeable fraction of a second. */
static void save_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;

  if (save_job_run(data, &error))
    g_task_return_boolean(task, TRUE);
  else
    g_task_return_error(task, error);
}

void hs_window_save_async(HsWindow *self, GFile *file, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *path = NULL;

  g_return_if_fail(HS_IS_WINDOW(self));
  g_return_if_fail(G_IS_FILE(file));

  task = g_task_new(self, cancellable, callback, user_data);
  g_task_set_source_tag(task, hs_window_save_async);
  path = g_file_get_path(file);
  if (self->result == NULL || path == NULL) {
    g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "%s",
                            self->result == NULL ? _("There is no picture to save yet")
                                                 : _("This location cannot be written"));
    return;
  }
  g_task_set_task_data(task, save_job_new(self, path), (GDestroyNotify)save_job_free);
  g_task_run_in_thread(task, save_thread);
}

gboolean hs_window_save_finish(HsWindow *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

static void on_saved(GObject *source, GAsyncResult *result, gpointer user_data)
{
  HsWindow *self = HS_WINDOW(source);
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  if (hs_window_save_finish(self, result, &error))
    text = g_strdup(_("Picture saved"));
  else
    text = g_strdup_printf(_("The picture could not be saved: %s"), error->message);
  adw_toast_overlay_add_toast(self->toast_overlay, adw_toast_new(text));
}

static void on_save_response(GtkNativeDialog *dialog, int response, gpointer user_data)
{
  HsWindow *self = user_data;
  g_autoptr(GFile) file = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
  g_object_unref(dialog);
  if (file != NULL)
    hs_window_save_async(self, file, NULL, on_saved, NULL);
}

static char *suggested_name(HsWindow *self)
{
  return g_strdup_printf("hart-%" G_GUINT64_FORMAT ".png", self->result_request->seed);
}

void _hs_window_save_as(HsWindow *self)
{
  GtkFileChooserNative *dialog;
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new();
  g_autofree char *name = NULL;

  if (self->result == NULL)
    return;
  dialog = gtk_file_chooser_native_new(_("Save Picture"), GTK_WINDOW(self),
                                       GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"), _("_Cancel"));
  gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(dialog), TRUE);
  name = suggested_name(self);
  gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(dialog), name);
  gtk_file_filter_set_name(filter, _("PNG Pictures"));
  gtk_file_filter_add_mime_type(filter, "image/png");
  gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(dialog), filter);
  g_signal_connect(dialog, "response", G_CALLBACK(on_save_response), self);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(dialog));
}

/* Ctrl+C is also "copy text": when the focus holds selected text, copy that instead. */
static gboolean copy_focused_text(HsWindow *self)
{
  GtkWidget *focus = gtk_root_get_focus(GTK_ROOT(self));

  if (GTK_IS_TEXT_VIEW(focus) &&
      gtk_text_buffer_get_has_selection(gtk_text_view_get_buffer(GTK_TEXT_VIEW(focus)))) {
    g_signal_emit_by_name(focus, "copy-clipboard");
    return TRUE;
  }
  if (GTK_IS_EDITABLE(focus) &&
      gtk_editable_get_selection_bounds(GTK_EDITABLE(focus), NULL, NULL)) {
    g_signal_emit_by_name(focus, "copy-clipboard");
    return TRUE;
  }
  return FALSE;
}

void _hs_window_copy_image(HsWindow *self)
{
  if (copy_focused_text(self) || self->result_texture == NULL)
    return;
  /* The full-size picture, not the enlarged display copy. */
  {
    g_autoptr(GdkTexture) texture =
        gdk_memory_texture_new(self->result->width, self->result->height, GDK_MEMORY_R8G8B8,
                               self->result->rgb, (gsize)self->result->width * 3);
    gdk_clipboard_set_texture(gtk_widget_get_clipboard(GTK_WIDGET(self)), texture);
  }
  adw_toast_overlay_add_toast(self->toast_overlay, adw_toast_new(_("Picture copied")));
}

/* Writes the picture once into the cache so a drop target receives a real file. */
static GFile *ensure_drag_file(HsWindow *self, GError **error)
{
  g_autofree char *dir = NULL;
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;
  SaveJob *job;
  gboolean ok;

  if (self->drag_file != NULL)
    return g_object_ref(self->drag_file);
  dir = g_build_filename(g_get_user_cache_dir(), APP_ID, "drag", NULL);
  if (g_mkdir_with_parents(dir, 0700) != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "Could not create %s", dir);
    return NULL;
  }
  name = suggested_name(self);
  path = g_build_filename(dir, name, NULL);
  job = save_job_new(self, path);
  ok = save_job_run(job, error);
  save_job_free(job);
  if (!ok)
    return NULL;
  self->drag_file = g_file_new_for_path(path);
  return g_object_ref(self->drag_file);
}

static GdkContentProvider *on_drag_prepare(GtkDragSource *source, double x, double y,
                                           HsWindow *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) file = NULL;
  GdkContentProvider *providers[2];

  if (self->result == NULL || self->state == HS_WINDOW_RUNNING)
    return NULL;
  file = ensure_drag_file(self, &error);
  if (file == NULL) {
    g_warning("Cannot drag the picture: %s", error->message);
    return NULL;
  }
  gtk_drag_source_set_icon(source, GDK_PAINTABLE(self->result_texture), 0, 0);
  providers[0] = gdk_content_provider_new_typed(G_TYPE_FILE, file);
  providers[1] = gdk_content_provider_new_typed(GDK_TYPE_TEXTURE, self->result_texture);
  return gdk_content_provider_new_union(providers, G_N_ELEMENTS(providers));
}

GFile *_hs_window_dup_drag_file(HsWindow *self, GError **error)
{
  g_return_val_if_fail(self->result != NULL, NULL);
  return ensure_drag_file(self, error);
}

void _hs_window_init_export(HsWindow *self)
{
  GtkDragSource *drag = gtk_drag_source_new();

  gtk_drag_source_set_actions(drag, GDK_ACTION_COPY);
  g_signal_connect(drag, "prepare", G_CALLBACK(on_drag_prepare), self);
  gtk_widget_add_controller(GTK_WIDGET(self->canvas), GTK_EVENT_CONTROLLER(drag));
}
