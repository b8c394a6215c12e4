/* hs-models-download-view.c: the download progress view (see the header). */
#include "hs-models-download-view.h"

#include <glib/gi18n.h>

struct _HsModelsDownloadView {
  GtkWidget parent_instance;
  HsModelStore *store;
  const HsModelRelease *release;
  char *base_url;
  GtkWidget *box;
  GtkWidget *progress;
  GtkWidget *status;
  GtkWidget *button;
  gulong progress_id, finished_id, notify_id;
};

G_DEFINE_FINAL_TYPE(HsModelsDownloadView, hs_models_download_view, GTK_TYPE_WIDGET)

static char *format_eta(double s)
{
  if (s < 60)
    return g_strdup_printf(_("about %d s left"), (int)(s + 0.5));
  if (s < 3600)
    return g_strdup_printf(_("about %d min left"), (int)(s / 60 + 0.5));
  return g_strdup_printf(_("about %d h %d min left"), (int)(s / 3600), ((int)s % 3600) / 60);
}

char *hs_models_format_progress(const HsModelProgress *p)
{
  g_autofree char *done = g_format_size(p->bytes_done);
  g_autofree char *total = g_format_size(p->bytes_total);
  GString *s = g_string_new(NULL);

  switch (p->phase) {
  case HS_MODEL_PHASE_PREPARING:
    g_string_append(s, _("Preparing…"));
    break;
  case HS_MODEL_PHASE_VERIFYING:
  case HS_MODEL_PHASE_VALIDATING:
    g_string_append(s, _("Verifying…"));
    break;
  case HS_MODEL_PHASE_CONVERTING:
    g_string_append(s, _("Converting checkpoints…"));
    break;
  case HS_MODEL_PHASE_DONE:
    g_string_append_printf(s, _("Done: %s"), total);
    break;
  case HS_MODEL_PHASE_DOWNLOADING:
  case HS_MODEL_PHASE_COPYING:
  default:
    /* TRANSLATORS: "1.2 GB of 11.5 GB" */
    g_string_append_printf(s, _("%s of %s"), done, total);
    if (p->bytes_per_second > 0) {
      g_autofree char *rate = g_format_size((guint64)p->bytes_per_second);
      g_string_append_printf(s, " · %s/s", rate);
    }
    if (p->eta_seconds >= 0) {
      g_autofree char *eta = format_eta(p->eta_seconds);
      g_string_append_printf(s, " · %s", eta);
    }
    if (p->n_files > 0)
      g_string_append_printf(s, _(" · file %u of %u"), p->file_index, p->n_files);
    break;
  }
  return g_string_free(s, FALSE);
}

static void show_progress(HsModelsDownloadView *self, const HsModelProgress *p)
{
  g_autofree char *text = hs_models_format_progress(p);
  double fraction = p->bytes_total > 0 ? (double)p->bytes_done / (double)p->bytes_total : 0;

  gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(self->progress),
                                p->phase == HS_MODEL_PHASE_DONE ? 1.0 : fraction);
  gtk_label_set_text(GTK_LABEL(self->status), text);
}

static void update_button(HsModelsDownloadView *self)
{
  gboolean running = hs_model_store_get_downloading(self->store);

  double fraction = gtk_progress_bar_get_fraction(GTK_PROGRESS_BAR(self->progress));
  const char *label = running                          ? _("_Cancel")
                      : fraction > 0 && fraction < 1.0 ? _("_Resume")
                                                       : _("_Download");

  gtk_button_set_label(GTK_BUTTON(self->button), label);
  gtk_button_set_use_underline(GTK_BUTTON(self->button), TRUE);
  gtk_widget_remove_css_class(self->button, running ? "suggested-action" : "destructive-action");
  gtk_widget_add_css_class(self->button, running ? "destructive-action" : "suggested-action");
}

static void on_progress(HsModelStore *store, const HsModelProgress *p, HsModelsDownloadView *self)
{
  show_progress(self, p);
}

static void on_finished(HsModelStore *store, const GError *error, HsModelsDownloadView *self)
{
  if (error == NULL)
    gtk_label_set_text(GTK_LABEL(self->status), _("The model is installed."));
  else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    gtk_label_set_text(GTK_LABEL(self->status),
                       _("Paused. The download continues where it stopped next time."));
  else
    gtk_label_set_text(GTK_LABEL(self->status), error->message);
  update_button(self);
}

static void on_notify(GObject *store, GParamSpec *pspec, HsModelsDownloadView *self)
{
  update_button(self);
}

static void on_clicked(GtkButton *button, HsModelsDownloadView *self)
{
  if (hs_model_store_get_downloading(self->store))
    hs_model_store_cancel_download(self->store);
  else
    hs_model_store_start_download(self->store, self->release, self->base_url);
}

static void hs_models_download_view_dispose(GObject *object)
{
  HsModelsDownloadView *self = HS_MODELS_DOWNLOAD_VIEW(object);

  if (self->store != NULL) {
    g_clear_signal_handler(&self->progress_id, self->store);
    g_clear_signal_handler(&self->finished_id, self->store);
    g_clear_signal_handler(&self->notify_id, self->store);
    g_clear_object(&self->store);
  }
  g_clear_pointer(&self->box, gtk_widget_unparent);
  G_OBJECT_CLASS(hs_models_download_view_parent_class)->dispose(object);
}

static void hs_models_download_view_finalize(GObject *object)
{
  g_free(HS_MODELS_DOWNLOAD_VIEW(object)->base_url);
  G_OBJECT_CLASS(hs_models_download_view_parent_class)->finalize(object);
}

static void hs_models_download_view_class_init(HsModelsDownloadViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  object_class->dispose = hs_models_download_view_dispose;
  object_class->finalize = hs_models_download_view_finalize;
  gtk_widget_class_set_layout_manager_type(GTK_WIDGET_CLASS(klass), GTK_TYPE_BIN_LAYOUT);
}

static void hs_models_download_view_init(HsModelsDownloadView *self)
{
  GtkWidget *row;

  self->box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
  gtk_widget_set_parent(self->box, GTK_WIDGET(self));
  row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);
  self->progress = gtk_progress_bar_new();
  gtk_widget_set_hexpand(self->progress, TRUE);
  gtk_widget_set_valign(self->progress, GTK_ALIGN_CENTER);
  self->button = gtk_button_new();
  gtk_box_append(GTK_BOX(row), self->progress);
  gtk_box_append(GTK_BOX(row), self->button);
  self->status = gtk_label_new("");
  gtk_label_set_wrap(GTK_LABEL(self->status), TRUE);
  gtk_label_set_xalign(GTK_LABEL(self->status), 0);
  gtk_widget_add_css_class(self->status, "dim-label");
  gtk_widget_add_css_class(self->status, "numeric");
  gtk_box_append(GTK_BOX(self->box), row);
  gtk_box_append(GTK_BOX(self->box), self->status);
  g_signal_connect(self->button, "clicked", G_CALLBACK(on_clicked), self);
}

GtkWidget *hs_models_download_view_new(HsModelStore *store, const HsModelRelease *release,
                                       const char *base_url)
{
  HsModelsDownloadView *self = g_object_new(HS_TYPE_MODELS_DOWNLOAD_VIEW, NULL);

  self->store = g_object_ref(store);
  self->release = release;
  self->base_url = g_strdup(base_url);
  self->progress_id = g_signal_connect(store, "progress", G_CALLBACK(on_progress), self);
  self->finished_id = g_signal_connect(store, "download-finished", G_CALLBACK(on_finished), self);
  self->notify_id = g_signal_connect(store, "notify::downloading", G_CALLBACK(on_notify), self);
  /* A view opened while the download runs picks it up where it is. */
  if (hs_model_store_get_downloading(store)) {
    show_progress(self, hs_model_store_get_last_progress(store));
  } else {
    g_autofree char *hart = NULL;
    g_autofree char *text = NULL;
    gboolean ready = hs_model_store_find_ready(store, release, &hart, &text);
    gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(self->progress), ready ? 1.0 : 0.0);
    gtk_label_set_text(GTK_LABEL(self->status),
                       ready ? _("The model is installed.") : _("Not downloaded yet."));
  }
  update_button(self);
  return GTK_WIDGET(self);
}

GtkWidget *hs_models_download_view_get_button(HsModelsDownloadView *view)
{
  return view->button;
}

GtkProgressBar *hs_models_download_view_get_progress_bar(HsModelsDownloadView *view)
{
  return GTK_PROGRESS_BAR(view->progress);
}

const char *hs_models_download_view_get_status(HsModelsDownloadView *view)
{
  return gtk_label_get_text(GTK_LABEL(view->status));
}
