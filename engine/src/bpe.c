/* bpe.c: byte-pair merging of one pre-token by merge rank, and the merge table lookup. */
#include "tokenizer_private.h"

#include <stdlib.h>

/* A candidate merge of the symbol at `pos` with the symbol after it. */
typedef struct {
  int32_t rank;
  int32_t pos;
  int32_t id;
} bpe_item;

typedef struct {
  bpe_item *items;
  size_t n;
} bpe_heap;

static uint64_t merge_hash(uint64_t key)
{
  /* splitmix64 finaliser: ids are small dense integers, so mix before masking. */
  key ^= key >> 30;
  key *= 0xbf58476d1ce4e5b9ULL;
  key ^= key >> 27;
  key *= 0x94d049bb133111ebULL;
  key ^= key >> 31;
  return key;
}

size_t hart_merge_slot(const hart_tokenizer *tok, int32_t left, int32_t right)
{
  uint64_t key = hart_merge_key(left, right);
  size_t i = (size_t)merge_hash(key) & tok->merge_mask;

  /* Linear probing; the table is kept at most half full, so an empty slot always exists. */
  while (tok->merges[i].key != 0 && tok->merges[i].key != key)
    i = (i + 1) & tok->merge_mask;
  return i;
}

const hart_merge *hart_merge_find(const hart_tokenizer *tok, int32_t left, int32_t right)
{
  const hart_merge *m = &tok->merges[hart_merge_slot(tok, left, right)];
  return m->key != 0 ? m : NULL;
}

static int item_less(const bpe_item *a, const bpe_item *b)
{
  return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(bpe_heap *h, bpe_item it)
{
  size_t i = h->n++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!item_less(&it, &h->items[parent]))
      break;
    h->items[i] = h->items[parent];
    i = parent;
  }
  h->items[i] = it;
}

static bpe_item heap_pop(bpe_heap *h)
{
  bpe_item top = h->items[0], last = h->items[--h->n];
  size_t i = 0;

  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && item_less(&h->items[c + 1], &h->items[c]))
      c++;
    if (!item_less(&h->items[c], &last))
      break;
    h->items[i] = h->items[c];
    i = c;
  }
  if (h->n > 0)
    h->items[i] = last;
  return top;
}

static void push_pair(const hart_tokenizer *tok, bpe_heap *h, const int32_t *syms, int32_t pos,
                      int32_t next)
{
  const hart_merge *m;

  if (pos < 0 || next < 0)
    return;
  m = hart_merge_find(tok, syms[pos], syms[next]);
  if (m != NULL)
    heap_push(h, (bpe_item){ m->rank, pos, m->id });
}

int hart_bpe_merge(const hart_tokenizer *tok, int32_t *syms, size_t *n)
{
  size_t count = *n, out = 0;
  int32_t *prev, *next;
  bpe_heap heap;

  if (count < 2)
    return 0;
  /* Each merge adds at most two candidates, so 3n items bound the heap. */
  prev = malloc(count * sizeof *prev);
  next = malloc(count * sizeof *next);
  heap.items = malloc(3 * count * sizeof *heap.items);
  heap.n = 0;
  if (prev == NULL || next == NULL || heap.items == NULL) {
    free(prev);
    free(next);
    free(heap.items);
    return -1;
  }
  for (size_t i = 0; i < count; i++) {
    prev[i] = (int32_t)i - 1;
    next[i] = i + 1 < count ? (int32_t)i + 1 : -1;
  }
  for (size_t i = 0; i + 1 < count; i++)
    push_pair(tok, &heap, syms, (int32_t)i, (int32_t)i + 1);

  while (heap.n > 0) {
    bpe_item top = heap_pop(&heap);
    int32_t right = next[top.pos];
    const hart_merge *m;

    /* Skip entries made stale by earlier merges: the symbol was absorbed (syms < 0), is last,
     * or the pair at pos no longer produces this id. */
    if (syms[top.pos] < 0 || right < 0)
      continue;
    m = hart_merge_find(tok, syms[top.pos], syms[right]);
    if (m == NULL || m->id != top.id)
      continue;
    syms[top.pos] = top.id;
    syms[right] = -1;
    next[top.pos] = next[right];
    if (next[right] >= 0)
      prev[next[right]] = top.pos;
    push_pair(tok, &heap, syms, prev[top.pos], top.pos);
    push_pair(tok, &heap, syms, top.pos, next[top.pos]);
  }
  for (size_t i = 0; i < count; i++)
    if (syms[i] >= 0)
      syms[out++] = syms[i];
  *n = out;
  free(prev);
  free(next);
  free(heap.items);
  return 0;
}
