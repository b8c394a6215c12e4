/* hs-history-model.c: HsHistoryModel. Keeps a sorted array of items (newest first) and patches
 * it from HsHistory's signals; anything it cannot patch exactly (a restore under a search, a
 * reconcile) is a reload. Loads are cancelled when a newer one starts. */
#include "hs-history-model.h"

struct _HsHistoryModel {
  GObject parent_instance;
  HsHistory *history;
  GPtrArray *items;
  char *query;
  gboolean favorites_only;
  GCancellable *loading;
};

static void list_model_iface_init(GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(HsHistoryModel, hs_history_model, G_TYPE_OBJECT,
                              G_IMPLEMENT_INTERFACE(G_TYPE_LIST_MODEL, list_model_iface_init))

enum { PROP_0, PROP_QUERY, PROP_FAVORITES_ONLY, PROP_LOADING, PROP_N_ITEMS, N_PROPS };
static GParamSpec *props[N_PROPS];

static GType get_item_type(GListModel *model)
{
  return HS_TYPE_HISTORY_ITEM;
}

static guint get_n_items(GListModel *model)
{
  return HS_HISTORY_MODEL(model)->items->len;
}

static gpointer get_item(GListModel *model, guint position)
{
  HsHistoryModel *self = HS_HISTORY_MODEL(model);

  if (position >= self->items->len)
    return NULL;
  return g_object_ref(g_ptr_array_index(self->items, position));
}

static void list_model_iface_init(GListModelInterface *iface)
{
  iface->get_item_type = get_item_type;
  iface->get_n_items = get_n_items;
  iface->get_item = get_item;
}

static void splice(HsHistoryModel *self, guint position, guint removed, HsHistoryItem *added)
{
  if (removed > 0)
    g_ptr_array_remove_range(self->items, position, removed);
  if (added != NULL)
    g_ptr_array_insert(self->items, (gint)position, g_object_ref(added));
  g_list_model_items_changed(G_LIST_MODEL(self), position, removed, added ? 1 : 0);
  if (removed != (added ? 1u : 0u))
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_N_ITEMS]);
}

static gboolean find_id(HsHistoryModel *self, gint64 id, guint *position)
{
  for (guint i = 0; i < self->items->len; i++)
    if (hs_history_item_get_id(g_ptr_array_index(self->items, i)) == id) {
      *position = i;
      return TRUE;
    }
  return FALSE;
}

/* Newest first; equal times by id, as the database orders them. */
static guint sorted_position(HsHistoryModel *self, HsHistoryItem *item)
{
  gint64 t = hs_history_item_get_created_us(item), id = hs_history_item_get_id(item);
  guint i;

  for (i = 0; i < self->items->len; i++) {
    HsHistoryItem *other = g_ptr_array_index(self->items, i);
    gint64 ot = hs_history_item_get_created_us(other);
    if (ot < t || (ot == t && hs_history_item_get_id(other) < id))
      break;
  }
  return i;
}

static gboolean filtering(HsHistoryModel *self)
{
  return self->query != NULL && self->query[0] != '\0';
}

static void on_loaded(GObject *source, GAsyncResult *res, gpointer user_data)
{
  HsHistoryModel *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) items = hs_history_list_finish(HS_HISTORY(source), res, &error);
  guint old_len;

  if (items == NULL) {
    if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_warning("Could not load the history: %s", error->message);
      g_clear_object(&self->loading);
      g_object_notify_by_pspec(G_OBJECT(self), props[PROP_LOADING]);
    }
    g_object_unref(self);
    return;
  }
  old_len = self->items->len;
  g_ptr_array_unref(self->items);
  self->items = g_steal_pointer(&items);
  g_clear_object(&self->loading);
  g_list_model_items_changed(G_LIST_MODEL(self), 0, old_len, self->items->len);
  if (old_len != self->items->len)
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_N_ITEMS]);
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_LOADING]);
  g_object_unref(self);
}

void hs_history_model_reload(HsHistoryModel *self)
{
  gboolean was_loading;

  g_return_if_fail(HS_IS_HISTORY_MODEL(self));
  was_loading = self->loading != NULL;
  if (was_loading)
    g_cancellable_cancel(self->loading);
  g_clear_object(&self->loading);
  self->loading = g_cancellable_new();
  hs_history_list_async(self->history, self->query, self->favorites_only, 0, 0, self->loading,
                        on_loaded, g_object_ref(self));
  if (!was_loading)
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_LOADING]);
}

static void on_item_added(HsHistory *history, HsHistoryItem *item, HsHistoryModel *self)
{
  guint pos;

  /* A search decides matches in SQL (FTS tokenizer): ask the database. */
  if (filtering(self) || self->loading != NULL) {
    hs_history_model_reload(self);
    return;
  }
  if (self->favorites_only && !hs_history_item_get_favorite(item))
    return;
  if (!find_id(self, hs_history_item_get_id(item), &pos))
    splice(self, sorted_position(self, item), 0, item);
}

static void on_item_removed(HsHistory *history, HsHistoryItem *item, HsHistoryModel *self)
{
  guint pos;

  if (find_id(self, hs_history_item_get_id(item), &pos))
    splice(self, pos, 1, NULL);
}

static void on_item_restored(HsHistory *history, HsHistoryItem *item, HsHistoryModel *self)
{
  on_item_added(history, item, self);
}

static void on_item_favorite(HsHistoryModel *self, HsHistoryItem *item)
{
  guint pos;

  if (!self->favorites_only)
    return;
  if (!hs_history_item_get_favorite(item) && find_id(self, hs_history_item_get_id(item), &pos))
    splice(self, pos, 1, NULL);
  else if (hs_history_item_get_favorite(item))
    on_item_added(self->history, item, self);
}

static void on_changed(HsHistory *history, HsHistoryModel *self)
{
  hs_history_model_reload(self);
}

static void on_item_changed(HsHistory *history, HsHistoryItem *item, HsHistoryModel *self)
{
  on_item_favorite(self, item);
}

static void hs_history_model_dispose(GObject *object)
{
  HsHistoryModel *self = HS_HISTORY_MODEL(object);

  if (self->loading != NULL)
    g_cancellable_cancel(self->loading);
  g_clear_object(&self->loading);
  if (self->history != NULL)
    g_signal_handlers_disconnect_by_data(self->history, self);
  g_clear_object(&self->history);
  G_OBJECT_CLASS(hs_history_model_parent_class)->dispose(object);
}

static void hs_history_model_finalize(GObject *object)
{
  HsHistoryModel *self = HS_HISTORY_MODEL(object);

  g_ptr_array_unref(self->items);
  g_free(self->query);
  G_OBJECT_CLASS(hs_history_model_parent_class)->finalize(object);
}

static void hs_history_model_get_property(GObject *object, guint prop_id, GValue *value,
                                          GParamSpec *pspec)
{
  HsHistoryModel *self = HS_HISTORY_MODEL(object);

  switch (prop_id) {
  case PROP_QUERY:
    g_value_set_string(value, self->query);
    break;
  case PROP_FAVORITES_ONLY:
    g_value_set_boolean(value, self->favorites_only);
    break;
  case PROP_LOADING:
    g_value_set_boolean(value, self->loading != NULL);
    break;
  case PROP_N_ITEMS:
    g_value_set_uint(value, self->items->len);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void hs_history_model_set_property(GObject *object, guint prop_id, const GValue *value,
                                          GParamSpec *pspec)
{
  HsHistoryModel *self = HS_HISTORY_MODEL(object);

  switch (prop_id) {
  case PROP_QUERY:
    hs_history_model_set_query(self, g_value_get_string(value));
    break;
  case PROP_FAVORITES_ONLY:
    hs_history_model_set_favorites_only(self, g_value_get_boolean(value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void hs_history_model_class_init(HsHistoryModelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  object_class->dispose = hs_history_model_dispose;
  object_class->finalize = hs_history_model_finalize;
  object_class->get_property = hs_history_model_get_property;
  object_class->set_property = hs_history_model_set_property;
  props[PROP_QUERY] = g_param_spec_string("query", NULL, NULL, NULL, rw);
  props[PROP_FAVORITES_ONLY] = g_param_spec_boolean("favorites-only", NULL, NULL, FALSE, rw);
  props[PROP_LOADING] = g_param_spec_boolean("loading", NULL, NULL, FALSE, ro);
  props[PROP_N_ITEMS] = g_param_spec_uint("n-items", NULL, NULL, 0, G_MAXUINT, 0, ro);
  g_object_class_install_properties(object_class, N_PROPS, props);
}

static void hs_history_model_init(HsHistoryModel *self)
{
  self->items = g_ptr_array_new_with_free_func(g_object_unref);
}

HsHistoryModel *hs_history_model_new(HsHistory *history)
{
  HsHistoryModel *self;

  g_return_val_if_fail(HS_IS_HISTORY(history), NULL);
  self = g_object_new(HS_TYPE_HISTORY_MODEL, NULL);
  self->history = g_object_ref(history);
  g_signal_connect(history, "item-added", G_CALLBACK(on_item_added), self);
  g_signal_connect(history, "item-removed", G_CALLBACK(on_item_removed), self);
  g_signal_connect(history, "item-restored", G_CALLBACK(on_item_restored), self);
  g_signal_connect(history, "item-changed", G_CALLBACK(on_item_changed), self);
  g_signal_connect(history, "changed", G_CALLBACK(on_changed), self);
  hs_history_model_reload(self);
  return self;
}

HsHistory *hs_history_model_get_history(HsHistoryModel *self)
{
  g_return_val_if_fail(HS_IS_HISTORY_MODEL(self), NULL);
  return self->history;
}

void hs_history_model_set_query(HsHistoryModel *self, const char *query)
{
  g_return_if_fail(HS_IS_HISTORY_MODEL(self));
  if (g_strcmp0(self->query, query) == 0)
    return;
  g_free(self->query);
  self->query = g_strdup(query);
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_QUERY]);
  hs_history_model_reload(self);
}

const char *hs_history_model_get_query(HsHistoryModel *self)
{
  g_return_val_if_fail(HS_IS_HISTORY_MODEL(self), NULL);
  return self->query;
}

void hs_history_model_set_favorites_only(HsHistoryModel *self, gboolean favorites_only)
{
  g_return_if_fail(HS_IS_HISTORY_MODEL(self));
  favorites_only = !!favorites_only;
  if (self->favorites_only == favorites_only)
    return;
  self->favorites_only = favorites_only;
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_FAVORITES_ONLY]);
  hs_history_model_reload(self);
}

gboolean hs_history_model_get_favorites_only(HsHistoryModel *self)
{
  g_return_val_if_fail(HS_IS_HISTORY_MODEL(self), FALSE);
  return self->favorites_only;
}

gboolean hs_history_model_get_loading(HsHistoryModel *self)
{
  g_return_val_if_fail(HS_IS_HISTORY_MODEL(self), FALSE);
  return self->loading != NULL;
}
