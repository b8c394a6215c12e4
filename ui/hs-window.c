/* hs-window.c: model loading, generation and progress of the main window. */
#define G_LOG_DOMAIN "HsWindow"

#include "hs-config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "hs-settings.h"
#include "hs-window-private.h"

/* A finished generation that took longer than this, while the window was in the background,
 * earns a desktop notification. */
#define HS_NOTIFY_AFTER_S 10.0

G_DEFINE_FINAL_TYPE(HsWindow, hs_window, ADW_TYPE_APPLICATION_WINDOW)

static void load_model(HsWindow *self);
static void generate(HsWindow *self);

static void set_state(HsWindow *self, HsWindowState state)
{
  gboolean running = state == HS_WINDOW_RUNNING;

  self->state = state;
  switch (state) {
  case HS_WINDOW_NO_MODEL:
    gtk_stack_set_visible_child_name(self->stack, _hs_window_no_model_page(self));
    break;
  case HS_WINDOW_LOADING:
    gtk_stack_set_visible_child_name(self->stack, "loading");
    break;
  case HS_WINDOW_READY:
  case HS_WINDOW_RUNNING:
  default:
    gtk_stack_set_visible_child_name(self->stack, "main");
    break;
  }
  gtk_spinner_set_spinning(self->loading_spinner, state == HS_WINDOW_LOADING);
  gtk_widget_set_visible(GTK_WIDGET(self->generate_button), !running);
  gtk_widget_set_visible(GTK_WIDGET(self->cancel_button), running);
  gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.generate", state == HS_WINDOW_READY);
  gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.cancel", running);
  gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.save-as", self->result != NULL);
  gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.copy-image", self->result != NULL);
}

static void show_toast(HsWindow *self, const char *text)
{
  adw_toast_overlay_add_toast(self->toast_overlay, adw_toast_new(text));
}

static void remember_error(HsWindow *self, const GError *error)
{
  g_free(self->last_error);
  self->last_error = g_strdup(error->message);
}

/* --- model loading ------------------------------------------------------------------------ */

static void show_model_info(HsWindow *self)
{
  g_autofree char *size = NULL;

  adw_action_row_set_subtitle(self->device_row, self->info.device_name[0]
                                                    ? self->info.device_name
                                                    : self->info.backend_name);
  gtk_widget_set_tooltip_text(GTK_WIDGET(self->device_row),
                              self->info.backend_note[0] ? self->info.backend_note : NULL);
  /* translators: the fixed output size of the model, e.g. "1024 × 1024" */
  size = g_strdup_printf(_("%d × %d"), self->info.image_size, self->info.image_size);
  adw_action_row_set_subtitle(self->size_row, size);
}

static char *describe_open_error(HsWindow *self, const GError *error)
{
  if (g_error_matches(error, HS_ENGINE_ERROR, HS_ENGINE_ERROR_IO))
    return g_strdup_printf(_("Some files in “%s” could not be read: %s"), self->model_dir,
                           error->message);
  if (g_error_matches(error, HS_ENGINE_ERROR, HS_ENGINE_ERROR_FORMAT))
    return g_strdup_printf(_("The folder “%s” does not hold a usable HART model: %s"),
                           self->model_dir, error->message);
  if (g_error_matches(error, HS_ENGINE_ERROR, HS_ENGINE_ERROR_UNSUPPORTED))
    return g_strdup_printf(_("This model is not supported by this version of Hart Studio: %s"),
                           error->message);
  if (g_error_matches(error, HS_ENGINE_ERROR, HS_ENGINE_ERROR_DEVICE_MEMORY) ||
      g_error_matches(error, HS_ENGINE_ERROR, HS_ENGINE_ERROR_NO_MEMORY))
    return g_strdup_printf(_("There is not enough memory to load the model: %s"), error->message);
  return g_strdup_printf(_("The model could not be loaded: %s"), error->message);
}

static void on_open_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(HsWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok = hs_engine_worker_open_finish(HS_ENGINE_WORKER(source), result, &error);

  /* A load that was superseded (the folder or device changed meanwhile) is ignored, even when
   * it finished before its cancellation could take effect. */
  if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
      g_task_get_cancellable(G_TASK(result)) != self->open_cancellable)
    return;
  g_clear_object(&self->open_cancellable);
  /* A text encoder the engine cannot use should not keep the picture model from loading: the
   * engine names the folder at fault, so retry without the encoder when it is the one. */
  if (!ok && !self->skip_text_model && self->text_model_dir != NULL &&
      strstr(error->message, self->text_model_dir) != NULL) {
    self->skip_text_model = TRUE;
    g_free(self->text_model_error);
    self->text_model_error = g_strdup(error->message);
    load_model(self);
    return;
  }
  if (!ok) {
    g_autofree char *text = describe_open_error(self, error);

    remember_error(self, error);
    self->have_info = FALSE;
    self->regenerate_after_open = FALSE;
    adw_status_page_set_title(self->no_model_page, _("The Model Could Not Be Loaded"));
    adw_status_page_set_description(self->no_model_page, text);
    set_state(self, HS_WINDOW_NO_MODEL);
    return;
  }
  self->have_info = hs_engine_worker_get_info(self->worker, &self->info);
  show_model_info(self);
  _hs_window_update_demo_label(self);
  set_state(self, HS_WINDOW_READY);
  if (self->skip_text_model && self->text_model_error != NULL) {
    g_autofree char *text =
        g_strdup_printf(_("The text encoder could not be loaded, so prompts cannot be read: %s"),
                        self->text_model_error);
    g_clear_pointer(&self->text_model_error, g_free);
    show_toast(self, text);
  }
  if (self->regenerate_after_open) {
    self->regenerate_after_open = FALSE;
    generate(self);
  }
}

static void load_model(HsWindow *self)
{
  g_autoptr(HsEngineOptions) options = NULL;

  g_cancellable_cancel(self->open_cancellable);
  g_clear_object(&self->open_cancellable);
  self->have_info = FALSE;
  /* The demo model only stands in: look again for a configured or ready model first. */
  _hs_window_leave_demo_model(self);
  _hs_window_update_demo_label(self);

  if (self->model_dir == NULL && !_hs_window_take_store_models(self) &&
      !_hs_window_take_demo_model(self)) {
    set_state(self, HS_WINDOW_NO_MODEL);
    return;
  }
  options =
      hs_engine_options_new(self->model_dir, self->skip_text_model ? NULL : self->text_model_dir);
  options->backend = (hart_backend_kind)g_settings_get_enum(self->settings, "backend");
  options->n_threads = g_settings_get_int(self->settings, "threads");

  adw_status_page_set_description(self->loading_page, self->model_dir);
  set_state(self, HS_WINDOW_LOADING);
  self->open_cancellable = g_cancellable_new();
  hs_engine_worker_open_async(self->worker, options, self->open_cancellable, on_open_done,
                              g_object_ref(self));
}

void _hs_window_reload_model(HsWindow *self)
{
  if (self->state != HS_WINDOW_RUNNING)
    load_model(self);
}

static void on_engine_setting_changed(GSettings *settings, const char *key, gpointer user_data)
{
  HsWindow *self = user_data;

  /* Reopen with the new device; a running job finishes first (see on_generate_done). */
  if (self->state != HS_WINDOW_RUNNING && self->model_dir != NULL)
    load_model(self);
}

static gboolean is_model_folder(GFile *folder)
{
  g_autoptr(GFile) config = g_file_resolve_relative_path(folder, "llm/config.json");

  return g_file_query_exists(config, NULL);
}

static void on_folder_chosen(GtkNativeDialog *dialog, int response, gpointer user_data)
{
  HsWindow *self = user_data;
  gboolean text_model = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(dialog), "text-model"));
  g_autoptr(GFile) folder = NULL;
  g_autofree char *path = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    folder = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
  g_object_unref(dialog);
  if (folder == NULL || (path = g_file_get_path(folder)) == NULL)
    return;

  if (!text_model && !is_model_folder(folder)) {
    show_toast(self, _("That folder has no llm/config.json: choose the folder that holds llm/ "
                       "and tokenizer/"));
    return;
  }
  g_settings_set_string(self->settings, text_model ? "text-model-dir" : "model-dir", path);
  self->skip_text_model = FALSE;
  _hs_window_leave_demo_model(self);
  g_free(text_model ? self->text_model_dir : self->model_dir);
  if (text_model)
    self->text_model_dir = g_steal_pointer(&path);
  else
    self->model_dir = g_steal_pointer(&path);
  if (self->state != HS_WINDOW_RUNNING)
    load_model(self);
}

static void choose_folder(HsWindow *self, gboolean text_model)
{
  GtkFileChooserNative *dialog;

  /* A native dialog goes through the file chooser portal inside Flatpak. */
  dialog = gtk_file_chooser_native_new(
      text_model ? _("Choose the Text Encoder Folder") : _("Choose the HART Model Folder"),
      GTK_WINDOW(self), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Select"), _("_Cancel"));
  gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(dialog), TRUE);
  g_object_set_data(G_OBJECT(dialog), "text-model", GINT_TO_POINTER(text_model));
  g_signal_connect(dialog, "response", G_CALLBACK(on_folder_chosen), self);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(dialog));
}

/* --- generation --------------------------------------------------------------------------- */

static char *dup_prompt(HsWindow *self)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer(self->prompt_view);
  GtkTextIter start, end;
  char *text;

  gtk_text_buffer_get_bounds(buffer, &start, &end);
  text = gtk_text_buffer_get_text(buffer, &start, &end, FALSE);
  return g_strstrip(text);
}

static guint64 next_seed(HsWindow *self)
{
  guint64 seed;

  if (gtk_toggle_button_get_active(self->seed_lock_button)) {
    gtk_spin_button_update(self->seed_spin);
    return (guint64)gtk_spin_button_get_value(self->seed_spin);
  }
  /* 32-bit seeds stay exact everywhere they are written (JSON, spin button, infotext). */
  seed = g_random_int();
  gtk_spin_button_set_value(self->seed_spin, (double)seed);
  return seed;
}

static HsRequest *build_request(HsWindow *self)
{
  HsRequest *request = hs_request_new();

  request->prompt = dup_prompt(self);
  if (self->context != NULL) {
    request->context = g_bytes_ref(self->context);
    request->context_mask = self->context_mask ? g_bytes_ref(self->context_mask) : NULL;
    request->context_position_ids =
        self->context_position_ids ? g_bytes_ref(self->context_position_ids) : NULL;
  }
  request->seed = next_seed(self);
  gtk_spin_button_update(self->cfg_spin);
  request->cfg = gtk_spin_button_get_value(self->cfg_spin);
  request->smooth = gtk_switch_get_active(self->smooth_switch);
  request->use_system_prompt = gtk_switch_get_active(self->system_prompt_switch);
  request->preview_mode = (HsPreviewMode)g_settings_get_enum(self->settings, "preview-mode");
  return request;
}

static void set_elapsed_label(HsWindow *self, double seconds)
{
  g_autofree char *text = NULL;

  /* translators: elapsed time in seconds, e.g. "12.3 s" */
  text = g_strdup_printf(_("%.1f s"), seconds);
  gtk_label_set_text(self->elapsed_label, text);
}

static gboolean on_elapsed_tick(gpointer user_data)
{
  HsWindow *self = user_data;

  set_elapsed_label(self, (g_get_monotonic_time() - self->started_us) / 1e6);
  return G_SOURCE_CONTINUE;
}

static void on_generation_progress(HsGeneration *generation, GParamSpec *pspec, HsWindow *self)
{
  g_autofree char *text = NULL;

  if (generation != self->generation)
    return;
  text = hs_generation_dup_stage_text(generation);
  gtk_label_set_text(self->stage_label, text);
  gtk_progress_bar_set_fraction(self->progress_bar, hs_generation_get_fraction(generation));
}

static void on_generation_preview(HsGeneration *generation, GParamSpec *pspec, HsWindow *self)
{
  g_autoptr(GdkTexture) texture = NULL;
  HsImage *preview = hs_generation_get_preview(generation);

  if (generation != self->generation || preview == NULL)
    return;
  texture = _hs_window_texture_for(preview);
  hs_canvas_set_texture(self->canvas, texture);
  gtk_stack_set_visible_child_name(self->canvas_stack, "canvas");
}

static void end_running(HsWindow *self)
{
  GtkApplication *app = gtk_window_get_application(GTK_WINDOW(self));

  g_clear_handle_id(&self->elapsed_source, g_source_remove);
  if (self->inhibit_cookie != 0 && app != NULL)
    gtk_application_uninhibit(app, self->inhibit_cookie);
  self->inhibit_cookie = 0;
  if (self->generation != NULL)
    g_signal_handlers_disconnect_by_data(self->generation, self);
  g_clear_object(&self->generation);
  g_clear_object(&self->generate_cancellable);
}

static void notify_if_unfocused(HsWindow *self, double seconds)
{
  GApplication *app = G_APPLICATION(gtk_window_get_application(GTK_WINDOW(self)));
  g_autoptr(GNotification) notification = NULL;

  if (app == NULL || gtk_window_is_active(GTK_WINDOW(self)) || seconds < HS_NOTIFY_AFTER_S)
    return;
  notification = g_notification_new(_("Picture Ready"));
  g_notification_set_body(notification, self->result_request->prompt);
  g_notification_set_default_action(notification, "app.show-window");
  g_application_send_notification(app, "generation-finished", notification);
}

static void on_device_memory_response(AdwMessageDialog *dialog, const char *response,
                                      gpointer user_data)
{
  HsWindow *self = user_data;

  if (g_strcmp0(response, "cpu") != 0)
    return;
  /* The settings change reloads the model on the CPU; the picture is then retried. */
  self->regenerate_after_open = TRUE;
  g_settings_set_enum(self->settings, "backend", HART_BACKEND_CPU);
  if (self->state != HS_WINDOW_LOADING)
    load_model(self);
}

static void show_device_memory_dialog(HsWindow *self)
{
  GtkWidget *dialog = adw_message_dialog_new(
      GTK_WINDOW(self), _("Not Enough Graphics Memory"),
      _("The graphics card ran out of memory while making this picture. Hart Studio can run on "
        "the processor instead: it is much slower, but it works on any computer."));

  adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog), "cancel", _("_Cancel"), "cpu",
                                   _("_Run on CPU"), NULL);
  adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dialog), "cpu",
                                             ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(dialog), "cpu");
  adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
  g_signal_connect(dialog, "response", G_CALLBACK(on_device_memory_response), self);
  gtk_window_present(GTK_WINDOW(dialog));
}

static void show_generate_error(HsWindow *self, const GError *error)
{
  g_autofree char *text = NULL;

  remember_error(self, error);
  if (g_error_matches(error, HS_ENGINE_ERROR, HS_ENGINE_ERROR_DEVICE_MEMORY)) {
    show_device_memory_dialog(self);
    return;
  }
  if (g_error_matches(error, HS_ENGINE_ERROR, HS_ENGINE_ERROR_DEVICE))
    text = g_strdup_printf(_("The graphics card reported a problem: %s"), error->message);
  else if (g_error_matches(error, HS_ENGINE_ERROR, HS_ENGINE_ERROR_NO_MEMORY))
    text = g_strdup(_("There is not enough memory to make this picture"));
  else if (g_error_matches(error, HS_ENGINE_ERROR, HS_ENGINE_ERROR_NOT_OPEN))
    text = g_strdup(_("No model is loaded"));
  else
    text = g_strdup_printf(_("The picture could not be made: %s"), error->message);
  show_toast(self, text);
}

static void show_result(HsWindow *self, HsImage *image, HsRequest *request)
{
  g_clear_pointer(&self->result, hs_image_unref);
  g_clear_pointer(&self->result_request, hs_request_free);
  g_clear_object(&self->result_texture);
  g_clear_object(&self->drag_file);
  self->result = image;
  self->result_request = request;
  self->result_texture = _hs_window_texture_for(image);
  hs_canvas_set_texture(self->canvas, self->result_texture);
  gtk_stack_set_visible_child_name(self->canvas_stack, "canvas");
}

static void on_generate_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(HsWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  HsImage *image = hs_engine_worker_generate_finish(HS_ENGINE_WORKER(source), result, &error);
  double seconds;

  /* A result for a job that is no longer current is dropped (GNOME Text Editor's pattern). */
  if (g_task_get_cancellable(G_TASK(result)) != self->generate_cancellable) {
    g_clear_pointer(&image, hs_image_unref);
    return;
  }
  seconds = (g_get_monotonic_time() - self->started_us) / 1e6;
  set_elapsed_label(self, seconds);
  end_running(self);

  if (image != NULL) {
    _hs_window_record(self, self->running_request, image);
    show_result(self, image, g_steal_pointer(&self->running_request));
    gtk_progress_bar_set_fraction(self->progress_bar, 1);
    gtk_label_set_text(self->stage_label, _("Done"));
    notify_if_unfocused(self, seconds);
  } else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    gtk_label_set_text(self->stage_label, _("Cancelled"));
    gtk_progress_bar_set_fraction(self->progress_bar, 0);
    /* Back to the last finished picture, if any. */
    hs_canvas_set_texture(self->canvas, self->result_texture);
    if (self->result_texture == NULL)
      gtk_stack_set_visible_child_name(self->canvas_stack, "empty");
  } else {
    gtk_label_set_text(self->stage_label, _("Failed"));
    show_generate_error(self, error);
  }
  g_clear_pointer(&self->running_request, hs_request_free);
  set_state(self, self->have_info ? HS_WINDOW_READY : HS_WINDOW_NO_MODEL);
}

static void generate(HsWindow *self)
{
  GtkApplication *app = gtk_window_get_application(GTK_WINDOW(self));

  if (self->state != HS_WINDOW_READY)
    return;

  g_clear_pointer(&self->running_request, hs_request_free);
  self->running_request = build_request(self);
  if (self->running_request->context == NULL && *self->running_request->prompt == '\0') {
    g_clear_pointer(&self->running_request, hs_request_free);
    show_toast(self, _("Describe the picture first"));
    gtk_widget_grab_focus(GTK_WIDGET(self->prompt_view));
    return;
  }
  g_settings_set_uint64(self->settings, "seed", self->running_request->seed);

  self->generate_cancellable = g_cancellable_new();
  self->generation = hs_generation_new();
  hs_generation_set_display_side(self->generation, HS_DISPLAY_MIN_SIDE);
  g_signal_connect(self->generation, "notify::fraction", G_CALLBACK(on_generation_progress), self);
  g_signal_connect(self->generation, "notify::preview", G_CALLBACK(on_generation_preview), self);
  self->started_us = g_get_monotonic_time();
  self->elapsed_source = g_timeout_add(100, on_elapsed_tick, self);
  if (app != NULL)
    self->inhibit_cookie = gtk_application_inhibit(
        app, GTK_WINDOW(self), GTK_APPLICATION_INHIBIT_SUSPEND, _("Making a picture"));
  gtk_progress_bar_set_fraction(self->progress_bar, 0);
  gtk_label_set_text(self->stage_label, _("Starting"));
  set_elapsed_label(self, 0);
  set_state(self, HS_WINDOW_RUNNING);

  hs_engine_worker_generate_async(self->worker, self->running_request, self->generation,
                                  self->generate_cancellable, on_generate_done, g_object_ref(self));
}

/* --- actions ------------------------------------------------------------------------------ */

static void action_generate(GtkWidget *widget, const char *name, GVariant *param)
{
  generate(HS_WINDOW(widget));
}

static void action_cancel(GtkWidget *widget, const char *name, GVariant *param)
{
  HsWindow *self = HS_WINDOW(widget);

  if (self->generate_cancellable != NULL) {
    g_cancellable_cancel(self->generate_cancellable);
    gtk_label_set_text(self->stage_label, _("Cancelling…"));
  }
}

static void action_choose_model(GtkWidget *widget, const char *name, GVariant *param)
{
  choose_folder(HS_WINDOW(widget), FALSE);
}

static void action_choose_text_model(GtkWidget *widget, const char *name, GVariant *param)
{
  choose_folder(HS_WINDOW(widget), TRUE);
}

static void action_search(GtkWidget *widget, const char *name, GVariant *param)
{
  HsWindow *self = HS_WINDOW(widget);

  adw_view_stack_set_visible_child_name(self->view_stack, "history");
  hs_gallery_view_start_search(self->gallery);
}

static void action_save_as(GtkWidget *widget, const char *name, GVariant *param)
{
  _hs_window_save_as(HS_WINDOW(widget));
}

static void action_copy_image(GtkWidget *widget, const char *name, GVariant *param)
{
  _hs_window_copy_image(HS_WINDOW(widget));
}

static void action_copy_seed(GtkWidget *widget, const char *name, GVariant *param)
{
  HsWindow *self = HS_WINDOW(widget);
  g_autofree char *text = NULL;

  gtk_spin_button_update(self->seed_spin);
  text = g_strdup_printf("%" G_GUINT64_FORMAT, (guint64)gtk_spin_button_get_value(self->seed_spin));
  gdk_clipboard_set_text(gtk_widget_get_clipboard(widget), text);
  show_toast(self, _("Seed copied"));
}

static void on_seed_lock_toggled(GtkToggleButton *button, HsWindow *self)
{
  gboolean locked = gtk_toggle_button_get_active(button);

  gtk_button_set_icon_name(GTK_BUTTON(button),
                           locked ? "changes-prevent-symbolic" : "changes-allow-symbolic");
  gtk_widget_set_tooltip_text(GTK_WIDGET(button),
                              locked ? _("Seed Kept: Click for a New One Each Time")
                                     : _("Keep This Seed"));
  adw_action_row_set_subtitle(
      ADW_ACTION_ROW(gtk_widget_get_ancestor(GTK_WIDGET(button), ADW_TYPE_ACTION_ROW)),
      locked ? _("Kept for the next picture") : _("New for every picture"));
}

/* --- lifecycle ---------------------------------------------------------------------------- */

static void bind_settings(HsWindow *self)
{
  g_settings_bind(self->settings, "cfg", gtk_spin_button_get_adjustment(self->cfg_spin), "value",
                  G_SETTINGS_BIND_DEFAULT);
  g_settings_bind(self->settings, "smooth", self->smooth_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind(self->settings, "system-prompt", self->system_prompt_switch, "active",
                  G_SETTINGS_BIND_DEFAULT);
  g_settings_bind(self->settings, "seed-locked", self->seed_lock_button, "active",
                  G_SETTINGS_BIND_DEFAULT);
  g_settings_bind(self->settings, "window-width", self, "default-width", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind(self->settings, "window-height", self, "default-height", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind(self->settings, "window-maximized", self, "maximized", G_SETTINGS_BIND_DEFAULT);
  gtk_spin_button_set_value(
      self->seed_spin, (double)MIN(g_settings_get_uint64(self->settings, "seed"), G_MAXUINT32));
  g_signal_connect_object(self->settings, "changed::backend", G_CALLBACK(on_engine_setting_changed),
                          self, 0);
  g_signal_connect_object(self->settings, "changed::threads", G_CALLBACK(on_engine_setting_changed),
                          self, 0);
}

static void hs_window_dispose(GObject *object)
{
  HsWindow *self = HS_WINDOW(object);

  g_cancellable_cancel(self->open_cancellable);
  g_cancellable_cancel(self->generate_cancellable);
  end_running(self);
  g_clear_object(&self->open_cancellable);
  gtk_widget_dispose_template(GTK_WIDGET(self), HS_TYPE_WINDOW);
  G_OBJECT_CLASS(hs_window_parent_class)->dispose(object);
}

static void hs_window_finalize(GObject *object)
{
  HsWindow *self = HS_WINDOW(object);

  g_clear_object(&self->settings);
  g_clear_object(&self->worker);
  g_clear_object(&self->history);
  g_clear_object(&self->model_store);
  g_clear_pointer(&self->model_dir, g_free);
  g_clear_pointer(&self->text_model_dir, g_free);
  g_clear_pointer(&self->running_request, hs_request_free);
  g_clear_pointer(&self->result_request, hs_request_free);
  g_clear_pointer(&self->result, hs_image_unref);
  g_clear_object(&self->result_texture);
  g_clear_object(&self->drag_file);
  g_clear_pointer(&self->context, g_bytes_unref);
  g_clear_pointer(&self->context_mask, g_bytes_unref);
  g_clear_pointer(&self->context_position_ids, g_bytes_unref);
  g_clear_pointer(&self->last_error, g_free);
  g_clear_pointer(&self->text_model_error, g_free);
  G_OBJECT_CLASS(hs_window_parent_class)->finalize(object);
}

static void hs_window_class_init(HsWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  object_class->dispose = hs_window_dispose;
  object_class->finalize = hs_window_finalize;

  g_type_ensure(HS_TYPE_CANVAS);
  gtk_widget_class_set_template_from_resource(widget_class, RESOURCE_PREFIX "/ui/hs-window.ui");
  gtk_widget_class_bind_template_child(widget_class, HsWindow, toast_overlay);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, view_stack);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, switcher_title);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, save_button);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, copy_button);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, stack);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, first_run_bin);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, gallery_bin);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, no_model_page);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, loading_page);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, loading_spinner);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, prompt_view);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, generate_button);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, cancel_button);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, seed_spin);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, seed_lock_button);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, cfg_spin);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, smooth_switch);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, system_prompt_switch);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, device_row);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, size_row);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, canvas_stack);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, canvas);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, progress_bar);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, stage_label);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, elapsed_label);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, demo_banner);
  gtk_widget_class_bind_template_child(widget_class, HsWindow, demo_label);

  gtk_widget_class_install_action(widget_class, "win.generate", NULL, action_generate);
  gtk_widget_class_install_action(widget_class, "win.cancel", NULL, action_cancel);
  gtk_widget_class_install_action(widget_class, "win.save-as", NULL, action_save_as);
  gtk_widget_class_install_action(widget_class, "win.search", NULL, action_search);
  gtk_widget_class_install_action(widget_class, "win.copy-image", NULL, action_copy_image);
  gtk_widget_class_install_action(widget_class, "win.copy-seed", NULL, action_copy_seed);
  gtk_widget_class_install_action(widget_class, "win.choose-model", NULL, action_choose_model);
  gtk_widget_class_install_action(widget_class, "win.choose-text-model", NULL,
                                  action_choose_text_model);
}

static void hs_window_init(HsWindow *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  self->settings = hs_settings_new();
  self->model_dir = hs_settings_dup_model_dir(self->settings);
  self->text_model_dir = hs_settings_dup_text_model_dir(self->settings);
  bind_settings(self);
  g_signal_connect(self->seed_lock_button, "toggled", G_CALLBACK(on_seed_lock_toggled), self);
  on_seed_lock_toggled(self->seed_lock_button, self);
  _hs_window_init_export(self);
  set_state(self, HS_WINDOW_NO_MODEL);
}

HsWindow *hs_window_new(AdwApplication *application, HsEngineWorker *worker, HsHistory *history,
                        HsModelStore *model_store)
{
  HsWindow *self;

  g_return_val_if_fail(ADW_IS_APPLICATION(application), NULL);
  g_return_val_if_fail(HS_IS_ENGINE_WORKER(worker), NULL);
  g_return_val_if_fail(HS_IS_HISTORY(history), NULL);
  g_return_val_if_fail(HS_IS_MODEL_STORE(model_store), NULL);

  self = g_object_new(HS_TYPE_WINDOW, "application", application, NULL);
  self->worker = g_object_ref(worker);
  _hs_window_init_history(self, history);
  _hs_window_init_models(self, model_store);
  load_model(self);
  return self;
}

/* --- test hooks --------------------------------------------------------------------------- */

HsWindowState _hs_window_get_state(HsWindow *self)
{
  return self->state;
}

GtkTextBuffer *_hs_window_get_prompt_buffer(HsWindow *self)
{
  return gtk_text_view_get_buffer(self->prompt_view);
}

HsGeneration *_hs_window_get_generation(HsWindow *self)
{
  return self->generation;
}

HsImage *_hs_window_get_result(HsWindow *self)
{
  return self->result;
}

GdkTexture *_hs_window_get_canvas_texture(HsWindow *self)
{
  return hs_canvas_get_texture(self->canvas);
}

const char *_hs_window_get_stage_text(HsWindow *self)
{
  return gtk_label_get_text(self->stage_label);
}

const char *_hs_window_get_last_error(HsWindow *self)
{
  return self->last_error;
}

HsGalleryView *_hs_window_get_gallery(HsWindow *self)
{
  return self->gallery;
}

HsModelsFirstRun *_hs_window_get_first_run(HsWindow *self)
{
  return self->first_run;
}

gboolean _hs_window_get_demo_model(HsWindow *self)
{
  return self->demo_model;
}

GtkWidget *_hs_window_get_demo_banner(HsWindow *self)
{
  return self->demo_banner;
}

const char *_hs_window_get_page(HsWindow *self)
{
  return gtk_stack_get_visible_child_name(self->stack);
}

void _hs_window_set_context(HsWindow *self, GBytes *context, GBytes *mask, GBytes *position_ids)
{
  g_clear_pointer(&self->context, g_bytes_unref);
  g_clear_pointer(&self->context_mask, g_bytes_unref);
  g_clear_pointer(&self->context_position_ids, g_bytes_unref);
  self->context = context ? g_bytes_ref(context) : NULL;
  self->context_mask = mask ? g_bytes_ref(mask) : NULL;
  self->context_position_ids = position_ids ? g_bytes_ref(position_ids) : NULL;
}
