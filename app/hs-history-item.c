/* hs-history-item.c: HsHistoryItem, an immutable snapshot of a row plus two mutable flags. */
#include "hs-history-item.h"

struct _HsHistoryItem {
  GObject parent_instance;
  gint64 id;
  HsGenParams *params;
  char *image_path;
  gboolean favorite;
  gboolean missing;
};

G_DEFINE_FINAL_TYPE(HsHistoryItem, hs_history_item, G_TYPE_OBJECT)

enum { PROP_0, PROP_ID, PROP_PROMPT, PROP_IMAGE_PATH, PROP_FAVORITE, PROP_MISSING, N_PROPS };
static GParamSpec *props[N_PROPS];

static void hs_history_item_finalize(GObject *object)
{
  HsHistoryItem *self = HS_HISTORY_ITEM(object);

  hs_gen_params_free(self->params);
  g_free(self->image_path);
  G_OBJECT_CLASS(hs_history_item_parent_class)->finalize(object);
}

static void hs_history_item_get_property(GObject *object, guint prop_id, GValue *value,
                                         GParamSpec *pspec)
{
  HsHistoryItem *self = HS_HISTORY_ITEM(object);

  switch (prop_id) {
  case PROP_ID:
    g_value_set_int64(value, self->id);
    break;
  case PROP_PROMPT:
    g_value_set_string(value, self->params->prompt);
    break;
  case PROP_IMAGE_PATH:
    g_value_set_string(value, self->image_path);
    break;
  case PROP_FAVORITE:
    g_value_set_boolean(value, self->favorite);
    break;
  case PROP_MISSING:
    g_value_set_boolean(value, self->missing);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void hs_history_item_class_init(HsHistoryItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  object_class->finalize = hs_history_item_finalize;
  object_class->get_property = hs_history_item_get_property;
  props[PROP_ID] = g_param_spec_int64("id", NULL, NULL, 0, G_MAXINT64, 0, ro);
  props[PROP_PROMPT] = g_param_spec_string("prompt", NULL, NULL, NULL, ro);
  props[PROP_IMAGE_PATH] = g_param_spec_string("image-path", NULL, NULL, NULL, ro);
  props[PROP_FAVORITE] =
      g_param_spec_boolean("favorite", NULL, NULL, FALSE, ro | G_PARAM_EXPLICIT_NOTIFY);
  props[PROP_MISSING] =
      g_param_spec_boolean("missing", NULL, NULL, FALSE, ro | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties(object_class, N_PROPS, props);
}

static void hs_history_item_init(HsHistoryItem *self)
{
}

HsHistoryItem *hs_history_item_new(gint64 id, HsGenParams *params, const char *image_path,
                                   gboolean favorite, gboolean missing)
{
  HsHistoryItem *self;

  g_return_val_if_fail(params != NULL && image_path != NULL, NULL);
  self = g_object_new(HS_TYPE_HISTORY_ITEM, NULL);
  self->id = id;
  self->params = params;
  if (self->params->prompt == NULL)
    self->params->prompt = g_strdup("");
  self->image_path = g_strdup(image_path);
  self->favorite = favorite;
  self->missing = missing;
  return self;
}

gint64 hs_history_item_get_id(HsHistoryItem *self)
{
  g_return_val_if_fail(HS_IS_HISTORY_ITEM(self), 0);
  return self->id;
}

const HsGenParams *hs_history_item_get_params(HsHistoryItem *self)
{
  g_return_val_if_fail(HS_IS_HISTORY_ITEM(self), NULL);
  return self->params;
}

const char *hs_history_item_get_prompt(HsHistoryItem *self)
{
  g_return_val_if_fail(HS_IS_HISTORY_ITEM(self), NULL);
  return self->params->prompt;
}

guint64 hs_history_item_get_seed(HsHistoryItem *self)
{
  g_return_val_if_fail(HS_IS_HISTORY_ITEM(self), 0);
  return self->params->seed;
}

gint64 hs_history_item_get_created_us(HsHistoryItem *self)
{
  g_return_val_if_fail(HS_IS_HISTORY_ITEM(self), 0);
  return self->params->created_us;
}

const char *hs_history_item_get_image_path(HsHistoryItem *self)
{
  g_return_val_if_fail(HS_IS_HISTORY_ITEM(self), NULL);
  return self->image_path;
}

gboolean hs_history_item_get_favorite(HsHistoryItem *self)
{
  g_return_val_if_fail(HS_IS_HISTORY_ITEM(self), FALSE);
  return self->favorite;
}

gboolean hs_history_item_get_missing(HsHistoryItem *self)
{
  g_return_val_if_fail(HS_IS_HISTORY_ITEM(self), FALSE);
  return self->missing;
}

void hs_history_item_set_favorite(HsHistoryItem *self, gboolean favorite)
{
  g_return_if_fail(HS_IS_HISTORY_ITEM(self));
  favorite = !!favorite;
  if (self->favorite == favorite)
    return;
  self->favorite = favorite;
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_FAVORITE]);
}

void hs_history_item_set_missing(HsHistoryItem *self, gboolean missing)
{
  g_return_if_fail(HS_IS_HISTORY_ITEM(self));
  missing = !!missing;
  if (self->missing == missing)
    return;
  self->missing = missing;
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_MISSING]);
}
