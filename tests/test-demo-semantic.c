/* test-demo-semantic.c: does the demo model draw what the prompt asks for? For every held-out
 * caption of tests/data/demo-semantic.json (combinations never seen verbatim in training, written
 * by tools/train-demo/scenes.py --export-semantic) the engine generates a picture on the CPU at
 * the case's seed, and simple image analysis checks each attribute the caption names:
 *   - background: the palette colour most pixels of the image's border are nearest to;
 *   - each shape: the palette colour most pixels of the region where the caption puts it are
 *     nearest to, leaving out the pixels that look like the background (close to a border pixel
 *     of the same row or column, so gradients and stripes drop out too).
 * It prints every case, the background and shape scores and "semantic score: K/N attributes
 * (P%)", and fails below MIN_BACKGROUND_PERCENT (backgrounds) or MIN_SCORE_PERCENT (all). Exit 77
 * (skip) when no demo model (or no case file) is found.
 *
 * The analysis itself scores 97/97 on the renderer's own pictures of these cases and 94/97 on
 * them blurred (Gaussian 1.2 px) with noise (sigma 12); random weights score about 10%.
 *
 *   test-demo-semantic [--data FILE] [--out DIR] [--reference DIR]
 * --out writes the generated pictures (case-NN.png); --reference scores case-NN.ppm files (P6)
 * instead of generating, to check the analysis itself on the renderer's own pictures. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "demo_model.h"
#include "hart.h"
#include "image.h"

/* Chance for one colour attribute is about 1/10 (ten palette colours); the placeholder with
 * random weights scores 10%. The shipped model (tools/train-demo/README.md, run of 2026-11-26)
 * gets the background of 35 of 35 plain-background captions right and 17 of 62 shape colours,
 * 52/97 = 53.6% in all (the model before it: 41/97, 6 of 62 shapes). It reads the caption's
 * background and where a shape goes, but its transformer often draws a small shape faint or in the
 * wrong colour: the tokenizer alone reconstructs the renderer's pictures of these cases to 52 of
 * 62 shape colours (39 from the discrete tokens alone). The thresholds sit below those
 * measurements, with room for last-bit differences between machines (another summation order can
 * flip a sampled token), and far above chance, so a model that stops reading the caption fails:
 * nine in ten backgrounds must be right, and the whole score must stay at four times chance and
 * near "most". Raise them when a better demo model ships. */
#define MIN_BACKGROUND_PERCENT 90.0
#define MIN_SCORE_PERCENT 45.0

/* Border ring width (pixels at 64 × 64; scaled with the image) that defines the background. */
#define BORDER_FRACTION (3.0 / 64.0)
/* A region pixel this close (RGB distance) to a border pixel of its row or column counts as
 * background. */
#define NEAR_BACKGROUND 60.0
/* Share of the border one palette colour needs for the background to count as plain. */
#define PLAIN_SHARE 0.7

typedef struct {
  char *name;
  double rgb[3];
} PaletteColor;

typedef struct {
  GArray *palette; /* PaletteColor */
  JsonObject *regions;
  JsonArray *cases;
} SemanticData;

static int nearest_color(const SemanticData *d, const double px[3])
{
  int best = -1;
  double best_d = INFINITY;

  for (guint i = 0; i < d->palette->len; i++) {
    const PaletteColor *c = &g_array_index(d->palette, PaletteColor, i);
    double dist = 0;
    for (int k = 0; k < 3; k++)
      dist += (px[k] - c->rgb[k]) * (px[k] - c->rgb[k]);
    if (dist < best_d) {
      best_d = dist;
      best = (int)i;
    }
  }
  return best;
}

static const char *color_name(const SemanticData *d, int index)
{
  return index < 0 ? "none" : g_array_index(d->palette, PaletteColor, index).name;
}

static int argmax(const guint *votes, guint n)
{
  int best = -1;
  guint best_n = 0;

  for (guint i = 0; i < n; i++)
    if (votes[i] > best_n) {
      best_n = votes[i];
      best = (int)i;
    }
  return best;
}

static int border_width(int size)
{
  return MAX(1, (int)lround(BORDER_FRACTION * size));
}

static void pixel(const guint8 *rgb, int size, int x, int y, double out[3])
{
  for (int k = 0; k < 3; k++)
    out[k] = rgb[((gsize)y * size + x) * 3 + k];
}

/* The border's majority palette colour; *plain tells whether it holds most of the border (a
 * plain background rather than a gradient or stripes). */
static int background_color(const SemanticData *d, const guint8 *rgb, int size, gboolean *plain)
{
  g_autofree guint *votes = g_new0(guint, d->palette->len);
  int ring = border_width(size), best;
  guint n = 0;

  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++) {
      double px[3];
      if (x >= ring && x < size - ring && y >= ring && y < size - ring)
        continue;
      pixel(rgb, size, x, y, px);
      votes[nearest_color(d, px)]++;
      n++;
    }
  best = argmax(votes, d->palette->len);
  *plain = votes[best] >= PLAIN_SHARE * n;
  return best;
}

/* Whether a pixel looks like the background there: close to a border pixel of its own row (a
 * gradient runs top to bottom) or of its own column (stripes are vertical). */
static gboolean looks_like_background(const guint8 *rgb, int size, int x, int y)
{
  int ring = border_width(size);
  double px[3];

  pixel(rgb, size, x, y, px);
  for (int i = 0; i < size; i++) {
    gboolean border_i = i < ring || i >= size - ring;
    for (int axis = 0; axis < 2; axis++) {
      /* axis 0: (i, y) along the row; axis 1: (x, i) along the column. */
      double ref[3], dist = 0;
      if (!border_i)
        continue;
      pixel(rgb, size, axis == 0 ? i : x, axis == 0 ? y : i, ref);
      for (int k = 0; k < 3; k++)
        dist += (px[k] - ref[k]) * (px[k] - ref[k]);
      if (sqrt(dist) < NEAR_BACKGROUND)
        return TRUE;
    }
  }
  return FALSE;
}

/* The majority palette colour inside a region [x0,y0,x1,y1] (fractions), leaving out pixels that
 * look like the background (and, on a plain one, of its palette colour). -1 when none is left. */
static int region_color(const SemanticData *d, const guint8 *rgb, int size, JsonArray *box,
                        int bg_index, gboolean plain)
{
  g_autofree guint *votes = g_new0(guint, d->palette->len);
  int x0 = (int)floor(json_array_get_double_element(box, 0) * size);
  int y0 = (int)floor(json_array_get_double_element(box, 1) * size);
  int x1 = (int)ceil(json_array_get_double_element(box, 2) * size);
  int y1 = (int)ceil(json_array_get_double_element(box, 3) * size);

  for (int y = MAX(0, y0); y < MIN(size, y1); y++)
    for (int x = MAX(0, x0); x < MIN(size, x1); x++) {
      double px[3];
      int c;
      pixel(rgb, size, x, y, px);
      c = nearest_color(d, px);
      if ((plain && c == bg_index) || looks_like_background(rgb, size, x, y))
        continue;
      votes[c]++;
    }
  return argmax(votes, d->palette->len);
}

static gboolean load_data(const char *path, JsonParser *parser, SemanticData *d, GError **error)
{
  JsonObject *root, *palette;
  g_autoptr(GList) names = NULL;

  if (!json_parser_load_from_file(parser, path, error))
    return FALSE;
  root = json_node_get_object(json_parser_get_root(parser));
  palette = json_object_get_object_member(root, "palette");
  d->regions = json_object_get_object_member(root, "regions");
  d->cases = json_object_get_array_member(root, "cases");
  d->palette = g_array_new(FALSE, TRUE, sizeof(PaletteColor));
  names = json_object_get_members(palette);
  for (GList *l = names; l != NULL; l = l->next) {
    JsonArray *rgb = json_object_get_array_member(palette, l->data);
    PaletteColor c = { g_strdup(l->data), { 0 } };
    for (int k = 0; k < 3; k++)
      c.rgb[k] = json_array_get_double_element(rgb, k);
    g_array_append_val(d->palette, c);
  }
  return TRUE;
}

/* A binary PPM (P6, maxval 255, no comments), as PIL writes it. */
static guint8 *read_ppm(const char *path, int *size)
{
  g_autofree char *bytes = NULL;
  gsize len = 0;
  int w = 0, h = 0, maxval = 0, used = 0;

  if (!g_file_get_contents(path, &bytes, &len, NULL) ||
      sscanf(bytes, "P6 %d %d %d%n", &w, &h, &maxval, &used) != 3 || w != h || maxval != 255 ||
      (gsize)used + 1 + (gsize)w * h * 3 > len)
    return NULL;
  *size = w;
  return g_memdup2(bytes + used + 1, (gsize)w * h * 3);
}

int main(int argc, char **argv)
{
  g_autofree char *data_path = NULL;
  g_autofree char *out_dir = NULL;
  g_autofree char *reference = NULL;
  g_autofree char *hart_dir = NULL;
  g_autofree char *text_dir = NULL;
  GOptionEntry entries[] = {
    { "data", 0, 0, G_OPTION_ARG_FILENAME, &data_path, "Cases (default tests/data/...)", "FILE" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &out_dir, "Write the pictures here", "DIR" },
    { "reference", 0, 0, G_OPTION_ARG_FILENAME, &reference, "Score case-NN.ppm files", "DIR" },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr(GOptionContext) oc = g_option_context_new("- semantic test of the demo model");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  SemanticData d = { 0 };
  hart_engine *engine = NULL;
  guint right = 0, total = 0, bg_right = 0, bg_total = 0;
  double percent, bg_percent;
  char errbuf[600];

  g_option_context_add_main_entries(oc, entries, NULL);
  if (!g_option_context_parse(oc, &argc, &argv, &error)) {
    fprintf(stderr, "%s\n", error->message);
    return 2;
  }
  if (data_path == NULL)
    data_path = g_strdup(HS_DEMO_SEMANTIC_DATA);
  /* The cases come with the recipe (tools/train-demo/scenes.py --export-semantic). */
  if (!g_file_test(data_path, G_FILE_TEST_EXISTS)) {
    printf("SKIP: %s is missing\n", data_path);
    return 77;
  }
  if (!load_data(data_path, parser, &d, &error)) {
    fprintf(stderr, "semantic data %s: %s\n", data_path, error->message);
    return 1;
  }

  if (reference == NULL) {
    hart_open_options oo;
    if (!hart_demo_model_find(&hart_dir, &text_dir, &error)) {
      printf("SKIP: %s\n", error->message);
      return 77;
    }
    printf("demo model: %s, %s\n", hart_dir, text_dir);
    hart_open_options_init(&oo);
    oo.model_dir = hart_dir;
    oo.text_model_dir = text_dir;
    oo.backend = HART_BACKEND_CPU;
    /* The machine running the tests is shared. */
    oo.n_threads = 1;
    if (hart_engine_open(&oo, &engine, errbuf, sizeof errbuf) != HART_OK) {
      fprintf(stderr, "cannot open the demo model: %s\n", errbuf);
      return 1;
    }
  }
  if (out_dir != NULL)
    g_mkdir_with_parents(out_dir, 0755);

  for (guint i = 0; i < json_array_get_length(d.cases); i++) {
    JsonObject *c = json_array_get_object_element(d.cases, i);
    JsonArray *shapes = json_object_get_array_member(c, "shapes");
    const char *want_bg = json_object_get_null_member(c, "background")
                              ? NULL
                              : json_object_get_string_member(c, "background");
    g_autofree guint8 *rgb = NULL;
    g_autoptr(GString) line = g_string_new(NULL);
    gboolean plain;
    int size = 0, bg;

    if (engine != NULL) {
      hart_request req;
      hart_image img = { 0 };

      hart_request_init(&req);
      req.prompt = json_object_get_string_member(c, "prompt");
      req.seed = (uint64_t)json_object_get_int_member(c, "seed");
      if (hart_generate(engine, &req, &img) != HART_OK) {
        fprintf(stderr, "case %u: %s\n", i, hart_engine_last_error(engine));
        hart_engine_close(engine);
        return 1;
      }
      g_assert_cmpint(img.width, ==, img.height);
      size = img.width;
      rgb = g_memdup2(img.rgb, (gsize)size * size * 3);
      hart_image_clear(&img);
      if (out_dir != NULL) {
        g_autofree char *name = g_strdup_printf("case-%02u.png", i);
        g_autofree char *path = g_build_filename(out_dir, name, NULL);
        hart_error err = { 0 };
        if (hart_png_write(path, rgb, size, size, NULL, &err) != HART_OK)
          fprintf(stderr, "%s: %s\n", path, err.msg);
      }
    } else {
      g_autofree char *name = g_strdup_printf("case-%02u.ppm", i);
      g_autofree char *path = g_build_filename(reference, name, NULL);
      rgb = read_ppm(path, &size);
      if (rgb == NULL) {
        fprintf(stderr, "%s: not a P6 PPM\n", path);
        return 1;
      }
    }

    bg = background_color(&d, rgb, size, &plain);
    if (want_bg != NULL) {
      gboolean ok = g_str_equal(want_bg, color_name(&d, bg));
      g_string_append_printf(line, " background %s→%s %s", want_bg, color_name(&d, bg),
                             ok ? "ok" : "WRONG");
      right += ok;
      total++;
      bg_right += ok;
      bg_total++;
    }
    for (guint s = 0; s < json_array_get_length(shapes); s++) {
      JsonObject *shape = json_array_get_object_element(shapes, s);
      const char *want = json_object_get_string_member(shape, "color");
      const char *position = json_object_get_string_member(shape, "position");
      int got =
          region_color(&d, rgb, size, json_object_get_array_member(d.regions, position), bg, plain);
      gboolean ok = g_str_equal(want, color_name(&d, got));
      g_string_append_printf(line, " | %s %s→%s %s", position, want, color_name(&d, got),
                             ok ? "ok" : "WRONG");
      right += ok;
      total++;
    }
    printf("case %2u seed %" G_GINT64_FORMAT " “%s”:%s\n", i, json_object_get_int_member(c, "seed"),
           json_object_get_string_member(c, "prompt"), line->str);
  }
  hart_engine_close(engine);

  percent = total ? 100.0 * right / total : 0;
  bg_percent = bg_total ? 100.0 * bg_right / bg_total : 0;
  printf("backgrounds: %u/%u (%.1f%%), threshold %.0f%%\n", bg_right, bg_total, bg_percent,
         MIN_BACKGROUND_PERCENT);
  printf("shapes: %u/%u (%.1f%%)\n", right - bg_right, total - bg_total,
         total > bg_total ? 100.0 * (right - bg_right) / (total - bg_total) : 0.0);
  printf("semantic score: %u/%u attributes (%.1f%%), threshold %.0f%%\n", right, total, percent,
         MIN_SCORE_PERCENT);
  for (guint i = 0; i < d.palette->len; i++)
    g_free(g_array_index(d.palette, PaletteColor, i).name);
  g_array_unref(d.palette);
  if (total == 0 || percent < MIN_SCORE_PERCENT || bg_percent < MIN_BACKGROUND_PERCENT) {
    printf("FAIL: the demo model gets fewer than %.0f%% of the attributes or %.0f%% of the "
           "backgrounds right\n",
           MIN_SCORE_PERCENT, MIN_BACKGROUND_PERCENT);
    return 1;
  }
  return 0;
}
