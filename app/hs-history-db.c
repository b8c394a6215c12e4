/* hs-history-db.c: the synchronous history store: opening (with recovery), rows, files.
 *
 * Order of work when adding an image, so that a crash at any point loses at most that image and
 * never leaves a row pointing at a half-written file:
 *   1. encode the PNG (settings embedded) and write it to images/.tmp-XXXXXX, fsync;
 *   2. rename it to its final name, fsync images/;
 *   3. insert the row and its thumbnail in one transaction (WAL, synchronous=FULL).
 * A crash before 2 leaves a temp file (reconcile removes it); between 2 and 3 a complete PNG
 * without a row (reconcile reports it; reindex restores its row from the embedded settings). */
#include "hs-history-db.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "hs-history-files.h"
#include "hs-history-schema.h"

/* Decoding an orphan PNG for its thumbnail: the largest image accepted. */
#define MAX_REINDEX_PIXELS (8192u * 8192u)

enum {
  ST_INSERT,
  ST_INSERT_THUMB,
  ST_LIST,
  ST_SEARCH,
  ST_THUMB,
  ST_FAVORITE,
  ST_HIDDEN,
  ST_PATH,
  ST_DELETE,
  ST_ALL,
  ST_MISSING,
  N_STATEMENTS
};

#define ITEM_COLUMNS                                                                               \
  "id, created_us, prompt, seed, cfg, smooth, system_prompt, model_name, model_revision,"          \
  " model_hash, engine_version, backend, device, t_text, t_transformer, t_diffusion, t_decode,"    \
  " t_total, width, height, image_path, favorite, missing"

static const char *const statement_sql[N_STATEMENTS] = {
  [ST_INSERT] = "INSERT INTO items (created_us, prompt, seed, cfg, smooth, system_prompt,"
                " model_name, model_revision, model_hash, engine_version, backend, device,"
                " t_text, t_transformer, t_diffusion, t_decode, t_total, width, height,"
                " image_path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
                " ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
  [ST_INSERT_THUMB] = "INSERT INTO thumbnails (item_id, png) VALUES (?1, ?2)",
  [ST_LIST] = "SELECT " ITEM_COLUMNS " FROM items WHERE hidden = 0 AND (?1 = 0 OR favorite = 1)"
              " ORDER BY created_us DESC, id DESC LIMIT ?2 OFFSET ?3",
  [ST_SEARCH] = "SELECT " ITEM_COLUMNS " FROM items WHERE hidden = 0 AND (?1 = 0 OR favorite = 1)"
                " AND id IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?4)"
                " ORDER BY created_us DESC, id DESC LIMIT ?2 OFFSET ?3",
  [ST_THUMB] = "SELECT png FROM thumbnails WHERE item_id = ?1",
  [ST_FAVORITE] = "UPDATE items SET favorite = ?2 WHERE id = ?1",
  [ST_HIDDEN] = "UPDATE items SET hidden = ?2 WHERE id = ?1",
  [ST_PATH] = "SELECT image_path FROM items WHERE id = ?1",
  [ST_DELETE] = "DELETE FROM items WHERE id = ?1",
  [ST_ALL] = "SELECT id, image_path, missing, hidden FROM items",
  [ST_MISSING] = "UPDATE items SET missing = ?2 WHERE id = ?1",
};

struct _HsHistoryDb {
  sqlite3 *db;
  char *dir;
  char *images_dir;
  gboolean read_only;
  sqlite3_stmt *st[N_STATEMENTS];
};

static gboolean db_fail(HsHistoryDb *db, GError **error)
{
  int code = sqlite3_errcode(db->db);
  HsHistoryError e = HS_HISTORY_ERROR_DATABASE;

  if (code == SQLITE_FULL || code == SQLITE_IOERR || code == SQLITE_CANTOPEN)
    e = HS_HISTORY_ERROR_IO;
  else if (code == SQLITE_READONLY)
    e = HS_HISTORY_ERROR_READ_ONLY;
  g_set_error(error, HS_HISTORY_ERROR, e, "History database: %s", sqlite3_errmsg(db->db));
  return FALSE;
}

/* A statement, prepared once and reset before reuse. */
static sqlite3_stmt *stmt(HsHistoryDb *db, int which, GError **error)
{
  if (db->st[which] == NULL &&
      sqlite3_prepare_v3(db->db, statement_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                         &db->st[which], NULL) != SQLITE_OK) {
    db_fail(db, error);
    return NULL;
  }
  sqlite3_reset(db->st[which]);
  sqlite3_clear_bindings(db->st[which]);
  return db->st[which];
}

static gboolean writable(HsHistoryDb *db, GError **error)
{
  if (!db->read_only)
    return TRUE;
  g_set_error_literal(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_READ_ONLY,
                      "The history is open read-only; nothing can be changed");
  return FALSE;
}

/* --- Opening --- */

static sqlite3 *open_connection(const char *path, gboolean read_only, int *rc)
{
  sqlite3 *conn = NULL;
  int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

  *rc = sqlite3_open_v2(path, &conn, flags | SQLITE_OPEN_NOMUTEX, NULL);
  if (*rc != SQLITE_OK) {
    sqlite3_close(conn);
    return NULL;
  }
  sqlite3_extended_result_codes(conn, 0);
  /* Another process (a second instance) may hold the write lock for a moment. */
  sqlite3_busy_timeout(conn, 5000);
  return conn;
}

/* "ok" from PRAGMA quick_check, else the first problem (g_free). */
static char *quick_check(sqlite3 *conn)
{
  sqlite3_stmt *st = NULL;
  char *result = NULL;

  if (sqlite3_prepare_v2(conn, "PRAGMA quick_check(1)", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    result = g_strdup((const char *)sqlite3_column_text(st, 0));
  else
    result = g_strdup(sqlite3_errmsg(conn));
  sqlite3_finalize(st);
  return result;
}

/* Renames history.db (and its -wal/-shm) to history.db.damaged-DATE: never delete user data. */
static char *move_aside(const char *path, GError **error)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_autofree char *stamp = g_date_time_format(now, "%Y%m%d-%H%M%S");
  g_autofree char *base = g_strdup_printf("%s.damaged-%s", path, stamp);
  char *aside = g_strdup(base);
  static const char *const suffixes[] = { "-wal", "-shm" };

  for (int i = 2; g_file_test(aside, G_FILE_TEST_EXISTS); i++) {
    g_free(aside);
    aside = g_strdup_printf("%s-%d", base, i);
  }
  if (g_rename(path, aside) != 0) {
    int saved = errno;
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_IO,
                "The history database %s is damaged and could not be moved aside: %s", path,
                g_strerror(saved));
    g_free(aside);
    return NULL;
  }
  for (guint i = 0; i < G_N_ELEMENTS(suffixes); i++) {
    g_autofree char *from = g_strconcat(path, suffixes[i], NULL);
    g_autofree char *to = g_strconcat(aside, suffixes[i], NULL);
    if (g_file_test(from, G_FILE_TEST_EXISTS))
      g_rename(from, to);
  }
  return aside;
}

static gboolean configure(sqlite3 *conn, GError **error)
{
  return hs_history_sql_exec(conn,
                             "PRAGMA journal_mode = WAL;"
                             "PRAGMA synchronous = FULL;"
                             "PRAGMA foreign_keys = ON;",
                             error);
}

typedef enum { OPEN_OK, OPEN_DAMAGED, OPEN_NEWER, OPEN_READ_ONLY_DISK, OPEN_FAILED } OpenResult;

/* An existing database we may not write (read-only folder or file, read-only mount): it is
 * shown read-only rather than failing on the first write. */
static gboolean cannot_write(const char *dir, const char *path)
{
  return g_file_test(path, G_FILE_TEST_EXISTS) &&
         (access(path, W_OK) != 0 || access(dir, W_OK) != 0);
}

/* One attempt: classifies the file before anything is written to it. */
static OpenResult try_open(HsHistoryDb *db, const char *path, char **why, GError **error)
{
  int rc, version;
  g_autofree char *check = NULL;
  g_autoptr(GError) local = NULL;

  if (cannot_write(db->dir, path))
    return OPEN_READ_ONLY_DISK;
  db->db = open_connection(path, FALSE, &rc);
  if (db->db == NULL) {
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_IO,
                "Cannot open the history database %s: %s", path, sqlite3_errstr(rc));
    return OPEN_FAILED;
  }
  version = hs_history_schema_version(db->db, &local);
  if (version < 0) {
    rc = sqlite3_errcode(db->db);
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) {
      *why = g_strdup(sqlite3_errmsg(db->db));
      return OPEN_DAMAGED;
    }
    g_propagate_error(error, g_steal_pointer(&local));
    return OPEN_FAILED;
  }
  if (version > HS_HISTORY_SCHEMA_VERSION) {
    *why = g_strdup_printf("%d", version);
    return OPEN_NEWER;
  }
  if (version > 0) {
    check = quick_check(db->db);
    if (g_strcmp0(check, "ok") != 0) {
      *why = g_steal_pointer(&check);
      return OPEN_DAMAGED;
    }
  }
  if (!configure(db->db, error) ||
      !hs_history_schema_migrate(db->db, HS_HISTORY_SCHEMA_VERSION, error))
    return OPEN_FAILED;
  return OPEN_OK;
}

/* Read-only: mode=ro first; a WAL database in a folder where its -shm cannot be created only
 * opens as immutable (fine for a folder nobody can write to anyway). */
static gboolean open_read_only(HsHistoryDb *db, const char *path, GError **error)
{
  static const char *const modes[] = { "mode=ro", "immutable=1" };
  g_autofree char *uri = g_filename_to_uri(path, NULL, NULL);
  int rc = SQLITE_CANTOPEN;

  for (guint i = 0; uri != NULL && i < G_N_ELEMENTS(modes); i++) {
    g_autofree char *full = g_strdup_printf("%s?%s", uri, modes[i]);
    db->db = NULL;
    rc = sqlite3_open_v2(full, &db->db,
                         SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK && hs_history_schema_version(db->db, NULL) >= 0) {
      sqlite3_busy_timeout(db->db, 5000);
      db->read_only = TRUE;
      return TRUE;
    }
    if (rc == SQLITE_OK)
      rc = sqlite3_errcode(db->db);
    g_clear_pointer(&db->db, sqlite3_close);
  }
  g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_IO,
              "Cannot open the history database %s read-only: %s", path, sqlite3_errstr(rc));
  return FALSE;
}

static void close_connection(HsHistoryDb *db)
{
  for (int i = 0; i < N_STATEMENTS; i++)
    g_clear_pointer(&db->st[i], sqlite3_finalize);
  g_clear_pointer(&db->db, sqlite3_close);
}

HsHistoryDb *hs_history_db_open(const char *dir, char **notice, GError **error)
{
  HsHistoryDb *db = g_new0(HsHistoryDb, 1);
  g_autofree char *path = g_build_filename(dir, "history.db", NULL);

  *notice = NULL;
  db->dir = g_strdup(dir);
  db->images_dir = g_build_filename(dir, "images", NULL);
  if (g_mkdir_with_parents(db->images_dir, 0755) != 0) {
    int saved = errno; /* before g_file_test() can change it */
    if (g_file_test(path, G_FILE_TEST_EXISTS))
      goto opened_dir; /* an existing history on a read-only folder: see try_open() */
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_IO, "Cannot create the history in %s: %s",
                db->images_dir, g_strerror(saved));
    hs_history_db_close(db);
    return NULL;
  }
opened_dir:
  for (int attempt = 0;; attempt++) {
    g_autofree char *why = NULL;
    g_autofree char *aside = NULL;

    switch (try_open(db, path, &why, error)) {
    case OPEN_OK:
      return db;
    case OPEN_NEWER:
      close_connection(db);
      if (!open_read_only(db, path, error))
        break;
      *notice = g_strdup_printf("The history was written by a newer version of Hart Studio "
                                "(format %s; this version reads up to %d). It is shown "
                                "read-only and left unchanged.",
                                why, HS_HISTORY_SCHEMA_VERSION);
      return db;
    case OPEN_READ_ONLY_DISK:
      if (!open_read_only(db, path, error))
        break;
      if (hs_history_schema_version(db->db, NULL) != HS_HISTORY_SCHEMA_VERSION) {
        g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_READ_ONLY,
                    "The history in %s needs upgrading, but the folder cannot be written", db->dir);
        break;
      }
      *notice = g_strdup_printf("The history folder %s cannot be written. The history is shown "
                                "read-only; new images are not kept.",
                                db->dir);
      return db;
    case OPEN_DAMAGED:
      close_connection(db);
      if (attempt > 0 || (aside = move_aside(path, error)) == NULL)
        break;
      g_free(*notice);
      *notice = g_strdup_printf("The history database was damaged (%s). It was moved to %s and "
                                "a new, empty history was started; your images are still in %s.",
                                why, aside, db->images_dir);
      continue;
    case OPEN_FAILED:
      break;
    default:
      g_assert_not_reached();
    }
    break;
  }
  g_clear_pointer(notice, g_free);
  hs_history_db_close(db);
  return NULL;
}

void hs_history_db_close(HsHistoryDb *db)
{
  if (db == NULL)
    return;
  close_connection(db);
  g_free(db->dir);
  g_free(db->images_dir);
  g_free(db);
}

gboolean hs_history_db_is_read_only(HsHistoryDb *db)
{
  return db->read_only;
}

const char *hs_history_db_images_dir(HsHistoryDb *db)
{
  return db->images_dir;
}

/* --- Rows --- */

static char *dup_column(sqlite3_stmt *st, int col)
{
  const unsigned char *s = sqlite3_column_text(st, col);
  return s ? g_strdup((const char *)s) : NULL;
}

static HsHistoryItem *item_from_row(HsHistoryDb *db, sqlite3_stmt *st)
{
  HsGenParams *p = hs_gen_params_new();
  g_autofree char *rel = NULL;
  g_autofree char *abs = NULL;

  p->source = HS_PNG_META_SOURCE_HART;
  p->created_us = sqlite3_column_int64(st, 1);
  p->prompt = dup_column(st, 2);
  p->seed = (guint64)sqlite3_column_int64(st, 3);
  p->has_seed = TRUE;
  p->cfg = sqlite3_column_double(st, 4);
  p->has_cfg = TRUE;
  p->smooth = sqlite3_column_int(st, 5) != 0;
  p->use_system_prompt = sqlite3_column_int(st, 6) != 0;
  p->model_name = dup_column(st, 7);
  p->model_revision = dup_column(st, 8);
  p->model_hash = dup_column(st, 9);
  p->engine_version = dup_column(st, 10);
  p->backend = dup_column(st, 11);
  p->device = dup_column(st, 12);
  p->t_text = sqlite3_column_double(st, 13);
  p->t_transformer = sqlite3_column_double(st, 14);
  p->t_diffusion = sqlite3_column_double(st, 15);
  p->t_decode = sqlite3_column_double(st, 16);
  p->t_total = sqlite3_column_double(st, 17);
  p->width = sqlite3_column_int(st, 18);
  p->height = sqlite3_column_int(st, 19);
  rel = dup_column(st, 20);
  abs = g_build_filename(db->dir, rel ? rel : "", NULL);
  return hs_history_item_new(sqlite3_column_int64(st, 0), p, abs, sqlite3_column_int(st, 21) != 0,
                             sqlite3_column_int(st, 22) != 0);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
  if (s != NULL)
    sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(st, i);
}

/* Inserts the row and its thumbnail in one transaction; returns the new id or 0. */
static gint64 insert_row(HsHistoryDb *db, const HsGenParams *p, const char *rel, GBytes *thumb,
                         GError **error)
{
  sqlite3_stmt *st;
  gint64 id;
  gsize thumb_len;
  const void *thumb_data = g_bytes_get_data(thumb, &thumb_len);

  if (!hs_history_sql_exec(db->db, "BEGIN IMMEDIATE", error))
    return 0;
  if ((st = stmt(db, ST_INSERT, error)) == NULL)
    goto fail;
  sqlite3_bind_int64(st, 1, p->created_us);
  bind_text(st, 2, p->prompt ? p->prompt : "");
  sqlite3_bind_int64(st, 3, (gint64)p->seed);
  sqlite3_bind_double(st, 4, p->cfg);
  sqlite3_bind_int(st, 5, p->smooth != 0);
  sqlite3_bind_int(st, 6, p->use_system_prompt != 0);
  bind_text(st, 7, p->model_name);
  bind_text(st, 8, p->model_revision);
  bind_text(st, 9, p->model_hash);
  bind_text(st, 10, p->engine_version);
  bind_text(st, 11, p->backend);
  bind_text(st, 12, p->device);
  sqlite3_bind_double(st, 13, p->t_text);
  sqlite3_bind_double(st, 14, p->t_transformer);
  sqlite3_bind_double(st, 15, p->t_diffusion);
  sqlite3_bind_double(st, 16, p->t_decode);
  sqlite3_bind_double(st, 17, p->t_total);
  sqlite3_bind_int(st, 18, p->width);
  sqlite3_bind_int(st, 19, p->height);
  bind_text(st, 20, rel);
  if (sqlite3_step(st) != SQLITE_DONE) {
    db_fail(db, error);
    goto fail;
  }
  id = sqlite3_last_insert_rowid(db->db);
  if ((st = stmt(db, ST_INSERT_THUMB, error)) == NULL)
    goto fail;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_blob(st, 2, thumb_data, (int)thumb_len, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE) {
    db_fail(db, error);
    goto fail;
  }
  sqlite3_reset(st);
  if (!hs_history_sql_exec(db->db, "COMMIT", error))
    goto fail;
  return id;
fail:
  hs_history_sql_exec(db->db, "ROLLBACK", NULL);
  return 0;
}

static char *new_image_name(gint64 created_us)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_local(created_us / G_USEC_PER_SEC);
  g_autofree char *stamp = g_date_time_format(t, "%Y%m%d-%H%M%S");

  return g_strdup_printf("%s-%08x.png", stamp, g_random_int());
}

static gboolean check_params(const HsGenParams *p, int width, int height, GError **error)
{
  if (width <= 0 || height <= 0 || width > HS_PNG_META_MAX_SIDE || height > HS_PNG_META_MAX_SIDE) {
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_INVALID, "Invalid image size %d×%d",
                width, height);
    return FALSE;
  }
  if (p->prompt != NULL && strlen(p->prompt) > HS_PNG_META_MAX_PROMPT) {
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_INVALID,
                "The prompt is longer than %d bytes", HS_PNG_META_MAX_PROMPT);
    return FALSE;
  }
  if (p->prompt != NULL && !g_utf8_validate(p->prompt, -1, NULL)) {
    g_set_error_literal(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_INVALID,
                        "The prompt is not valid UTF-8");
    return FALSE;
  }
  return TRUE;
}

/* Steps 3 of the add: the row; on failure the (complete) file is removed again. */
static HsHistoryItem *commit_row(HsHistoryDb *db, HsGenParams *p, const char *name, GBytes *thumb,
                                 GError **error)
{
  g_autofree char *rel = g_build_filename("images", name, NULL);
  g_autofree char *abs = g_build_filename(db->images_dir, name, NULL);
  gint64 id = insert_row(db, p, rel, thumb, error);

  if (id == 0) {
    g_unlink(abs);
    hs_gen_params_free(p);
    return NULL;
  }
  return hs_history_item_new(id, p, abs, FALSE, FALSE);
}

HsHistoryItem *hs_history_db_add(HsHistoryDb *db, const HsGenParams *params, const guint8 *rgb,
                                 int width, int height, GError **error)
{
  g_autoptr(HsGenParams) p = NULL;
  g_autoptr(GBytes) png = NULL;
  g_autoptr(GBytes) thumb = NULL;
  g_autofree char *name = NULL;

  if (!writable(db, error) || !check_params(params, width, height, error))
    return NULL;
  p = hs_gen_params_copy(params);
  p->width = width;
  p->height = height;
  if (p->created_us == 0)
    p->created_us = g_get_real_time();
  if ((png = hs_png_meta_encode(rgb, width, height, p, error)) == NULL ||
      (thumb = hs_history_make_thumbnail(rgb, width, height, HS_HISTORY_THUMB_SIDE, error)) == NULL)
    return NULL;
  name = new_image_name(p->created_us);
  if (!hs_history_write_atomic(db->images_dir, name, png, error))
    return NULL;
  return commit_row(db, g_steal_pointer(&p), name, thumb, error);
}

char *hs_history_fts_query(const char *words)
{
  g_auto(GStrv) parts = g_strsplit_set(words ? words : "", " \t\n\r", -1);
  GString *q = g_string_new(NULL);

  for (int i = 0; parts[i] != NULL; i++) {
    g_autofree char *escaped = NULL;
    char **quoted;
    if (parts[i][0] == '\0')
      continue;
    /* Inside an FTS5 string a double quote is written twice; everything else is literal. */
    quoted = g_strsplit(parts[i], "\"", -1);
    escaped = g_strjoinv("\"\"", quoted);
    g_strfreev(quoted);
    g_string_append_printf(q, "%s\"%s\"*", q->len ? " " : "", escaped);
  }
  if (q->len == 0) {
    g_string_free(q, TRUE);
    return NULL;
  }
  return g_string_free(q, FALSE);
}

GPtrArray *hs_history_db_list(HsHistoryDb *db, const char *query, gboolean favorites_only,
                              guint offset, guint limit, GError **error)
{
  g_autofree char *fts = hs_history_fts_query(query);
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_object_unref);
  sqlite3_stmt *st = stmt(db, fts ? ST_SEARCH : ST_LIST, error);
  int rc;

  if (st == NULL)
    return NULL;
  sqlite3_bind_int(st, 1, favorites_only != 0);
  sqlite3_bind_int64(st, 2, limit ? (gint64)limit : -1);
  sqlite3_bind_int64(st, 3, offset);
  if (fts != NULL)
    sqlite3_bind_text(st, 4, fts, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    g_ptr_array_add(items, item_from_row(db, st));
  if (rc != SQLITE_DONE) {
    db_fail(db, error);
    sqlite3_reset(st);
    return NULL;
  }
  sqlite3_reset(st);
  return g_steal_pointer(&items);
}

GBytes *hs_history_db_thumbnail(HsHistoryDb *db, gint64 id, GError **error)
{
  sqlite3_stmt *st = stmt(db, ST_THUMB, error);
  GBytes *png = NULL;
  int rc;

  if (st == NULL)
    return NULL;
  sqlite3_bind_int64(st, 1, id);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    png = g_bytes_new(sqlite3_column_blob(st, 0), (gsize)sqlite3_column_bytes(st, 0));
  else if (rc == SQLITE_DONE)
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_NOT_FOUND,
                "No thumbnail for history item %" G_GINT64_FORMAT, id);
  else
    db_fail(db, error);
  sqlite3_reset(st);
  return png;
}

/* Runs an UPDATE of one row by id; NOT_FOUND when no row has that id. */
static gboolean update_flag(HsHistoryDb *db, int which, gint64 id, int value, GError **error)
{
  sqlite3_stmt *st;
  gboolean ok;

  if (!writable(db, error) || (st = stmt(db, which, error)) == NULL)
    return FALSE;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int(st, 2, value);
  ok = sqlite3_step(st) == SQLITE_DONE;
  sqlite3_reset(st);
  if (!ok)
    return db_fail(db, error);
  if (sqlite3_changes(db->db) == 0) {
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_NOT_FOUND,
                "History item %" G_GINT64_FORMAT " does not exist", id);
    return FALSE;
  }
  return TRUE;
}

gboolean hs_history_db_set_favorite(HsHistoryDb *db, gint64 id, gboolean favorite, GError **error)
{
  return update_flag(db, ST_FAVORITE, id, favorite != 0, error);
}

gboolean hs_history_db_set_hidden(HsHistoryDb *db, gint64 id, gboolean hidden, GError **error)
{
  return update_flag(db, ST_HIDDEN, id, hidden != 0, error);
}

static char *row_path(HsHistoryDb *db, gint64 id, GError **error)
{
  sqlite3_stmt *st = stmt(db, ST_PATH, error);
  char *path = NULL;
  int rc;

  if (st == NULL)
    return NULL;
  sqlite3_bind_int64(st, 1, id);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    path = g_build_filename(db->dir, (const char *)sqlite3_column_text(st, 0), NULL);
  else if (rc == SQLITE_DONE)
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_NOT_FOUND,
                "History item %" G_GINT64_FORMAT " does not exist", id);
  else
    db_fail(db, error);
  sqlite3_reset(st);
  return path;
}

gboolean hs_history_db_purge(HsHistoryDb *db, gint64 id, GError **error)
{
  g_autofree char *path = NULL;
  sqlite3_stmt *st;
  gboolean ok;

  if (!writable(db, error) || (path = row_path(db, id, error)) == NULL)
    return FALSE;
  /* File first: should the unlink fail, the row (hidden) stays and nothing is half-deleted. A
   * crash between the two leaves a row without its file, which reconcile purges. */
  if (g_unlink(path) != 0 && errno != ENOENT) {
    int saved = errno;
    g_autofree char *display = g_filename_display_name(path);
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_IO, "Cannot delete %s: %s", display,
                g_strerror(saved));
    return FALSE;
  }
  hs_history_sync_dir(db->images_dir, NULL);
  if ((st = stmt(db, ST_DELETE, error)) == NULL)
    return FALSE;
  sqlite3_bind_int64(st, 1, id);
  ok = sqlite3_step(st) == SQLITE_DONE;
  sqlite3_reset(st);
  return ok ? TRUE : db_fail(db, error);
}

/* --- Reconcile --- */

void hs_history_reconcile_report_free(HsHistoryReconcileReport *report)
{
  if (report == NULL)
    return;
  g_strfreev(report->orphan_pngs);
  g_free(report);
}

typedef struct {
  gint64 id;
  int missing;
} RowFix;

/* Walks every row: collects the file names in use, what to purge and which flags to flip. */
static gboolean scan_rows(HsHistoryDb *db, GHashTable *names, GArray *purge, GArray *fixes,
                          GError **error)
{
  sqlite3_stmt *st = stmt(db, ST_ALL, error);
  int rc;

  if (st == NULL)
    return FALSE;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    gint64 id = sqlite3_column_int64(st, 0);
    const char *rel = (const char *)sqlite3_column_text(st, 1);
    g_autofree char *abs = g_build_filename(db->dir, rel ? rel : "", NULL);
    gboolean exists = g_file_test(abs, G_FILE_TEST_IS_REGULAR);
    int missing = sqlite3_column_int(st, 2);

    g_hash_table_add(names, g_path_get_basename(abs));
    if (sqlite3_column_int(st, 3) != 0) {
      g_array_append_val(purge, id);
    } else if (exists == (missing != 0)) {
      RowFix fix = { id, !exists };
      g_array_append_val(fixes, fix);
    }
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? TRUE : db_fail(db, error);
}

static GStrv find_orphans(HsHistoryDb *db, GHashTable *names)
{
  g_autoptr(GDir) d = g_dir_open(db->images_dir, 0, NULL);
  g_autoptr(GStrvBuilder) b = g_strv_builder_new();
  const char *name;

  while (d != NULL && (name = g_dir_read_name(d)) != NULL)
    if (g_str_has_suffix(name, ".png") && !g_str_has_prefix(name, HS_HISTORY_TEMP_PREFIX) &&
        !g_hash_table_contains(names, name)) {
      g_autofree char *path = g_build_filename(db->images_dir, name, NULL);
      g_strv_builder_add(b, path);
    }
  return g_strv_builder_end(b);
}

HsHistoryReconcileReport *hs_history_db_reconcile(HsHistoryDb *db, GError **error)
{
  g_autoptr(HsHistoryReconcileReport) r = g_new0(HsHistoryReconcileReport, 1);
  g_autoptr(GHashTable) names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GArray) purge = g_array_new(FALSE, FALSE, sizeof(gint64));
  g_autoptr(GArray) fixes = g_array_new(FALSE, FALSE, sizeof(RowFix));

  if (!db->read_only)
    r->temp_files_removed = hs_history_remove_temp_files(db->images_dir);
  if (!scan_rows(db, names, purge, fixes, error))
    return NULL;
  r->orphan_pngs = find_orphans(db, names);
  for (guint i = 0; i < fixes->len; i++) {
    RowFix *f = &g_array_index(fixes, RowFix, i);
    if (f->missing)
      r->rows_missing++;
    else
      r->rows_found_again++;
    if (!db->read_only && !update_flag(db, ST_MISSING, f->id, f->missing, error))
      return NULL;
  }
  for (guint i = 0; i < purge->len && !db->read_only; i++) {
    if (!hs_history_db_purge(db, g_array_index(purge, gint64, i), error))
      return NULL;
    r->hidden_purged++;
  }
  return g_steal_pointer(&r);
}

HsHistoryItem *hs_history_db_reindex(HsHistoryDb *db, const char *path, GError **error)
{
  g_autofree char *parent = g_path_get_dirname(path);
  g_autofree char *name = g_path_get_basename(path);
  g_autoptr(HsGenParams) p = NULL;
  g_autofree guint8 *rgb = NULL;
  g_autoptr(GBytes) thumb = NULL;
  g_autoptr(GError) meta_error = NULL;
  int w = 0, h = 0;

  if (!writable(db, error))
    return NULL;
  if (g_strcmp0(parent, db->images_dir) != 0 || !g_str_has_suffix(name, ".png") ||
      g_str_has_prefix(name, HS_HISTORY_TEMP_PREFIX)) {
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_INVALID,
                "Only PNG files in %s can be re-indexed", db->images_dir);
    return NULL;
  }
  if (!hs_png_meta_read(path, &p, &meta_error)) {
    g_set_error(error, HS_HISTORY_ERROR, HS_HISTORY_ERROR_INVALID, "Cannot re-index: %s",
                meta_error->message);
    return NULL;
  }
  if ((rgb = hs_history_png_decode(path, MAX_REINDEX_PIXELS, &w, &h, error)) == NULL ||
      (thumb = hs_history_make_thumbnail(rgb, w, h, HS_HISTORY_THUMB_SIDE, error)) == NULL)
    return NULL;
  p->width = w;
  p->height = h;
  if (p->created_us == 0) {
    GStatBuf sb;
    p->created_us =
        g_stat(path, &sb) == 0 ? (gint64)sb.st_mtime * G_USEC_PER_SEC : g_get_real_time();
  }
  {
    g_autofree char *rel = g_build_filename("images", name, NULL);
    gint64 id = insert_row(db, p, rel, thumb, error);
    if (id == 0)
      return NULL;
    return hs_history_item_new(id, g_steal_pointer(&p), path, FALSE, FALSE);
  }
}
