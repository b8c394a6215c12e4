/* hs-model-fs.h: file-system helpers of the model store: recursive listing and removal, copying
 * with hashing, free space. */
#ifndef HS_MODEL_FS_H
#define HS_MODEL_FS_H

#include <gio/gio.h>

G_BEGIN_DECLS

/* Relative paths ('/'-separated, sorted) of the regular files under dir, symlinks followed
 * (Hugging Face cache snapshots are symlinks into blobs/). Hidden entries (".git", ".cache") are
 * skipped. */
GPtrArray *hs_fs_list_files(const char *dir, GError **error);

/* Removes path and everything below it (no symlink is followed). Missing path is not an error. */
gboolean hs_fs_remove_tree(const char *path, GError **error);

/* Copies src to dest (creating parent folders) through dest.part + rename, computing the
 * SHA-256 of what was written. A hard link is tried first when src is on the same file system
 * (the hash is then computed by reading). */
gboolean hs_fs_copy_hashed(const char *src, const char *dest, char **sha256_out,
                           GCancellable *cancellable, GError **error);

/* Free bytes on the file system holding path (or its nearest existing parent). */
gboolean hs_fs_free_space(const char *path, guint64 *free_bytes, GError **error);

/* Bytes of a regular file, or -1. */
gint64 hs_fs_file_size(const char *path);

G_END_DECLS

#endif
