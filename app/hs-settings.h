/* hs-settings.h: the application's GSettings and where the model folders come from. */
#pragma once

#include <gio/gio.h>

#include "hs-engine-worker.h"

G_BEGIN_DECLS

#define HS_SETTINGS_SCHEMA_ID APP_ID

/* Environment overrides (used by run.sh and the tests): they win over GSettings. */
#define HS_ENV_MODEL_DIR "HART_STUDIO_MODEL_DIR"
#define HS_ENV_TEXT_MODEL_DIR "HART_STUDIO_TEXT_MODEL_DIR"

GSettings *hs_settings_new(void);

/* The configured folder, or NULL when none is set. */
char *hs_settings_dup_model_dir(GSettings *settings);
char *hs_settings_dup_text_model_dir(GSettings *settings);

/* Engine options from the settings, or NULL when no model folder is configured. */
HsEngineOptions *hs_settings_dup_engine_options(GSettings *settings);

G_END_DECLS
