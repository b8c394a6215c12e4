/* hs-window-private.h: state shared by hs-window*.c, and hooks for the UI tests. */
#pragma once

#include "hs-canvas.h"
#include "hs-gallery-view.h"
#include "hs-generation.h"
#include "hs-models-page.h"
#include "hs-window.h"

G_BEGIN_DECLS

typedef enum {
  HS_WINDOW_NO_MODEL,
  HS_WINDOW_LOADING,
  HS_WINDOW_READY,
  HS_WINDOW_RUNNING,
} HsWindowState;

struct _HsWindow {
  AdwApplicationWindow parent_instance;

  /* Template children. */
  AdwToastOverlay *toast_overlay;
  AdwViewStack *view_stack;
  AdwViewSwitcherTitle *switcher_title;
  GtkWidget *save_button;
  GtkWidget *copy_button;
  GtkStack *stack;
  AdwBin *first_run_bin;
  AdwBin *gallery_bin;
  AdwStatusPage *no_model_page;
  AdwStatusPage *loading_page;
  GtkSpinner *loading_spinner;
  GtkTextView *prompt_view;
  GtkButton *generate_button;
  GtkButton *cancel_button;
  GtkSpinButton *seed_spin;
  GtkToggleButton *seed_lock_button;
  GtkSpinButton *cfg_spin;
  GtkSwitch *smooth_switch;
  GtkSwitch *system_prompt_switch;
  AdwActionRow *device_row;
  AdwActionRow *size_row;
  GtkStack *canvas_stack;
  HsCanvas *canvas;
  GtkProgressBar *progress_bar;
  GtkLabel *stage_label;
  GtkLabel *elapsed_label;
  GtkWidget *demo_banner;
  GtkLabel *demo_label;

  GSettings *settings;
  HsEngineWorker *worker;
  /* Shared with the other windows; owned by the application. */
  HsHistory *history;
  HsModelStore *model_store;
  HsGalleryView *gallery;
  HsModelsFirstRun *first_run;
  char *model_dir;
  char *text_model_dir;
  /* model_dir and text_model_dir are the demo model's, standing in while nothing else is
   * configured or ready; never written to the settings. */
  gboolean demo_model;
  hart_engine_info info;
  gboolean have_info;

  HsWindowState state;
  GCancellable *open_cancellable;
  gboolean regenerate_after_open;
  /* The text encoder failed to load: the model is opened without it (prompts then fail). */
  gboolean skip_text_model;
  char *text_model_error;

  /* The running job; a result whose cancellable is no longer this one is stale. */
  GCancellable *generate_cancellable;
  HsGeneration *generation;
  HsRequest *running_request;
  gint64 started_us;
  guint elapsed_source;
  guint inhibit_cookie;

  /* The picture on the canvas and what made it. */
  HsRequest *result_request;
  HsImage *result;
  GdkTexture *result_texture;
  GFile *drag_file;

  /* Optional conditioning for engines without a text model (tests). */
  GBytes *context;
  GBytes *context_mask;
  GBytes *context_position_ids;

  char *last_error;
};

/* hs-window-export.c */
void _hs_window_init_export(HsWindow *self);
void _hs_window_save_as(HsWindow *self);
void _hs_window_copy_image(HsWindow *self);
/* Previews and pictures smaller than this are shown enlarged with square pixels. */
#define HS_DISPLAY_MIN_SIDE 256
/* A GdkTexture of img, enlarged without smoothing when tiny (GTK 4.8 has no nearest filter). */
GdkTexture *_hs_window_texture_for(HsImage *img);

/* hs-window.c: opens the configured folders again (unless a picture is being made). */
void _hs_window_reload_model(HsWindow *self);

/* hs-window-history.c: the History page (gallery), recording results, reusing settings. */
void _hs_window_init_history(HsWindow *self, HsHistory *history);
void _hs_window_record(HsWindow *self, const HsRequest *request, HsImage *image);

/* hs-window-models.c: the first-run page (download or import) and models from the store. */
void _hs_window_init_models(HsWindow *self, HsModelStore *store);
/* When no folder is configured, the ready folders of the model store (TRUE if found). */
gboolean _hs_window_take_store_models(HsWindow *self);
/* When nothing else is there, the demo model (TRUE if found); its label shows once it opens. */
gboolean _hs_window_take_demo_model(HsWindow *self);
/* Forgets the demo model's folders (back to the configured text encoder, if any). */
void _hs_window_leave_demo_model(HsWindow *self);
/* Shows or hides the demo model's label for the model now open. */
void _hs_window_update_demo_label(HsWindow *self);
/* Which page says "no model": the first-run page when nothing is configured, else the error. */
const char *_hs_window_no_model_page(HsWindow *self);

/* Test hooks. */
HsWindowState _hs_window_get_state(HsWindow *self);
GtkTextBuffer *_hs_window_get_prompt_buffer(HsWindow *self);
HsGeneration *_hs_window_get_generation(HsWindow *self);
HsImage *_hs_window_get_result(HsWindow *self);
GdkTexture *_hs_window_get_canvas_texture(HsWindow *self);
const char *_hs_window_get_stage_text(HsWindow *self);
const char *_hs_window_get_last_error(HsWindow *self);
/* The file a drag carries (written once into the cache dir). */
GFile *_hs_window_dup_drag_file(HsWindow *self, GError **error);
HsGalleryView *_hs_window_get_gallery(HsWindow *self);
HsModelsFirstRun *_hs_window_get_first_run(HsWindow *self);
gboolean _hs_window_get_demo_model(HsWindow *self);
GtkWidget *_hs_window_get_demo_banner(HsWindow *self);
/* "first-run", "no-model", "loading" or "main". */
const char *_hs_window_get_page(HsWindow *self);
void _hs_window_set_context(HsWindow *self, GBytes *context, GBytes *mask, GBytes *position_ids);

G_END_DECLS
