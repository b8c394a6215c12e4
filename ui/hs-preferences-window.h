/* hs-preferences-window.h: device, threads and preview settings. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define HS_TYPE_PREFERENCES_WINDOW (hs_preferences_window_get_type())
G_DECLARE_FINAL_TYPE(HsPreferencesWindow, hs_preferences_window, HS, PREFERENCES_WINDOW,
                     AdwPreferencesWindow)

HsPreferencesWindow *hs_preferences_window_new(void);

G_END_DECLS
