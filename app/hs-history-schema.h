/* hs-history-schema.h: the history database schema, one function per version step.
 * Internal to the history store; the tests use it to build databases of earlier versions. */
#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* The version this build writes. A database with a larger user_version is opened read-only. */
#define HS_HISTORY_SCHEMA_VERSION 2

/* Runs SQL (several statements) or sets error with sqlite's message. */
gboolean hs_history_sql_exec(sqlite3 *db, const char *sql, GError **error);

/* Creates the version-1 schema in an empty database (user_version 0 -> 1). */
gboolean hs_history_schema_create_v1(sqlite3 *db, GError **error);

/* Brings a database from its user_version up to `target` (<= HS_HISTORY_SCHEMA_VERSION), one
 * transaction per step, so a failure leaves the last completed version in place. */
gboolean hs_history_schema_migrate(sqlite3 *db, int target, GError **error);

/* PRAGMA user_version, or -1 with error (e.g. "file is not a database"). */
int hs_history_schema_version(sqlite3 *db, GError **error);

G_END_DECLS
