/* test-history-gallery-util.h: helpers for the gallery tests in a real window. */
#pragma once

#include "hs-gallery-view-private.h"
#include "test-history-util.h"

typedef gboolean (*Cond)(gpointer data);

/* Iterates the main context until cond(data) or 15 s (then fails naming `what`). */
void wait_until(Cond cond, gpointer data, const char *what);
/* Lets animations and idle work run for 300 ms, then waits for a frame. */
void settle(GtkWidget *window);
/* Saves the window as $HS_SCREENSHOT_DIR/name (PNG) when that variable is set. */
void screenshot(GtkWidget *window, const char *name);
/* Waits until the gallery shows n items (and is not loading). */
void wait_items(HsGalleryView *gallery, guint n);
/* TRUE once every item shown has its thumbnail in the cache. */
gboolean thumbnails_cached(gpointer gallery);
/* The position of the item with this prompt (fails the test when absent). */
guint find_prompt(HsGalleryView *gallery, const char *prompt);
