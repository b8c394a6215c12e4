/* hs-canvas.c: a code-only widget whose snapshot() draws the current texture, letterboxed. */
#define G_LOG_DOMAIN "HsCanvas"

#include "hs-config.h"

#include "hs-canvas.h"

#include <math.h>

struct _HsCanvas {
  GtkWidget parent_instance;
  GdkTexture *texture;
};

enum { PROP_0, PROP_TEXTURE, N_PROPS };

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE(HsCanvas, hs_canvas, GTK_TYPE_WIDGET)

static void hs_canvas_snapshot(GtkWidget *widget, GtkSnapshot *snapshot)
{
  HsCanvas *self = HS_CANVAS(widget);
  double w = gtk_widget_get_width(widget);
  double h = gtk_widget_get_height(widget);
  double tw, th, scale;

  if (self->texture == NULL || w <= 0 || h <= 0)
    return;

  tw = gdk_texture_get_width(self->texture);
  th = gdk_texture_get_height(self->texture);
  scale = MIN(w / tw, h / th);
  /* Pixel-aligned placement keeps enlarged tiny previews crisp. */
  gtk_snapshot_append_texture(snapshot, self->texture,
                              &GRAPHENE_RECT_INIT((float)floor((w - tw * scale) / 2),
                                                  (float)floor((h - th * scale) / 2),
                                                  (float)(tw * scale), (float)(th * scale)));
}

static void hs_canvas_measure(GtkWidget *widget, GtkOrientation orientation, int for_size,
                              int *minimum, int *natural, int *minimum_baseline,
                              int *natural_baseline)
{
  /* Any size works: the picture scales to fit. */
  *minimum = 64;
  *natural = 512;
}

static void hs_canvas_dispose(GObject *object)
{
  HsCanvas *self = HS_CANVAS(object);

  g_clear_object(&self->texture);
  G_OBJECT_CLASS(hs_canvas_parent_class)->dispose(object);
}

static void hs_canvas_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  HsCanvas *self = HS_CANVAS(object);

  switch (prop_id) {
  case PROP_TEXTURE:
    g_value_set_object(value, self->texture);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void hs_canvas_set_property(GObject *object, guint prop_id, const GValue *value,
                                   GParamSpec *pspec)
{
  HsCanvas *self = HS_CANVAS(object);

  switch (prop_id) {
  case PROP_TEXTURE:
    hs_canvas_set_texture(self, g_value_get_object(value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void hs_canvas_class_init(HsCanvasClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  object_class->dispose = hs_canvas_dispose;
  object_class->get_property = hs_canvas_get_property;
  object_class->set_property = hs_canvas_set_property;
  widget_class->snapshot = hs_canvas_snapshot;
  widget_class->measure = hs_canvas_measure;

  properties[PROP_TEXTURE] =
      g_param_spec_object("texture", NULL, NULL, GDK_TYPE_TEXTURE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, properties);
  gtk_widget_class_set_css_name(widget_class, "hs-canvas");
  gtk_widget_class_set_accessible_role(widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void hs_canvas_init(HsCanvas *self)
{
}

GtkWidget *hs_canvas_new(void)
{
  return g_object_new(HS_TYPE_CANVAS, NULL);
}

GdkTexture *hs_canvas_get_texture(HsCanvas *self)
{
  g_return_val_if_fail(HS_IS_CANVAS(self), NULL);
  return self->texture;
}

void hs_canvas_set_texture(HsCanvas *self, GdkTexture *texture)
{
  g_return_if_fail(HS_IS_CANVAS(self));
  g_return_if_fail(texture == NULL || GDK_IS_TEXTURE(texture));

  if (g_set_object(&self->texture, texture)) {
    gtk_widget_queue_draw(GTK_WIDGET(self));
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_TEXTURE]);
  }
}
