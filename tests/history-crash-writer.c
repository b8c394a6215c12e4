/* history-crash-writer.c: adds images to a history forever, the way the app does (HsHistory on
 * its worker thread), deleting one now and then, until test-history-crash kills it with SIGKILL.
 *
 * Usage: history-crash-writer DIR RUN   (prints "added N" after each image is committed)
 * Image i of run R has seed R * 100000 + i and the test pattern of that seed, so the test can
 * check every surviving PNG pixel by pixel. */
#include <stdio.h>
#include <stdlib.h>

#include "test-history-util.h"

#define SIDE 16

int main(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  HsHistory *h;
  HsHistoryReconcileReport *r;
  guint64 run;

  if (argc != 3) {
    g_printerr("usage: %s DIR RUN\n", argv[0]);
    return 2;
  }
  run = g_ascii_strtoull(argv[2], NULL, 10);
  h = hs_history_new(argv[1]);
  /* As at app start: clean up after the previous kill. */
  r = th_reconcile(h, &error);
  if (r == NULL)
    g_error("reconcile: %s", error->message);
  hs_history_reconcile_report_free(r);
  for (guint64 i = 0;; i++) {
    guint64 seed = run * 100000 + i;
    g_autofree char *prompt =
        g_strdup_printf("crash run %" G_GUINT64_FORMAT " image %" G_GUINT64_FORMAT, run, i);
    HsHistoryItem *item = th_add(h, prompt, seed, SIDE, SIDE, &error);

    if (item == NULL)
      g_error("add: %s", error->message);
    /* Every third image is deleted again: hide, then purge (file, then row). */
    if (i % 3 == 2 && (!th_delete(h, item, &error) || !th_purge(h, item, &error)))
      g_error("delete: %s", error->message);
    g_object_unref(item);
    /* Progress for the test, which kills at random moments after a random number of these. */
    printf("added %" G_GUINT64_FORMAT "\n", i);
    fflush(stdout);
  }
  return 0;
}
