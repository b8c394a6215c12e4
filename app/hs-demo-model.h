/* hs-demo-model.h: the demo model (issue #10), a small HART for 64 × 64 pictures of simple shapes
 * that ships with Hart Studio. The window opens it when no model folder is configured and the
 * model store has no ready model, so the app draws something before anything is downloaded;
 * a configured or downloaded model always wins.
 *
 * Looked for in $HART_STUDIO_DEMO_MODEL_DIR alone when that is set (empty: no demo model), else in
 * the installed ${datadir}/hart-studio/demo-model, else in the source tree's data/demo-model (a
 * build run without installing). `hart generate` searches the same compiled-in folders
 * (engine/tools/demo_model.h). A folder counts only when both parts pass the model store's own
 * validation (hs_model_validate_dir). */
#ifndef HS_DEMO_MODEL_H
#define HS_DEMO_MODEL_H

#include <glib.h>

G_BEGIN_DECLS

#define HS_ENV_DEMO_MODEL_DIR "HART_STUDIO_DEMO_MODEL_DIR"
/* The two parts inside the folder (tools/train-demo/config.py HART_DIR and QWEN_DIR). */
#define HS_DEMO_HART_SUBDIR "hart-demo-64px"
#define HS_DEMO_TEXT_SUBDIR "qwen2-demo"

/* The folders to try, in order (NULL-terminated, newly allocated). */
GStrv hs_demo_model_candidates(void);

/* TRUE when root holds a HART folder and a Qwen2 folder (with its tokenizer.json) that validate. */
gboolean hs_demo_model_check(const char *root, GError **error);

/* The first candidate that passes hs_demo_model_check(): returns its folder and sets *hart_dir
 * and *text_dir (either may be NULL) to its parts, all newly allocated. NULL with every folder
 * tried and why in the error when there is none. */
char *hs_demo_model_find(char **hart_dir, char **text_dir, GError **error);

G_END_DECLS

#endif
