/* hs-history-schema.c: schema versions of the history database.
 *
 * v1: items (one row per image) and thumbnails (small PNGs, apart so listing stays light).
 * v2: the favorite flag and an FTS5 index of the prompts (external content, kept in step by
 *     triggers), filled from the rows already there.
 * A new version adds a function and a line to `steps`; released steps never change. */
#include "hs-history-schema.h"

#include "hs-history.h"

gboolean hs_history_sql_exec(sqlite3 *db, const char *sql, GError **error)
{
  char *msg = NULL;

  if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
    return TRUE;
  g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_DATABASE, "History database: %s",
              msg ? msg : sqlite3_errmsg(db));
  sqlite3_free(msg);
  return FALSE;
}

static const char schema_v1[] =
    "CREATE TABLE items ("
    "  id INTEGER PRIMARY KEY,"
    "  created_us INTEGER NOT NULL,"
    "  prompt TEXT NOT NULL,"
    "  seed INTEGER NOT NULL," /* the guint64 seed, stored as its int64 bit pattern */
    "  cfg REAL NOT NULL,"
    "  smooth INTEGER NOT NULL,"
    "  system_prompt INTEGER NOT NULL,"
    "  model_name TEXT,"
    "  model_revision TEXT,"
    "  model_hash TEXT,"
    "  engine_version TEXT,"
    "  backend TEXT,"
    "  device TEXT,"
    "  t_text REAL NOT NULL DEFAULT 0,"
    "  t_transformer REAL NOT NULL DEFAULT 0,"
    "  t_diffusion REAL NOT NULL DEFAULT 0,"
    "  t_decode REAL NOT NULL DEFAULT 0,"
    "  t_total REAL NOT NULL DEFAULT 0,"
    "  width INTEGER NOT NULL,"
    "  height INTEGER NOT NULL,"
    "  image_path TEXT NOT NULL UNIQUE," /* relative to the database's folder */
    "  missing INTEGER NOT NULL DEFAULT 0,"
    "  hidden INTEGER NOT NULL DEFAULT 0" /* first phase of a delete, undoable */
    ");"
    "CREATE INDEX items_created ON items (created_us DESC, id DESC);"
    "CREATE TABLE thumbnails ("
    "  item_id INTEGER PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,"
    "  png BLOB NOT NULL"
    ");";

gboolean hs_history_schema_create_v1(sqlite3 *db, GError **error)
{
  return hs_history_sql_exec(db, schema_v1, error);
}

static gboolean migrate_v1_to_v2(sqlite3 *db, GError **error)
{
  return hs_history_sql_exec(
      db,
      "ALTER TABLE items ADD COLUMN favorite INTEGER NOT NULL DEFAULT 0;"
      "CREATE INDEX items_favorite ON items (favorite, created_us DESC);"
      "CREATE VIRTUAL TABLE items_fts USING fts5 (prompt, content='items', content_rowid='id',"
      "  tokenize='unicode61 remove_diacritics 2');"
      "CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN"
      "  INSERT INTO items_fts (rowid, prompt) VALUES (new.id, new.prompt);"
      "END;"
      "CREATE TRIGGER items_fts_ad AFTER DELETE ON items BEGIN"
      "  INSERT INTO items_fts (items_fts, rowid, prompt) VALUES ('delete', old.id, old.prompt);"
      "END;"
      "CREATE TRIGGER items_fts_au AFTER UPDATE OF prompt ON items BEGIN"
      "  INSERT INTO items_fts (items_fts, rowid, prompt) VALUES ('delete', old.id, old.prompt);"
      "  INSERT INTO items_fts (rowid, prompt) VALUES (new.id, new.prompt);"
      "END;"
      "INSERT INTO items_fts (items_fts) VALUES ('rebuild');",
      error);
}

typedef gboolean (*MigrationStep)(sqlite3 *db, GError **error);

/* steps[i] brings version i to version i + 1. */
static const MigrationStep steps[HS_HISTORY_SCHEMA_VERSION] = {
  hs_history_schema_create_v1,
  migrate_v1_to_v2,
};

int hs_history_schema_version(sqlite3 *db, GError **error)
{
  sqlite3_stmt *st = NULL;
  int version = -1;

  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    version = sqlite3_column_int(st, 0);
  else
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_DATABASE, "History database: %s",
                sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return version;
}

gboolean hs_history_schema_migrate(sqlite3 *db, int target, GError **error)
{
  int version = hs_history_schema_version(db, error);

  if (version < 0)
    return FALSE;
  g_return_val_if_fail(target <= HS_HISTORY_SCHEMA_VERSION, FALSE);
  for (; version < target; version++) {
    g_autofree char *bump = g_strdup_printf("PRAGMA user_version = %d", version + 1);
    if (!hs_history_sql_exec(db, "BEGIN IMMEDIATE", error))
      return FALSE;
    if (!steps[version](db, error) || !hs_history_sql_exec(db, bump, error) ||
        !hs_history_sql_exec(db, "COMMIT", error)) {
      hs_history_sql_exec(db, "ROLLBACK", NULL);
      g_prefix_error(error, "Upgrading the history from version %d: ", version);
      return FALSE;
    }
  }
  return TRUE;
}
