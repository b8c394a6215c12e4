/* hs-fake-hub.c: the loopback hub of the model store tests (see hs-fake-hub.h). File answers
 * are written by hand on the connection taken over from SoupServer, so that a test can cut a
 * body in the middle, slow it down or stall it, exactly as a real network does. */
#include "hs-fake-hub.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  char *path;
  GBytes *content;
  gboolean lfs;
  char *sha256;
  char *git_oid;
  char *listed_sha256; /* what the listing claims, NULL = the truth */
  gint64 listed_size;  /* -1 = the truth */
  char *etag;
  gboolean ignore_if_range;
  GQueue faults; /* GINT_TO_POINTER(HsFault) */
  HsFakeHubCounts counts;
} FakeFile;

typedef struct {
  char *repo;
  char *abbrev;
  char *full;
  gboolean strict;  /* the revision API does not know the abbreviation */
  GPtrArray *files; /* FakeFile, in listing order */
} FakeRepo;

struct _HsFakeHub {
  GMutex lock;
  GCond ready;
  GThread *thread;
  GMainContext *context;
  GMainLoop *loop;
  SoupServer *server;
  char *url;
  GPtrArray *repos;
  guint total_requests;
};

static void fake_file_free(FakeFile *f)
{
  g_free(f->path);
  g_bytes_unref(f->content);
  g_free(f->sha256);
  g_free(f->git_oid);
  g_free(f->listed_sha256);
  g_free(f->etag);
  g_queue_clear(&f->faults);
  g_free(f);
}

static void fake_repo_free(FakeRepo *r)
{
  g_free(r->repo);
  g_free(r->abbrev);
  g_free(r->full);
  g_ptr_array_unref(r->files);
  g_free(r);
}

static FakeRepo *find_repo(HsFakeHub *hub, const char *repo)
{
  for (guint i = 0; i < hub->repos->len; i++) {
    FakeRepo *r = hub->repos->pdata[i];
    if (strcmp(r->repo, repo) == 0)
      return r;
  }
  return NULL;
}

static FakeFile *find_file(HsFakeHub *hub, const char *repo, const char *path)
{
  FakeRepo *r = find_repo(hub, repo);
  for (guint i = 0; r != NULL && i < r->files->len; i++) {
    FakeFile *f = r->files->pdata[i];
    if (strcmp(f->path, path) == 0)
      return f;
  }
  return NULL;
}

/* ---- answers ---- */

static void answer_json(SoupServerMessage *msg, JsonNode *node)
{
  g_autofree char *text = json_to_string(node, FALSE);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, text, strlen(text));
}

static void answer_revision(SoupServerMessage *msg, FakeRepo *r, const char *rev)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(JsonNode) root = NULL;

  if ((strcmp(rev, r->abbrev) != 0 || r->strict) && strcmp(rev, r->full) != 0 &&
      strcmp(rev, "main") != 0) {
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
    return;
  }
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "id");
  json_builder_add_string_value(b, r->repo);
  json_builder_set_member_name(b, "sha");
  json_builder_add_string_value(b, r->full);
  json_builder_end_object(b);
  root = json_builder_get_root(b);
  answer_json(msg, root);
}

/* main's history: an unrelated newer commit, then the repository's own. */
static void answer_commits(SoupServerMessage *msg, FakeRepo *r)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(JsonNode) root = NULL;
  const char *ids[] = { "ffffffffffffffffffffffffffffffffffffffff", r->full };

  json_builder_begin_array(b);
  for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, ids[i]);
    json_builder_set_member_name(b, "title");
    json_builder_add_string_value(b, i ? "Initial commit" : "Update README.md");
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  root = json_builder_get_root(b);
  answer_json(msg, root);
}

static void add_tree_entry(JsonBuilder *b, FakeFile *f)
{
  guint64 size = f->listed_size >= 0 ? (guint64)f->listed_size : g_bytes_get_size(f->content);
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "file");
  json_builder_set_member_name(b, "path");
  json_builder_add_string_value(b, f->path);
  json_builder_set_member_name(b, "oid");
  /* For LFS entries the git oid hashes the pointer file; any 40 hex digits do here. */
  json_builder_add_string_value(b,
                                f->lfs ? "0123456789abcdef0123456789abcdef01234567" : f->git_oid);
  json_builder_set_member_name(b, "size");
  json_builder_add_int_value(b, f->lfs ? 134 : (gint64)size);
  if (f->lfs) {
    json_builder_set_member_name(b, "lfs");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "oid");
    json_builder_add_string_value(b, f->listed_sha256 ? f->listed_sha256 : f->sha256);
    json_builder_set_member_name(b, "size");
    json_builder_add_int_value(b, (gint64)size);
    json_builder_set_member_name(b, "pointerSize");
    json_builder_add_int_value(b, 134);
    json_builder_end_object(b);
  }
  json_builder_end_object(b);
}

static void answer_tree(SoupServerMessage *msg, FakeRepo *r, const char *rev)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GHashTable) dirs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

  if (strcmp(rev, r->full) != 0) {
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
    return;
  }
  json_builder_begin_array(b);
  for (guint i = 0; i < r->files->len; i++) {
    FakeFile *f = r->files->pdata[i];
    const char *slash = strchr(f->path, '/');
    /* The real API lists folders too; the client must skip them. */
    if (slash != NULL && g_hash_table_add(dirs, g_strndup(f->path, (gsize)(slash - f->path)))) {
      g_autofree char *dir = g_strndup(f->path, (gsize)(slash - f->path));
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "type");
      json_builder_add_string_value(b, "directory");
      json_builder_set_member_name(b, "path");
      json_builder_add_string_value(b, dir);
      json_builder_set_member_name(b, "oid");
      json_builder_add_string_value(b, "89abcdef0123456789abcdef0123456789abcdef");
      json_builder_set_member_name(b, "size");
      json_builder_add_int_value(b, 0);
      json_builder_end_object(b);
    }
    add_tree_entry(b, f);
  }
  json_builder_end_array(b);
  root = json_builder_get_root(b);
  answer_json(msg, root);
}

static gboolean write_all(GOutputStream *out, const void *data, gsize len)
{
  return g_output_stream_write_all(out, data, len, NULL, NULL, NULL);
}

typedef struct {
  GIOStream *io;
  GBytes *content;
  char *etag;
  gboolean partial;
  guint64 start;
  HsFault fault;
} RawAnswer;

/* Writes the answer on the stolen connection: status, headers, then the body (or part of it,
 * per the fault), then closes. Runs on a thread of its own, so that a slow or stalled answer
 * does not keep the server from accepting the client's next connection. */
static gpointer write_raw(gpointer data)
{
  RawAnswer *a = data;
  gsize size = 0;
  const guchar *bytes = g_bytes_get_data(a->content, &size);
  guint64 len = size - a->start;
  guint64 send = len;
  g_autoptr(GString) head = g_string_new(NULL);
  GOutputStream *out = g_io_stream_get_output_stream(a->io);

  g_string_append_printf(head, "HTTP/1.1 %s\r\nContent-Length: %" G_GUINT64_FORMAT "\r\n",
                         a->partial ? "206 Partial Content" : "200 OK", len);
  if (a->partial)
    g_string_append_printf(head,
                           "Content-Range: bytes %" G_GUINT64_FORMAT "-%" G_GSIZE_FORMAT
                           "/%" G_GSIZE_FORMAT "\r\n",
                           a->start, size - 1, size);
  g_string_append_printf(head,
                         "ETag: %s\r\nAccept-Ranges: bytes\r\nConnection: close\r\n"
                         "Content-Type: application/octet-stream\r\n\r\n",
                         a->etag);
  if (a->fault == HS_FAULT_DROP || a->fault == HS_FAULT_STALL)
    send = len / 2;
  if (write_all(out, head->str, head->len)) {
    if (a->fault == HS_FAULT_SLOW) {
      for (guint64 off = 0; off < send; off += 16384)
        if (!write_all(out, bytes + a->start + off, MIN(16384, send - off)))
          break;
        else
          g_usleep(2000);
    } else {
      write_all(out, bytes + a->start, send);
    }
    g_output_stream_flush(out, NULL, NULL);
    if (a->fault == HS_FAULT_STALL)
      g_usleep(2500000);
  }
  g_io_stream_close(a->io, NULL, NULL);
  g_object_unref(a->io);
  g_bytes_unref(a->content);
  g_free(a->etag);
  g_free(a);
  return NULL;
}

static gboolean parse_range(const char *value, guint64 *start)
{
  char *end = NULL;
  if (value == NULL || !g_str_has_prefix(value, "bytes="))
    return FALSE;
  *start = g_ascii_strtoull(value + 6, &end, 10);
  return end != value + 6 && end[0] == '-' && end[1] == '\0';
}

static void answer_file(HsFakeHub *hub, SoupServerMessage *msg, FakeRepo *r, const char *rev,
                        const char *path)
{
  SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
  FakeFile *f = find_file(hub, r->repo, path);
  const char *if_range = soup_message_headers_get_one(h, "If-Range");
  guint64 start = 0;
  gboolean ranged = parse_range(soup_message_headers_get_one(h, "Range"), &start);
  HsFault fault;
  gsize size;

  if (f == NULL || strcmp(rev, r->full) != 0) {
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
    return;
  }
  size = g_bytes_get_size(f->content);
  fault = (HsFault)GPOINTER_TO_INT(g_queue_pop_head(&f->faults));
  f->counts.requests++;
  if (ranged) {
    f->counts.range_requests++;
    f->counts.last_range_start = start;
  }
  if (fault == HS_FAULT_500) {
    soup_server_message_set_status(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, NULL);
    return;
  }
  if (ranged && (fault == HS_FAULT_416 || start >= size)) {
    g_autofree char *cr = g_strdup_printf("bytes */%" G_GSIZE_FORMAT, size);
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Content-Range",
                                 cr);
    soup_server_message_set_status(msg, SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE, NULL);
    return;
  }
  if (ranged && if_range != NULL && strcmp(if_range, f->etag) != 0 && !f->ignore_if_range)
    ranged = FALSE; /* RFC 9110: the representation changed, send all of it */
  if (!ranged) {
    start = 0;
    f->counts.full_answers++;
  }
  {
    RawAnswer *a = g_new0(RawAnswer, 1);
    a->io = soup_server_message_steal_connection(msg);
    a->content = g_bytes_ref(f->content);
    a->etag = g_strdup(f->etag);
    a->partial = ranged;
    a->start = start;
    a->fault = fault;
    g_thread_unref(g_thread_new("fake-hub-answer", write_raw, a));
  }
}

/* /api/models/<owner>/<name>/{revision,tree}/<rev> and /<owner>/<name>/resolve/<rev>/<path>. */
static void handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                    gpointer data)
{
  HsFakeHub *hub = data;
  g_auto(GStrv) parts = g_strsplit(path + 1, "/", 6);
  guint n = g_strv_length(parts);
  FakeRepo *r = NULL;

  g_mutex_lock(&hub->lock);
  hub->total_requests++;
  if (n == 6 && strcmp(parts[0], "api") == 0 && strcmp(parts[1], "models") == 0) {
    g_autofree char *repo = g_strdup_printf("%s/%s", parts[2], parts[3]);
    r = find_repo(hub, repo);
    if (r != NULL && strcmp(parts[4], "revision") == 0)
      answer_revision(msg, r, parts[5]);
    else if (r != NULL && strcmp(parts[4], "tree") == 0)
      answer_tree(msg, r, parts[5]);
    else if (r != NULL && strcmp(parts[4], "commits") == 0 && strcmp(parts[5], "main") == 0)
      answer_commits(msg, r);
    else
      r = NULL;
  } else if (n >= 5 && strcmp(parts[2], "resolve") == 0) {
    g_autofree char *repo = g_strdup_printf("%s/%s", parts[0], parts[1]);
    g_auto(GStrv) rest = g_strsplit(path + 1, "/", 5);
    r = find_repo(hub, repo);
    if (r != NULL)
      answer_file(hub, msg, r, parts[3], rest[4]);
  }
  if (r == NULL)
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
  g_mutex_unlock(&hub->lock);
}

/* ---- the server thread ---- */

static gpointer server_thread(gpointer data)
{
  HsFakeHub *hub = data;
  GError *error = NULL;
  GSList *uris;

  g_main_context_push_thread_default(hub->context);
  hub->server = soup_server_new("server-header", "hs-fake-hub ", NULL);
  soup_server_add_handler(hub->server, NULL, handler, hub, NULL);
  if (!soup_server_listen_local(hub->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error))
    g_error("fake hub: %s", error->message);
  uris = soup_server_get_uris(hub->server);
  g_mutex_lock(&hub->lock);
  hub->url = g_strdup_printf("http://127.0.0.1:%d", g_uri_get_port(uris->data));
  g_cond_signal(&hub->ready);
  g_mutex_unlock(&hub->lock);
  g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
  g_main_loop_run(hub->loop);
  soup_server_disconnect(hub->server);
  g_clear_object(&hub->server);
  g_main_context_pop_thread_default(hub->context);
  return NULL;
}

HsFakeHub *hs_fake_hub_new(void)
{
  HsFakeHub *hub = g_new0(HsFakeHub, 1);
  g_mutex_init(&hub->lock);
  g_cond_init(&hub->ready);
  hub->repos = g_ptr_array_new_with_free_func((GDestroyNotify)fake_repo_free);
  hub->context = g_main_context_new();
  hub->loop = g_main_loop_new(hub->context, FALSE);
  g_mutex_lock(&hub->lock);
  hub->thread = g_thread_new("fake-hub", server_thread, hub);
  while (hub->url == NULL)
    g_cond_wait(&hub->ready, &hub->lock);
  g_mutex_unlock(&hub->lock);
  return hub;
}

static gboolean quit_loop(gpointer data)
{
  g_main_loop_quit(data);
  return G_SOURCE_REMOVE;
}

void hs_fake_hub_free(HsFakeHub *hub)
{
  g_main_context_invoke(hub->context, quit_loop, hub->loop);
  g_thread_join(hub->thread);
  g_main_loop_unref(hub->loop);
  g_main_context_unref(hub->context);
  g_ptr_array_unref(hub->repos);
  g_free(hub->url);
  g_mutex_clear(&hub->lock);
  g_cond_clear(&hub->ready);
  g_free(hub);
}

const char *hs_fake_hub_url(HsFakeHub *hub)
{
  return hub->url;
}

void hs_fake_hub_add_repo(HsFakeHub *hub, const char *repo, const char *abbrev, const char *full)
{
  FakeRepo *r = g_new0(FakeRepo, 1);
  r->repo = g_strdup(repo);
  r->abbrev = g_strdup(abbrev);
  r->full = g_strdup(full);
  r->files = g_ptr_array_new_with_free_func((GDestroyNotify)fake_file_free);
  g_mutex_lock(&hub->lock);
  g_ptr_array_add(hub->repos, r);
  g_mutex_unlock(&hub->lock);
}

void hs_fake_hub_set_strict_revisions(HsFakeHub *hub, const char *repo, gboolean strict)
{
  g_mutex_lock(&hub->lock);
  find_repo(hub, repo)->strict = strict;
  g_mutex_unlock(&hub->lock);
}

void hs_fake_hub_add_file(HsFakeHub *hub, const char *repo, const char *path, GBytes *content,
                          gboolean lfs)
{
  FakeFile *f = g_new0(FakeFile, 1);
  gsize size = 0;
  const guchar *data = g_bytes_get_data(content, &size);
  g_autoptr(GChecksum) sha1 = g_checksum_new(G_CHECKSUM_SHA1);
  g_autofree char *header = g_strdup_printf("blob %" G_GSIZE_FORMAT, size);

  f->path = g_strdup(path);
  f->content = g_bytes_ref(content);
  f->lfs = lfs;
  f->sha256 = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, content);
  g_checksum_update(sha1, (const guchar *)header, (gssize)strlen(header) + 1);
  g_checksum_update(sha1, data, (gssize)size);
  f->git_oid = g_strdup(g_checksum_get_string(sha1));
  f->listed_size = -1;
  f->etag = g_strdup_printf("\"%.16s\"", f->sha256);
  g_queue_init(&f->faults);
  g_mutex_lock(&hub->lock);
  g_ptr_array_add(find_repo(hub, repo)->files, f);
  g_mutex_unlock(&hub->lock);
}

gboolean hs_fake_hub_add_file_from(HsFakeHub *hub, const char *repo, const char *path,
                                   const char *disk_path, gboolean lfs)
{
  char *data = NULL;
  gsize len = 0;
  g_autoptr(GBytes) bytes = NULL;

  if (!g_file_get_contents(disk_path, &data, &len, NULL))
    return FALSE;
  bytes = g_bytes_new_take(data, len);
  hs_fake_hub_add_file(hub, repo, path, bytes, lfs);
  return TRUE;
}

void hs_fake_hub_set_listed_sha256(HsFakeHub *hub, const char *repo, const char *path,
                                   const char *sha256)
{
  FakeFile *f;
  g_mutex_lock(&hub->lock);
  f = find_file(hub, repo, path);
  g_free(f->listed_sha256);
  f->listed_sha256 = g_strdup(sha256);
  g_mutex_unlock(&hub->lock);
}

void hs_fake_hub_set_listed_size(HsFakeHub *hub, const char *repo, const char *path, guint64 size)
{
  g_mutex_lock(&hub->lock);
  find_file(hub, repo, path)->listed_size = (gint64)size;
  g_mutex_unlock(&hub->lock);
}

void hs_fake_hub_push_fault(HsFakeHub *hub, const char *repo, const char *path, HsFault fault)
{
  g_mutex_lock(&hub->lock);
  g_queue_push_tail(&find_file(hub, repo, path)->faults, GINT_TO_POINTER(fault));
  g_mutex_unlock(&hub->lock);
}

void hs_fake_hub_set_etag(HsFakeHub *hub, const char *repo, const char *path, const char *etag,
                          gboolean ignore_if_range)
{
  FakeFile *f;
  g_mutex_lock(&hub->lock);
  f = find_file(hub, repo, path);
  g_free(f->etag);
  f->etag = g_strdup(etag);
  f->ignore_if_range = ignore_if_range;
  g_mutex_unlock(&hub->lock);
}

HsFakeHubCounts hs_fake_hub_counts(HsFakeHub *hub, const char *repo, const char *path)
{
  HsFakeHubCounts c;
  g_mutex_lock(&hub->lock);
  c = find_file(hub, repo, path)->counts;
  g_mutex_unlock(&hub->lock);
  return c;
}

guint hs_fake_hub_total_requests(HsFakeHub *hub)
{
  guint n;
  g_mutex_lock(&hub->lock);
  n = hub->total_requests;
  g_mutex_unlock(&hub->lock);
  return n;
}

char *hs_fake_hub_sha256(HsFakeHub *hub, const char *repo, const char *path)
{
  char *sha;
  g_mutex_lock(&hub->lock);
  sha = g_strdup(find_file(hub, repo, path)->sha256);
  g_mutex_unlock(&hub->lock);
  return sha;
}

/* ---- the fake release ---- */

static char *release_path(const char *rel)
{
  const char *root = g_getenv("HART_SHARED");
  return root ? g_build_filename(root, rel, NULL) : g_strdup("/nonexistent");
}

static void add_shared(HsFakeHub *hub, const char *repo, const char *path, const char *rel,
                       gboolean lfs)
{
  g_autofree char *disk = release_path(rel);
  g_assert_true(hs_fake_hub_add_file_from(hub, repo, path, disk, lfs));
}

static void add_text(HsFakeHub *hub, const char *repo, const char *path, const char *text)
{
  g_autoptr(GBytes) bytes = g_bytes_new(text, strlen(text));
  hs_fake_hub_add_file(hub, repo, path, bytes, FALSE);
}

/* The fake release: the real repositories' layout, plus files the store must not fetch. */
HsFakeHub *hs_fake_hub_new_release(void)
{
  g_autofree char *probe = release_path("golden/tiny/llm/ema_model.bin");
  g_autofree char *probe2 = release_path("text/qwen2-tiny/model.safetensors");
  HsFakeHub *hub;

  if (!g_file_test(probe, G_FILE_TEST_EXISTS) || !g_file_test(probe2, G_FILE_TEST_EXISTS))
    return NULL;
  hub = hs_fake_hub_new();

  hs_fake_hub_add_repo(hub, HS_FAKE_HART_REPO, "a1b2c3d", HS_FAKE_HART_FULL);
  add_text(hub, HS_FAKE_HART_REPO, ".gitattributes", "*.bin filter=lfs diff=lfs merge=lfs -text\n");
  add_text(hub, HS_FAKE_HART_REPO, "README.md", "# tiny HART\n");
  add_shared(hub, HS_FAKE_HART_REPO, "llm/config.json", "golden/tiny/llm/config.json", FALSE);
  add_shared(hub, HS_FAKE_HART_REPO, "llm/ema_model.bin", "golden/tiny/llm/ema_model.bin", TRUE);
  add_shared(hub, HS_FAKE_HART_REPO, "llm/model.safetensors", "golden/tiny/llm/model.safetensors",
             TRUE);
  add_shared(hub, HS_FAKE_HART_REPO, "tokenizer/config.json", "golden/tiny/tokenizer/config.json",
             FALSE);
  add_shared(hub, HS_FAKE_HART_REPO, "tokenizer/model.safetensors",
             "golden/tiny/tokenizer/model.safetensors", TRUE);

  hs_fake_hub_add_repo(hub, HS_FAKE_TEXT_REPO, "c0ffee0", HS_FAKE_TEXT_FULL);
  add_shared(hub, HS_FAKE_TEXT_REPO, "config.json", "text/qwen2-tiny/config.json", FALSE);
  add_shared(hub, HS_FAKE_TEXT_REPO, "model.safetensors", "text/qwen2-tiny/model.safetensors",
             TRUE);
  add_shared(hub, HS_FAKE_TEXT_REPO, "tokenizer.json", "text/tokenizer.json", TRUE);
  add_text(hub, HS_FAKE_TEXT_REPO, "tokenizer_config.json", "{\"model_max_length\": 32768}\n");
  add_text(hub, HS_FAKE_TEXT_REPO, "README.md", "# tiny Qwen2\n");
  return hub;
}
