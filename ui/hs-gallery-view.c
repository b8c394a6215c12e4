/* hs-gallery-view.c: HsGalleryView, the history gallery (see hs-gallery-view.h).
 * This file: the template, the model and filters, the actions, delete with undo, drops. The grid
 * cells are in hs-gallery-cell.c, the detail page in hs-gallery-detail.c. */
#include "hs-gallery-view-private.h"

#include <glib/gi18n.h>

G_DEFINE_FINAL_TYPE(HsGalleryView, hs_gallery_view, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_HISTORY, N_PROPS };
static GParamSpec *props[N_PROPS];

enum { SIGNAL_REUSE, N_SIGNALS };
static guint signals[N_SIGNALS];

/* Thumbnails kept in memory; past this the cache starts over (they reload lazily). */
#define MAX_CACHED_THUMBNAILS 2000

/* --- state --- */

static gboolean filtering(HsGalleryView *self)
{
  const char *q = hs_history_model_get_query(self->model);
  return (q != NULL && q[0] != '\0') || hs_history_model_get_favorites_only(self->model);
}

static void update_actions(HsGalleryView *self)
{
  GtkWidget *w = GTK_WIDGET(self);
  gboolean have = hs_gallery_view_get_selected(self) != NULL;
  gboolean writable = have && !hs_history_get_read_only(self->history);
  gboolean detail = g_strcmp0(gtk_stack_get_visible_child_name(self->pages), "detail") == 0;

  gtk_widget_action_set_enabled(w, "gallery.open", have);
  gtk_widget_action_set_enabled(w, "gallery.reuse-prompt", have);
  gtk_widget_action_set_enabled(w, "gallery.reuse-seed", have);
  gtk_widget_action_set_enabled(w, "gallery.reuse-all", have);
  gtk_widget_action_set_enabled(w, "gallery.copy-prompt", have);
  gtk_widget_action_set_enabled(w, "gallery.save-copy", have);
  gtk_widget_action_set_enabled(w, "gallery.delete", writable);
  gtk_widget_action_set_enabled(w, "gallery.toggle-favorite", writable);
  gtk_widget_action_set_enabled(w, "gallery.back", detail);
}

static void update_state(HsGalleryView *self)
{
  guint n = g_list_model_get_n_items(G_LIST_MODEL(self->model));
  g_autofree char *count = g_strdup_printf(ngettext("%u image", "%u images", n), n);

  gtk_label_set_text(self->count_label, count);
  if (n > 0)
    gtk_stack_set_visible_child_name(self->browse_stack, "grid");
  else if (!hs_history_model_get_loading(self->model))
    gtk_stack_set_visible_child_name(self->browse_stack, filtering(self) ? "no-results" : "empty");
  update_actions(self);
}

static void on_model_changed(HsGalleryView *self)
{
  update_state(self);
}

static void on_selection_changed(HsGalleryView *self)
{
  HsHistoryItem *item = hs_gallery_view_get_selected(self);

  /* The detail page follows the selection; it closes when its item goes away. */
  if (g_strcmp0(gtk_stack_get_visible_child_name(self->pages), "detail") == 0) {
    if (item != NULL)
      hs_gallery_detail_show(self, item);
    else
      gtk_stack_set_visible_child_name(self->pages, "browse");
  }
  update_actions(self);
}

/* --- template callbacks --- */

static void on_favorites_button_toggled(GtkToggleButton *button, HsGalleryView *self)
{
  hs_history_model_set_favorites_only(self->model, gtk_toggle_button_get_active(button));
}

static void on_search_entry_search_changed(GtkSearchEntry *entry, HsGalleryView *self)
{
  hs_history_model_set_query(self->model, gtk_editable_get_text(GTK_EDITABLE(entry)));
}

static void on_search_entry_stop_search(GtkSearchEntry *entry, HsGalleryView *self)
{
  gtk_editable_set_text(GTK_EDITABLE(entry), "");
  gtk_search_bar_set_search_mode(self->search_bar, FALSE);
}

static void on_grid_view_activate(GtkGridView *grid, guint position, HsGalleryView *self)
{
  hs_gallery_view_select(self, position);
  gtk_widget_activate_action(GTK_WIDGET(self), "gallery.open", NULL);
}

/* --- toasts --- */

/* Embedded in a window with its own toast overlay, the gallery uses that one: toasts then never
 * stack in two layers, and they stay visible when the gallery's page is not shown (settings
 * restored from a PNG dropped on the window). Alone, it uses its own. */
static AdwToastOverlay *toast_overlay_for(HsGalleryView *self)
{
  GtkWidget *parent = gtk_widget_get_parent(GTK_WIDGET(self));
  GtkWidget *outer = parent ? gtk_widget_get_ancestor(parent, ADW_TYPE_TOAST_OVERLAY) : NULL;

  return outer ? ADW_TOAST_OVERLAY(outer) : self->toast_overlay;
}

void hs_gallery_view_add_toast(HsGalleryView *self, AdwToast *toast)
{
  g_return_if_fail(HS_IS_GALLERY_VIEW(self));
  g_set_weak_pointer(&self->last_toast, toast);
  adw_toast_overlay_add_toast(toast_overlay_for(self), toast);
}

static void show_error(HsGalleryView *self, const char *what, const GError *error)
{
  g_autofree char *text = g_strdup_printf("%s: %s", what, error->message);
  AdwToast *toast = adw_toast_new(text);

  adw_toast_set_timeout(toast, 10);
  hs_gallery_view_add_toast(self, toast);
}

/* --- delete with undo --- */

/* Lives as long as the toast: holds what the purge or the undo needs, not the widget. */
typedef struct {
  HsHistory *history;
  HsHistoryItem *item;
  gboolean undone;
} PendingDelete;

static void pending_delete_free(gpointer data)
{
  PendingDelete *d = data;
  g_object_unref(d->history);
  g_object_unref(d->item);
  g_free(d);
}

static void on_purged(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GError) error = NULL;

  /* A failed purge leaves the row hidden; the next reconcile tries again. */
  if (!hs_history_purge_finish(HS_HISTORY(source), res, &error))
    g_warning("Could not delete the image file: %s", error->message);
}

static void on_undone(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GError) error = NULL;

  if (!hs_history_undo_delete_finish(HS_HISTORY(source), res, &error))
    g_warning("Could not undo the delete: %s", error->message);
}

static void on_undo_clicked(AdwToast *toast, PendingDelete *d)
{
  d->undone = TRUE;
  hs_history_undo_delete_async(d->history, d->item, NULL, on_undone, NULL);
}

static void on_delete_toast_dismissed(AdwToast *toast, PendingDelete *d)
{
  if (!d->undone)
    hs_history_purge_async(d->history, d->item, NULL, on_purged, NULL);
  d->undone = TRUE; /* purge at most once */
}

static void on_deleted(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(HsGalleryView) self = data;
  g_autoptr(GError) error = NULL;
  PendingDelete *d;
  AdwToast *toast;

  d = g_object_steal_data(G_OBJECT(self), "hs-pending-delete");
  if (!hs_history_delete_finish(HS_HISTORY(source), res, &error)) {
    pending_delete_free(d);
    show_error(self, _("Could not delete the image"), error);
    return;
  }
  toast = adw_toast_new(_("Image deleted"));
  adw_toast_set_button_label(toast, _("_Undo"));
  adw_toast_set_priority(toast, ADW_TOAST_PRIORITY_HIGH);
  g_object_set_data_full(G_OBJECT(toast), "hs-pending-delete", d, pending_delete_free);
  g_signal_connect(toast, "button-clicked", G_CALLBACK(on_undo_clicked), d);
  g_signal_connect(toast, "dismissed", G_CALLBACK(on_delete_toast_dismissed), d);
  hs_gallery_view_add_toast(self, toast);
}

static void delete_selected(HsGalleryView *self)
{
  HsHistoryItem *item = hs_gallery_view_get_selected(self);
  PendingDelete *d;

  if (item == NULL)
    return;
  d = g_new0(PendingDelete, 1);
  d->history = g_object_ref(self->history);
  d->item = g_object_ref(item);
  g_object_set_data(G_OBJECT(self), "hs-pending-delete", d);
  hs_history_delete_async(self->history, item, NULL, on_deleted, g_object_ref(self));
}

/* --- save a copy --- */

static void on_copied(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(HsGalleryView) self = data;
  g_autoptr(GError) error = NULL;

  if (!g_file_copy_finish(G_FILE(source), res, &error)) {
    if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      show_error(self, _("Could not save the copy"), error);
    return;
  }
  hs_gallery_view_add_toast(self, adw_toast_new(_("Copy saved")));
}

static void on_save_response(GtkNativeDialog *dialog, int response, gpointer data)
{
  HsGalleryView *self = data;
  HsHistoryItem *item = g_object_get_data(G_OBJECT(dialog), "hs-item");

  if (response == GTK_RESPONSE_ACCEPT && item != NULL) {
    g_autoptr(GFile) dest = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
    g_autoptr(GFile) src = g_file_new_for_path(hs_history_item_get_image_path(item));
    g_file_copy_async(src, dest, G_FILE_COPY_OVERWRITE, G_PRIORITY_DEFAULT, self->cancellable, NULL,
                      NULL, on_copied, g_object_ref(self));
  }
  g_object_unref(dialog);
  g_object_unref(self);
}

static void save_copy(HsGalleryView *self)
{
  HsHistoryItem *item = hs_gallery_view_get_selected(self);
  GtkNative *native = gtk_widget_get_native(GTK_WIDGET(self));
  GtkFileChooserNative *dialog;
  g_autofree char *name = NULL;

  if (item == NULL)
    return;
  dialog = gtk_file_chooser_native_new(_("Save a Copy"),
                                       GTK_IS_WINDOW(native) ? GTK_WINDOW(native) : NULL,
                                       GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"), _("_Cancel"));
  name = g_path_get_basename(hs_history_item_get_image_path(item));
  gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(dialog), name);
  gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(dialog), TRUE);
  g_object_set_data_full(G_OBJECT(dialog), "hs-item", g_object_ref(item), g_object_unref);
  g_signal_connect(dialog, "response", G_CALLBACK(on_save_response), g_object_ref(self));
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(dialog));
}

/* --- favorite --- */

static void on_favorite_set(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(HsGalleryView) self = data;
  g_autoptr(GError) error = NULL;

  if (!hs_history_set_favorite_finish(HS_HISTORY(source), res, &error))
    show_error(self, _("Could not change the favorite"), error);
}

/* --- actions --- */

static void reuse(HsGalleryView *self, HsGalleryReuse what)
{
  HsHistoryItem *item = hs_gallery_view_get_selected(self);

  if (item != NULL)
    g_signal_emit(self, signals[SIGNAL_REUSE], 0, hs_history_item_get_params(item), (guint)what);
}

static void on_action(GtkWidget *widget, const char *name, GVariant *param)
{
  HsGalleryView *self = HS_GALLERY_VIEW(widget);
  HsHistoryItem *item = hs_gallery_view_get_selected(self);

  if (g_str_equal(name, "gallery.search")) {
    hs_gallery_view_start_search(self);
  } else if (g_str_equal(name, "gallery.back")) {
    gtk_stack_set_visible_child_name(self->pages, "browse");
    hs_gallery_detail_clear(self);
    gtk_widget_grab_focus(GTK_WIDGET(self->grid_view));
    update_actions(self);
  } else if (g_str_equal(name, "gallery.open") && item != NULL) {
    hs_gallery_detail_show(self, item);
    gtk_stack_set_visible_child_name(self->pages, "detail");
    update_actions(self);
  } else if (g_str_equal(name, "gallery.reuse-prompt")) {
    reuse(self, HS_GALLERY_REUSE_PROMPT);
  } else if (g_str_equal(name, "gallery.reuse-seed")) {
    reuse(self, HS_GALLERY_REUSE_SEED);
  } else if (g_str_equal(name, "gallery.reuse-all")) {
    reuse(self, HS_GALLERY_REUSE_ALL);
  } else if (g_str_equal(name, "gallery.copy-prompt") && item != NULL) {
    gdk_clipboard_set_text(gtk_widget_get_clipboard(widget), hs_history_item_get_prompt(item));
    hs_gallery_view_add_toast(self, adw_toast_new(_("Prompt copied")));
  } else if (g_str_equal(name, "gallery.save-copy")) {
    save_copy(self);
  } else if (g_str_equal(name, "gallery.delete")) {
    delete_selected(self);
  } else if (g_str_equal(name, "gallery.toggle-favorite") && item != NULL) {
    hs_history_set_favorite_async(self->history, item, !hs_history_item_get_favorite(item), NULL,
                                  on_favorite_set, g_object_ref(self));
  }
}

/* --- restore settings from a PNG --- */

static void read_meta_in_thread(GTask *task, gpointer source, gpointer data,
                                GCancellable *cancellable)
{
  g_autofree char *path = g_file_get_path(G_FILE(data));
  HsGenParams *params = NULL;
  GError *error = NULL;

  if (path == NULL)
    g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                            _("Only local files can be read"));
  else if (hs_png_meta_read(path, &params, &error))
    g_task_return_pointer(task, params, (GDestroyNotify)hs_gen_params_free);
  else
    g_task_return_error(task, error);
}

/* As for the detail image: no source object, a weak reference, so no widget is ever owned or
 * finalized by the reading thread. */
static void on_meta_read(GObject *unused, GAsyncResult *res, gpointer data)
{
  g_autoptr(HsGalleryView) self = g_weak_ref_get(data);
  g_autoptr(GError) error = NULL;
  g_autoptr(HsGenParams) params = g_task_propagate_pointer(G_TASK(res), &error);

  g_weak_ref_clear(data);
  g_free(data);
  if (self == NULL)
    return;
  if (params == NULL) {
    show_error(self, _("No settings restored"), error);
    return;
  }
  g_signal_emit(self, signals[SIGNAL_REUSE], 0, params, (guint)HS_GALLERY_REUSE_ALL);
  hs_gallery_view_add_toast(self, adw_toast_new(_("Settings restored from the image")));
}

void hs_gallery_view_restore_from_file(HsGalleryView *self, GFile *file)
{
  g_autoptr(GTask) task = NULL;
  GWeakRef *weak;

  g_return_if_fail(HS_IS_GALLERY_VIEW(self) && G_IS_FILE(file));
  weak = g_new0(GWeakRef, 1);
  g_weak_ref_init(weak, self);
  task = g_task_new(NULL, self->cancellable, on_meta_read, weak);
  g_task_set_task_data(task, g_object_ref(file), g_object_unref);
  g_task_run_in_thread(task, read_meta_in_thread);
}

static gboolean on_drop(GtkDropTarget *target, const GValue *value, double x, double y,
                        HsGalleryView *self)
{
  GFile *file = NULL;

  if (G_VALUE_HOLDS(value, GDK_TYPE_FILE_LIST)) {
    GSList *files = g_value_get_boxed(value);
    file = files ? files->data : NULL;
  } else if (G_VALUE_HOLDS(value, G_TYPE_FILE)) {
    file = g_value_get_object(value);
  }
  if (file == NULL)
    return FALSE;
  hs_gallery_view_restore_from_file(self, file);
  return TRUE;
}

/* --- start-up: open, recovery notice, reconcile, offer to re-index orphans --- */

static void on_reindexed(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HsHistoryItem) item = hs_history_reindex_finish(HS_HISTORY(source), res, &error);

  /* The item appears through ::item-added; a file that cannot be read stays where it is. */
  if (item == NULL)
    g_warning("Could not restore a history entry: %s", error->message);
}

static void on_reindex_clicked(AdwToast *toast, GStrv orphans)
{
  HsHistory *history = g_object_get_data(G_OBJECT(toast), "hs-history");

  for (guint i = 0; orphans[i] != NULL; i++)
    hs_history_reindex_async(history, orphans[i], NULL, on_reindexed, NULL);
}

static void on_reconciled(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HsHistoryReconcileReport) r =
      hs_history_reconcile_finish(HS_HISTORY(source), res, &error);
  g_autoptr(HsGalleryView) self = g_weak_ref_get(data);
  guint n;
  g_autofree char *text = NULL;
  AdwToast *toast;

  g_weak_ref_clear(data);
  g_free(data);
  if (r == NULL) {
    if (self != NULL && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      show_error(self, _("Could not check the history"), error);
    return;
  }
  n = g_strv_length(r->orphan_pngs);
  if (self == NULL || n == 0 || hs_history_get_read_only(self->history))
    return;
  /* Images saved just before a crash, or left by another copy of the app: offer them back. */
  text = g_strdup_printf(
      ngettext("%u image has no history entry", "%u images have no history entry", n), n);
  toast = adw_toast_new(text);
  adw_toast_set_button_label(toast, _("_Restore"));
  adw_toast_set_timeout(toast, 0);
  adw_toast_set_priority(toast, ADW_TOAST_PRIORITY_HIGH);
  g_object_set_data_full(G_OBJECT(toast), "hs-history", g_object_ref(self->history),
                         g_object_unref);
  g_object_set_data_full(G_OBJECT(toast), "hs-orphans", g_steal_pointer(&r->orphan_pngs),
                         (GDestroyNotify)g_strfreev);
  g_signal_connect(toast, "button-clicked", G_CALLBACK(on_reindex_clicked),
                   g_object_get_data(G_OBJECT(toast), "hs-orphans"));
  hs_gallery_view_add_toast(self, toast);
}

static void on_opened(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = hs_history_open_finish(HS_HISTORY(source), res, &error);
  g_autoptr(HsGalleryView) self = g_weak_ref_get(data);
  const char *notice;

  if (self == NULL) {
    g_weak_ref_clear(data);
    g_free(data);
    return;
  }
  if (!ok) {
    g_weak_ref_clear(data);
    g_free(data);
    show_error(self, _("The history cannot be opened"), error);
    return;
  }
  /* Moved aside (damaged) or read-only (newer version): say so once, plainly. */
  notice = hs_history_get_notice(self->history);
  if (notice != NULL) {
    AdwToast *toast = adw_toast_new(notice);
    adw_toast_set_timeout(toast, 0);
    hs_gallery_view_add_toast(self, toast);
  }
  update_actions(self);
  hs_history_reconcile_async(self->history, self->cancellable, on_reconciled, data);
}

static void start_up(HsGalleryView *self)
{
  GWeakRef *weak = g_new0(GWeakRef, 1);

  g_weak_ref_init(weak, self);
  hs_history_open_async(self->history, self->cancellable, on_opened, weak);
}

/* --- GObject --- */

static void hs_gallery_view_constructed(GObject *object)
{
  HsGalleryView *self = HS_GALLERY_VIEW(object);
  g_autoptr(GtkListItemFactory) factory = NULL;
  GtkDropTarget *drop;
  GType types[] = { GDK_TYPE_FILE_LIST, G_TYPE_FILE };

  G_OBJECT_CLASS(hs_gallery_view_parent_class)->constructed(object);
  g_assert(self->history != NULL);
  self->model = hs_history_model_new(self->history);
  self->selection = gtk_single_selection_new(g_object_ref(G_LIST_MODEL(self->model)));
  gtk_single_selection_set_autoselect(self->selection, FALSE);
  gtk_single_selection_set_can_unselect(self->selection, TRUE);
  factory = hs_gallery_cell_factory_new(self);
  gtk_grid_view_set_factory(self->grid_view, factory);
  gtk_grid_view_set_model(self->grid_view, GTK_SELECTION_MODEL(self->selection));
  g_signal_connect_swapped(self->model, "items-changed", G_CALLBACK(on_model_changed), self);
  g_signal_connect_swapped(self->model, "notify::loading", G_CALLBACK(on_model_changed), self);
  g_signal_connect_swapped(self->selection, "notify::selected-item",
                           G_CALLBACK(on_selection_changed), self);
  gtk_search_bar_connect_entry(self->search_bar, GTK_EDITABLE(self->search_entry));

  drop = gtk_drop_target_new(G_TYPE_INVALID, GDK_ACTION_COPY);
  gtk_drop_target_set_gtypes(drop, types, G_N_ELEMENTS(types));
  g_signal_connect(drop, "drop", G_CALLBACK(on_drop), self);
  gtk_widget_add_controller(GTK_WIDGET(self), GTK_EVENT_CONTROLLER(drop));
  update_state(self);
  start_up(self);
}

static void hs_gallery_view_dispose(GObject *object)
{
  HsGalleryView *self = HS_GALLERY_VIEW(object);

  g_cancellable_cancel(self->cancellable);
  if (self->detail_load != NULL)
    g_cancellable_cancel(self->detail_load);
  g_clear_object(&self->detail_load);
  if (self->grid_view != NULL) {
    gtk_grid_view_set_model(self->grid_view, NULL);
    gtk_grid_view_set_factory(self->grid_view, NULL);
  }
  gtk_widget_dispose_template(GTK_WIDGET(self), HS_TYPE_GALLERY_VIEW);
  if (self->model != NULL)
    g_signal_handlers_disconnect_by_data(self->model, self);
  if (self->selection != NULL)
    g_signal_handlers_disconnect_by_data(self->selection, self);
  g_clear_object(&self->selection);
  g_clear_object(&self->model);
  g_clear_object(&self->history);
  g_clear_pointer(&self->thumbnails, g_hash_table_unref);
  g_clear_weak_pointer(&self->last_toast);
  G_OBJECT_CLASS(hs_gallery_view_parent_class)->dispose(object);
}

static void hs_gallery_view_finalize(GObject *object)
{
  HsGalleryView *self = HS_GALLERY_VIEW(object);

  g_clear_object(&self->cancellable);
  G_OBJECT_CLASS(hs_gallery_view_parent_class)->finalize(object);
}

static void hs_gallery_view_get_property(GObject *object, guint prop_id, GValue *value,
                                         GParamSpec *pspec)
{
  HsGalleryView *self = HS_GALLERY_VIEW(object);

  switch (prop_id) {
  case PROP_HISTORY:
    g_value_set_object(value, self->history);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void hs_gallery_view_set_property(GObject *object, guint prop_id, const GValue *value,
                                         GParamSpec *pspec)
{
  HsGalleryView *self = HS_GALLERY_VIEW(object);

  switch (prop_id) {
  case PROP_HISTORY:
    self->history = g_value_dup_object(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void install_action(GtkWidgetClass *widget_class, const char *name)
{
  gtk_widget_class_install_action(widget_class, name, NULL, on_action);
}

static void hs_gallery_view_class_init(HsGalleryViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  static const char *const actions[] = {
    "gallery.search",          "gallery.back",       "gallery.open",
    "gallery.reuse-prompt",    "gallery.reuse-seed", "gallery.reuse-all",
    "gallery.copy-prompt",     "gallery.save-copy",  "gallery.delete",
    "gallery.toggle-favorite",
  };

  object_class->constructed = hs_gallery_view_constructed;
  object_class->dispose = hs_gallery_view_dispose;
  object_class->finalize = hs_gallery_view_finalize;
  object_class->get_property = hs_gallery_view_get_property;
  object_class->set_property = hs_gallery_view_set_property;
  props[PROP_HISTORY] =
      g_param_spec_object("history", NULL, NULL, HS_TYPE_HISTORY,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, props);

  /* Reuse the settings of an image: (HsGenParams *params, guint HsGalleryReuse flags). */
  signals[SIGNAL_REUSE] =
      g_signal_new("reuse", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                   G_TYPE_NONE, 2, HS_TYPE_GEN_PARAMS | G_SIGNAL_TYPE_STATIC_SCOPE, G_TYPE_UINT);

  gtk_widget_class_set_template_from_resource(
      widget_class, "/io/github/hartstudio/HartStudio/ui/hs-gallery-view.ui");
  gtk_widget_class_bind_template_child(widget_class, HsGalleryView, toast_overlay);
  gtk_widget_class_bind_template_child(widget_class, HsGalleryView, pages);
  gtk_widget_class_bind_template_child(widget_class, HsGalleryView, search_button);
  gtk_widget_class_bind_template_child(widget_class, HsGalleryView, favorites_button);
  gtk_widget_class_bind_template_child(widget_class, HsGalleryView, count_label);
  gtk_widget_class_bind_template_child(widget_class, HsGalleryView, search_bar);
  gtk_widget_class_bind_template_child(widget_class, HsGalleryView, search_entry);
  gtk_widget_class_bind_template_child(widget_class, HsGalleryView, browse_stack);
  gtk_widget_class_bind_template_child(widget_class, HsGalleryView, grid_view);
  gtk_widget_class_bind_template_child(widget_class, HsGalleryView, detail_picture);
  gtk_widget_class_bind_template_child(widget_class, HsGalleryView, detail_prompt);
  gtk_widget_class_bind_template_child(widget_class, HsGalleryView, detail_list);
  gtk_widget_class_bind_template_child(widget_class, HsGalleryView, detail_favorite);
  gtk_widget_class_bind_template_callback(widget_class, on_favorites_button_toggled);
  gtk_widget_class_bind_template_callback(widget_class, on_search_entry_search_changed);
  gtk_widget_class_bind_template_callback(widget_class, on_search_entry_stop_search);
  gtk_widget_class_bind_template_callback(widget_class, on_grid_view_activate);

  for (guint i = 0; i < G_N_ELEMENTS(actions); i++)
    install_action(widget_class, actions[i]);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_f, GDK_CONTROL_MASK, "gallery.search",
                                      NULL);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_Delete, 0, "gallery.delete", NULL);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_Left, GDK_ALT_MASK, "gallery.back",
                                      NULL);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_c, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                      "gallery.copy-prompt", NULL);
  gtk_widget_class_set_layout_manager_type(widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name(widget_class, "hsgalleryview");
}

static void hs_gallery_view_init(HsGalleryView *self)
{
  g_type_ensure(HS_TYPE_HISTORY_ITEM);
  gtk_widget_init_template(GTK_WIDGET(self));
  self->cancellable = g_cancellable_new();
  self->thumbnails = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_object_unref);
}

HsGalleryView *hs_gallery_view_new(HsHistory *history)
{
  g_return_val_if_fail(HS_IS_HISTORY(history), NULL);
  return g_object_new(HS_TYPE_GALLERY_VIEW, "history", history, NULL);
}

HsHistory *hs_gallery_view_get_history(HsGalleryView *self)
{
  g_return_val_if_fail(HS_IS_GALLERY_VIEW(self), NULL);
  return self->history;
}

HsHistoryModel *hs_gallery_view_get_model(HsGalleryView *self)
{
  g_return_val_if_fail(HS_IS_GALLERY_VIEW(self), NULL);
  return self->model;
}

HsHistoryItem *hs_gallery_view_get_selected(HsGalleryView *self)
{
  g_return_val_if_fail(HS_IS_GALLERY_VIEW(self), NULL);
  if (self->selection == NULL)
    return NULL;
  return gtk_single_selection_get_selected_item(self->selection);
}

void hs_gallery_view_select(HsGalleryView *self, guint position)
{
  g_return_if_fail(HS_IS_GALLERY_VIEW(self));
  gtk_single_selection_set_selected(self->selection, position);
}

void hs_gallery_view_start_search(HsGalleryView *self)
{
  g_return_if_fail(HS_IS_GALLERY_VIEW(self));
  if (g_strcmp0(gtk_stack_get_visible_child_name(self->pages), "detail") == 0)
    gtk_stack_set_visible_child_name(self->pages, "browse");
  gtk_search_bar_set_search_mode(self->search_bar, TRUE);
  gtk_widget_grab_focus(GTK_WIDGET(self->search_entry));
}

GdkTexture *hs_gallery_view_lookup_thumbnail(HsGalleryView *self, gint64 id)
{
  if (self->thumbnails == NULL)
    return NULL;
  return g_hash_table_lookup(self->thumbnails, &id);
}

void hs_gallery_view_store_thumbnail(HsGalleryView *self, gint64 id, GdkTexture *texture)
{
  if (self->thumbnails == NULL)
    return;
  if (g_hash_table_size(self->thumbnails) >= MAX_CACHED_THUMBNAILS)
    g_hash_table_remove_all(self->thumbnails);
  g_hash_table_replace(self->thumbnails, g_memdup2(&id, sizeof(id)), g_object_ref(texture));
}
