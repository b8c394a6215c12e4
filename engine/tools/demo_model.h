/* demo_model.h: where `hart` finds the demo model (issue #10) when no --model is given: the small
 * HART that ships in the source tree's data/demo-model/ and is installed to
 * ${datadir}/hart-studio/demo-model. Hart Studio looks in the same places (app/hs-demo-model.c,
 * which validates through the model store instead); both take the two compiled-in folders from
 * the top-level meson.build, so the list of places exists once. */
#pragma once

#include <glib.h>

/* A folder holding the two parts below; set but empty, there is no demo model. */
#define HART_DEMO_MODEL_ENV "HART_DEMO_MODEL_DIR"
/* The demo model's parts inside its folder (tools/train-demo/config.py HART_DIR, QWEN_DIR). */
#define HART_DEMO_HART_SUBDIR "hart-demo-64px"
#define HART_DEMO_TEXT_SUBDIR "qwen2-demo"

/* Checks one demo folder with the engine's readers: configs, the weights the engine would
 * choose and their tensor manifests, and that the two HART parts fit each other. */
gboolean hart_demo_model_check(const char *root, GError **error);

/* $HART_DEMO_MODEL_DIR alone when it is set, else the installed folder, else the source tree's.
 * The first folder that passes hart_demo_model_check() wins: *hart_dir and *text_dir (newly
 * allocated) are its parts. FALSE with every folder tried and why in the error otherwise. */
gboolean hart_demo_model_find(char **hart_dir, char **text_dir, GError **error);
