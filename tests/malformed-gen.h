/* malformed-gen.h: builders of small model files (safetensors, torch.save zip archives and
 * their pickles) used to generate corrupt inputs in tests and fuzz seed corpora. */
#ifndef HART_MALFORMED_GEN_H
#define HART_MALFORMED_GEN_H

#include <glib.h>
#include <stdint.h>

/* u64 header length | header | data. */
GByteArray *mg_safetensors(const char *header, const void *data, size_t data_len);

/* Pickle emitter for torch.save state dicts. */
void mg_pk_op(GByteArray *b, uint8_t op);
void mg_pk_str(GByteArray *b, const char *s);
void mg_pk_int(GByteArray *b, int64_t v);
void mg_pk_global(GByteArray *b, const char *module, const char *name);

typedef struct {
  const char *name;
  const char *storage_class; /* "FloatStorage", ... */
  const char *key;
  int64_t numel;
  int64_t offset;
  int ndim;
  int64_t shape[4];
  int64_t stride[4];
} mg_tensor;

/* PROTO 2, OrderedDict(), SETITEMS of the tensors, STOP. */
GByteArray *mg_pickle(const mg_tensor *t, size_t n);

typedef struct {
  const char *name;
  const void *data;
  size_t len;
  uint16_t method; /* 0 stored */
} mg_zip_entry;

typedef struct {
  size_t local[16];
  size_t central[16];
  size_t eocd;
} mg_zip_layout;

/* A zip of stored entries (data 64-byte aligned like torch writes), correct CRCs. */
GByteArray *mg_zip(const mg_zip_entry *e, size_t n, mg_zip_layout *layout);

/* The same with every size and offset in ZIP64 records (what torch writes past 4 GiB). */
GByteArray *mg_zip64(const mg_zip_entry *e, size_t n, mg_zip_layout *layout);

/* A valid torch.save archive "ck/" with one F32 tensor "w" [2, 2] = {1, 2, 3, 4}; and the same
 * archive in ZIP64 form. */
GByteArray *mg_torch_zip_valid(void);
GByteArray *mg_torch_zip64_valid(void);

void mg_put16(GByteArray *b, size_t at, uint16_t v);
void mg_put32(GByteArray *b, size_t at, uint32_t v);

#endif
