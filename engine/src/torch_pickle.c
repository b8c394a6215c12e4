/* torch_pickle.c: the restricted pickle interpreter (see torch_pickle.h).
 *
 * Values live in a flat list freed at the end, so nothing here recurses over a structure built
 * from the file; the memo and mark stacks grow only with the opcodes read, so their size is
 * bounded by the pickle's length. */
#include "torch_pickle.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
  PV_NONE,
  PV_BOOL,
  PV_INT,
  PV_STR,
  PV_TUPLE,
  PV_LIST,
  PV_DICT,
  PV_GLOBAL,
  PV_STORAGE,
  PV_TENSOR,
} pv_kind;

typedef enum {
  GL_ORDERED_DICT,
  GL_REBUILD_TENSOR_V2,
  GL_STORAGE_CLASS,
} gl_kind;

typedef struct pv pv;
struct pv {
  pv_kind kind;
  int64_t i;            /* BOOL, INT; STORAGE: numel */
  char *s;              /* STR; STORAGE: key (owned) */
  pv **items;           /* TUPLE, LIST: items; DICT: key, value, key, value... (owned array) */
  size_t n, cap;        /* number of entries in items */
  gl_kind glob;         /* GLOBAL */
  hart_dtype dtype;     /* GLOBAL storage class, STORAGE */
  hart_pickle_tensor t; /* TENSOR (storage_key points into the storage value) */
};

typedef struct {
  const uint8_t *p;
  size_t len, pos, op_pos;
  const char *where;
  hart_error *err;
  GPtrArray *all;   /* every value, for freeing */
  GPtrArray *stack; /* pv* */
  GArray *marks;    /* stack lengths at each MARK */
  GHashTable *memo; /* index -> pv* */
} vm;

static const struct {
  const char *module, *name;
  gl_kind kind;
  hart_dtype dtype;
} globals[] = {
  { "collections", "OrderedDict", GL_ORDERED_DICT, HART_DT_F32 },
  { "torch._utils", "_rebuild_tensor_v2", GL_REBUILD_TENSOR_V2, HART_DT_F32 },
  { "torch", "FloatStorage", GL_STORAGE_CLASS, HART_DT_F32 },
  { "torch", "HalfStorage", GL_STORAGE_CLASS, HART_DT_F16 },
  { "torch", "BFloat16Storage", GL_STORAGE_CLASS, HART_DT_BF16 },
  { "torch", "DoubleStorage", GL_STORAGE_CLASS, HART_DT_F64 },
  { "torch", "LongStorage", GL_STORAGE_CLASS, HART_DT_I64 },
  { "torch", "IntStorage", GL_STORAGE_CLASS, HART_DT_I32 },
  { "torch", "ShortStorage", GL_STORAGE_CLASS, HART_DT_I16 },
  { "torch", "CharStorage", GL_STORAGE_CLASS, HART_DT_I8 },
  { "torch", "ByteStorage", GL_STORAGE_CLASS, HART_DT_U8 },
  { "torch", "BoolStorage", GL_STORAGE_CLASS, HART_DT_BOOL },
};

static hart_status bad(vm *m, const char *what)
{
  return hart_fail(m->err, HART_ERR_FORMAT, "%s: data.pkl: %s (opcode 0x%02x at offset %zu)",
                   m->where, what, m->p[m->op_pos], m->op_pos);
}

static pv *pv_new(vm *m, pv_kind kind)
{
  pv *v = g_new0(pv, 1);
  v->kind = kind;
  g_ptr_array_add(m->all, v);
  return v;
}

static void pv_free(gpointer data)
{
  pv *v = data;
  g_free(v->s);
  g_free(v->items);
  g_free(v);
}

static void pv_append(pv *c, pv *item)
{
  if (c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 8;
    c->items = g_renew(pv *, c->items, c->cap);
  }
  c->items[c->n++] = item;
}

/* ---- reading the opcode stream ---- */

static hart_status need(vm *m, size_t n)
{
  if (m->len - m->pos < n)
    return hart_fail(m->err, HART_ERR_FORMAT, "%s: data.pkl: truncated at offset %zu", m->where,
                     m->pos);
  return HART_OK;
}

static uint64_t read_le(vm *m, size_t n)
{
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v |= (uint64_t)m->p[m->pos + i] << (8 * i);
  m->pos += n;
  return v;
}

/* ---- the stack ---- */

static size_t mark_floor(vm *m)
{
  return m->marks->len ? g_array_index(m->marks, size_t, m->marks->len - 1) : 0;
}

static void push(vm *m, pv *v)
{
  g_ptr_array_add(m->stack, v);
}

/* Pops one value; popping below the innermost MARK is an error, as in CPython. */
static pv *pop(vm *m)
{
  if (m->stack->len <= mark_floor(m))
    return NULL;
  return g_ptr_array_steal_index(m->stack, m->stack->len - 1);
}

static pv *top(vm *m)
{
  if (m->stack->len <= mark_floor(m))
    return NULL;
  return m->stack->pdata[m->stack->len - 1];
}

/* Pops everything above the innermost MARK into a new container of the given kind. */
static pv *pop_mark(vm *m, pv_kind kind)
{
  size_t k;
  pv *c;

  if (m->marks->len == 0)
    return NULL;
  k = g_array_index(m->marks, size_t, m->marks->len - 1);
  g_array_set_size(m->marks, m->marks->len - 1);
  c = pv_new(m, kind);
  for (size_t i = k; i < m->stack->len; i++)
    pv_append(c, m->stack->pdata[i]);
  g_ptr_array_set_size(m->stack, (guint)k);
  return c;
}

/* ---- the opcodes with arguments ---- */

static hart_status op_global(vm *m)
{
  const uint8_t *a = m->p + m->pos, *end = m->p + m->len;
  const uint8_t *nl1 = memchr(a, '\n', (size_t)(end - a)), *nl2;
  char module[64], name[64];
  pv *v;

  if (nl1 == NULL || (nl2 = memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1))) == NULL)
    return bad(m, "GLOBAL without two lines");
  if ((size_t)(nl1 - a) >= sizeof module || (size_t)(nl2 - nl1 - 1) >= sizeof name)
    return bad(m, "GLOBAL name too long");
  memcpy(module, a, (size_t)(nl1 - a));
  module[nl1 - a] = '\0';
  memcpy(name, nl1 + 1, (size_t)(nl2 - nl1 - 1));
  name[nl2 - nl1 - 1] = '\0';
  m->pos = (size_t)(nl2 + 1 - m->p);
  for (size_t i = 0; i < G_N_ELEMENTS(globals); i++)
    if (strcmp(module, globals[i].module) == 0 && strcmp(name, globals[i].name) == 0) {
      v = pv_new(m, PV_GLOBAL);
      v->glob = globals[i].kind;
      v->dtype = globals[i].dtype;
      push(m, v);
      return HART_OK;
    }
  /* Printable for the message: the bytes came from the file. */
  for (char *c = module; *c; c++)
    if (!g_ascii_isprint(*c))
      *c = '?';
  for (char *c = name; *c; c++)
    if (!g_ascii_isprint(*c))
      *c = '?';
  return hart_fail(m->err, HART_ERR_FORMAT,
                   "%s: data.pkl: global %s.%s is not allowed (only OrderedDict, "
                   "_rebuild_tensor_v2 and storage classes) at offset %zu",
                   m->where, module, name, m->op_pos);
}

static hart_status op_binunicode(vm *m)
{
  uint64_t n;
  pv *v;
  hart_status st = need(m, 4);

  if (st != HART_OK)
    return st;
  n = read_le(m, 4);
  if ((st = need(m, (size_t)n)) != HART_OK)
    return st;
  if (!g_utf8_validate((const char *)m->p + m->pos, (gssize)n, NULL) ||
      memchr(m->p + m->pos, '\0', (size_t)n) != NULL)
    return bad(m, "string is not valid UTF-8 or contains NUL");
  v = pv_new(m, PV_STR);
  v->s = g_strndup((const char *)m->p + m->pos, (gsize)n);
  m->pos += (size_t)n;
  push(m, v);
  return HART_OK;
}

static hart_status op_int(vm *m, size_t nbytes, gboolean is_signed)
{
  hart_status st = need(m, nbytes);
  uint64_t u;
  pv *v;

  if (st != HART_OK)
    return st;
  u = read_le(m, nbytes);
  v = pv_new(m, PV_INT);
  if (is_signed && nbytes < 8 && (u >> (8 * nbytes - 1)) & 1)
    u |= ~(uint64_t)0 << (8 * nbytes); /* sign-extend */
  v->i = (int64_t)u;
  push(m, v);
  return HART_OK;
}

static hart_status op_long1(vm *m)
{
  hart_status st = need(m, 1);
  size_t n;

  if (st != HART_OK)
    return st;
  n = m->p[m->pos++];
  if (n > 8)
    return bad(m, "integer wider than 64 bits");
  if (n == 0) {
    pv *v = pv_new(m, PV_INT);
    push(m, v);
    return HART_OK;
  }
  return op_int(m, n, TRUE);
}

static hart_status op_memo_put(vm *m, size_t nbytes)
{
  hart_status st = need(m, nbytes);
  uint64_t idx;
  pv *v;

  if (st != HART_OK)
    return st;
  idx = read_le(m, nbytes);
  v = top(m);
  if (v == NULL)
    return bad(m, "memo store from an empty stack");
  g_hash_table_insert(m->memo, GSIZE_TO_POINTER((gsize)idx), v);
  return HART_OK;
}

static hart_status op_memo_get(vm *m, size_t nbytes)
{
  hart_status st = need(m, nbytes);
  uint64_t idx;
  pv *v;

  if (st != HART_OK)
    return st;
  idx = read_le(m, nbytes);
  v = g_hash_table_lookup(m->memo, GSIZE_TO_POINTER((gsize)idx));
  if (v == NULL)
    return bad(m, "memo entry that was never stored");
  push(m, v);
  return HART_OK;
}

/* ---- the interpreted "calls" ---- */

static gboolean int_tuple(const pv *v, int64_t *out, int *n)
{
  if (v->kind != PV_TUPLE || v->n > HART_MAX_DIMS)
    return FALSE;
  for (size_t i = 0; i < v->n; i++) {
    if (v->items[i]->kind != PV_INT || v->items[i]->i < 0)
      return FALSE;
    out[i] = v->items[i]->i;
  }
  *n = (int)v->n;
  return TRUE;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
 * [, metadata]): describe the view; the reader checks it against the storage. */
static hart_status rebuild_tensor(vm *m, pv *args)
{
  pv *v, *storage;
  int nd_size, nd_stride;

  if (args->n != 6 && args->n != 7)
    return bad(m, "_rebuild_tensor_v2 takes 6 or 7 arguments");
  storage = args->items[0];
  if (storage->kind != PV_STORAGE)
    return bad(m, "_rebuild_tensor_v2: first argument is not a storage");
  if (args->items[1]->kind != PV_INT || args->items[1]->i < 0)
    return bad(m, "_rebuild_tensor_v2: storage offset is not a non-negative integer");
  v = pv_new(m, PV_TENSOR);
  if (!int_tuple(args->items[2], v->t.shape, &nd_size) ||
      !int_tuple(args->items[3], v->t.stride, &nd_stride) || nd_size != nd_stride)
    return bad(m, "_rebuild_tensor_v2: size/stride are not tuples of up to 8 non-negative "
                  "integers of the same length");
  if (args->items[4]->kind != PV_BOOL)
    return bad(m, "_rebuild_tensor_v2: requires_grad is not a bool");
  if (args->items[5]->kind != PV_DICT || args->items[5]->n != 0)
    return bad(m, "_rebuild_tensor_v2: backward hooks are not an empty OrderedDict");
  if (args->n == 7 && args->items[6]->kind != PV_NONE && args->items[6]->kind != PV_DICT)
    return bad(m, "_rebuild_tensor_v2: metadata is not a dict");
  v->t.ndim = nd_size;
  v->t.offset = args->items[1]->i;
  v->t.storage_key = storage->s;
  v->t.dtype = storage->dtype;
  v->t.storage_numel = storage->i;
  push(m, v);
  return HART_OK;
}

static hart_status op_reduce(vm *m)
{
  pv *args = pop(m), *fn = pop(m);

  if (args == NULL || fn == NULL)
    return bad(m, "REDUCE on a short stack");
  if (fn->kind != PV_GLOBAL || args->kind != PV_TUPLE)
    return bad(m, "REDUCE of something other than an allowed global");
  switch (fn->glob) {
  case GL_ORDERED_DICT:
    if (args->n != 0)
      return bad(m, "OrderedDict called with arguments");
    push(m, pv_new(m, PV_DICT));
    return HART_OK;
  case GL_REBUILD_TENSOR_V2:
    return rebuild_tensor(m, args);
  case GL_STORAGE_CLASS:
  default:
    return bad(m, "storage classes cannot be called");
  }
}

/* ('storage', <storage class>, key, location, numel) */
static hart_status op_binpersid(vm *m)
{
  pv *pid = pop(m), *v;
  pv **it;

  if (pid == NULL)
    return bad(m, "BINPERSID on an empty stack");
  it = pid->items;
  if (pid->kind != PV_TUPLE || pid->n != 5 || it[0]->kind != PV_STR ||
      strcmp(it[0]->s, "storage") != 0 || it[1]->kind != PV_GLOBAL ||
      it[1]->glob != GL_STORAGE_CLASS || it[2]->kind != PV_STR || it[3]->kind != PV_STR ||
      it[4]->kind != PV_INT || it[4]->i < 0)
    return bad(m, "persistent id is not ('storage', class, key, location, numel)");
  if (it[2]->s[0] == '\0' || strchr(it[2]->s, '/') != NULL || strcmp(it[2]->s, "..") == 0)
    return bad(m, "storage key is not a plain record name");
  v = pv_new(m, PV_STORAGE);
  v->s = g_strdup(it[2]->s);
  v->dtype = it[1]->dtype;
  v->i = it[4]->i;
  push(m, v);
  return HART_OK;
}

static hart_status op_setitems(vm *m, gboolean many)
{
  pv *kv, *d;

  if (many) {
    kv = pop_mark(m, PV_TUPLE);
    if (kv == NULL)
      return bad(m, "SETITEMS without MARK");
    if (kv->n % 2 != 0)
      return bad(m, "SETITEMS with an odd number of items");
  } else {
    pv *val = pop(m), *key = pop(m);
    if (val == NULL || key == NULL)
      return bad(m, "SETITEM on a short stack");
    kv = pv_new(m, PV_TUPLE);
    pv_append(kv, key);
    pv_append(kv, val);
  }
  d = top(m);
  if (d == NULL || d->kind != PV_DICT)
    return bad(m, "SETITEM(S) on something other than a dict");
  for (size_t i = 0; i < kv->n; i++)
    pv_append(d, kv->items[i]);
  return HART_OK;
}

static hart_status op_appends(vm *m, gboolean many)
{
  pv *items, *l;

  if (many) {
    items = pop_mark(m, PV_TUPLE);
    if (items == NULL)
      return bad(m, "APPENDS without MARK");
  } else {
    pv *v = pop(m);
    if (v == NULL)
      return bad(m, "APPEND on an empty stack");
    items = pv_new(m, PV_TUPLE);
    pv_append(items, v);
  }
  l = top(m);
  if (l == NULL || l->kind != PV_LIST)
    return bad(m, "APPEND(S) on something other than a list");
  for (size_t i = 0; i < items->n; i++)
    pv_append(l, items->items[i]);
  return HART_OK;
}

static hart_status op_tuple_n(vm *m, size_t n)
{
  pv *t = pv_new(m, PV_TUPLE), *items[3];

  for (size_t i = 0; i < n; i++)
    if ((items[n - 1 - i] = pop(m)) == NULL)
      return bad(m, "TUPLEn on a short stack");
  for (size_t i = 0; i < n; i++)
    pv_append(t, items[i]);
  push(m, t);
  return HART_OK;
}

/* One opcode; *done is set by STOP. */
static hart_status step(vm *m, pv **result)
{
  uint8_t op;
  hart_status st;

  m->op_pos = m->pos;
  if ((st = need(m, 1)) != HART_OK)
    return st;
  op = m->p[m->pos++];
  switch (op) {
  case 0x80: /* PROTO */
    if ((st = need(m, 1)) != HART_OK)
      return st;
    if (m->p[m->pos] != 2)
      return bad(m, "pickle protocol other than 2 (torch.save writes 2)");
    m->pos++;
    return HART_OK;
  case 'c':
    return op_global(m);
  case 'q':
    return op_memo_put(m, 1);
  case 'r':
    return op_memo_put(m, 4);
  case 'h':
    return op_memo_get(m, 1);
  case 'j':
    return op_memo_get(m, 4);
  case '(': {
    size_t at = m->stack->len;
    g_array_append_val(m->marks, at);
    return HART_OK;
  }
  case 't': {
    pv *t = pop_mark(m, PV_TUPLE);
    if (t == NULL)
      return bad(m, "TUPLE without MARK");
    push(m, t);
    return HART_OK;
  }
  case 0x85:
    return op_tuple_n(m, 1);
  case 0x86:
    return op_tuple_n(m, 2);
  case 0x87:
    return op_tuple_n(m, 3);
  case ')':
    push(m, pv_new(m, PV_TUPLE));
    return HART_OK;
  case '}':
    push(m, pv_new(m, PV_DICT));
    return HART_OK;
  case ']':
    push(m, pv_new(m, PV_LIST));
    return HART_OK;
  case 'X':
    return op_binunicode(m);
  case 'K':
    return op_int(m, 1, FALSE);
  case 'M':
    return op_int(m, 2, FALSE);
  case 'J':
    return op_int(m, 4, TRUE);
  case 0x8a:
    return op_long1(m);
  case 0x88: /* NEWTRUE */
  case 0x89: /* NEWFALSE */ {
    pv *v = pv_new(m, PV_BOOL);
    v->i = op == 0x88;
    push(m, v);
    return HART_OK;
  }
  case 'N':
    push(m, pv_new(m, PV_NONE));
    return HART_OK;
  case 'R':
    return op_reduce(m);
  case 'Q':
    return op_binpersid(m);
  case 's':
    return op_setitems(m, FALSE);
  case 'u':
    return op_setitems(m, TRUE);
  case 'a':
    return op_appends(m, FALSE);
  case 'e':
    return op_appends(m, TRUE);
  case 'b': {
    /* The state dict's BUILD sets its _metadata attribute: not needed, ignored. */
    pv *state = pop(m), *obj = top(m);
    if (state == NULL || obj == NULL || obj->kind != PV_DICT)
      return bad(m, "BUILD on something other than an OrderedDict");
    return HART_OK;
  }
  case '.':
    *result = pop(m);
    if (*result == NULL || m->stack->len != 0 || m->marks->len != 0)
      return bad(m, "STOP with an unbalanced stack");
    if (m->pos != m->len)
      return bad(m, "bytes after STOP");
    return HART_OK;
  default:
    return bad(m, "opcode not allowed in a torch.save state dict");
  }
}

static hart_status extract(vm *m, const pv *dict, hart_pickle_state *out)
{
  GHashTable *names;
  hart_status st = HART_OK;

  if (dict->kind != PV_DICT)
    return hart_fail(m->err, HART_ERR_FORMAT, "%s: data.pkl: the top-level object is not a dict",
                     m->where);
  out->n = dict->n / 2;
  out->tensors = g_new0(hart_pickle_tensor, out->n + 1);
  names = g_hash_table_new(g_str_hash, g_str_equal);
  for (size_t i = 0; i < out->n; i++) {
    const pv *k = dict->items[2 * i], *v = dict->items[2 * i + 1];
    if (k->kind != PV_STR) {
      st = hart_fail(m->err, HART_ERR_FORMAT, "%s: data.pkl: state dict key #%zu is not a string",
                     m->where, i);
      break;
    }
    if (v->kind != PV_TENSOR) {
      st = hart_fail(m->err, HART_ERR_FORMAT, "%s: data.pkl: state dict entry %s is not a tensor",
                     m->where, k->s);
      break;
    }
    if (!g_hash_table_add(names, k->s)) {
      st = hart_fail(m->err, HART_ERR_FORMAT, "%s: data.pkl: tensor %s appears twice", m->where,
                     k->s);
      break;
    }
    out->tensors[i] = v->t;
    out->tensors[i].name = g_strdup(k->s);
    out->tensors[i].storage_key = g_strdup(v->t.storage_key);
  }
  g_hash_table_unref(names);
  if (st != HART_OK)
    hart_pickle_state_clear(out);
  return st;
}

hart_status hart_pickle_load_state_dict(const uint8_t *data, size_t len, const char *where,
                                        hart_pickle_state *out, hart_error *err)
{
  vm m = { data, len, 0, 0, where, err, NULL, NULL, NULL, NULL };
  pv *result = NULL;
  hart_status st = HART_OK;

  out->tensors = NULL;
  out->n = 0;
  m.all = g_ptr_array_new_with_free_func(pv_free);
  m.stack = g_ptr_array_new();
  m.marks = g_array_new(FALSE, FALSE, sizeof(size_t));
  m.memo = g_hash_table_new(g_direct_hash, g_direct_equal);
  if (len == 0 || data[0] != 0x80)
    st = hart_fail(err, HART_ERR_FORMAT, "%s: data.pkl does not start with a PROTO opcode", where);
  while (st == HART_OK && result == NULL)
    st = step(&m, &result);
  if (st == HART_OK)
    st = extract(&m, result, out);
  g_hash_table_unref(m.memo);
  g_array_unref(m.marks);
  g_ptr_array_unref(m.stack);
  g_ptr_array_unref(m.all);
  return st;
}

void hart_pickle_state_clear(hart_pickle_state *st)
{
  for (size_t i = 0; i < st->n; i++) {
    g_free(st->tensors[i].name);
    g_free(st->tensors[i].storage_key);
  }
  g_free(st->tensors);
  st->tensors = NULL;
  st->n = 0;
}
