/* torch_zip.h: a careful reader of the zip archives torch.save writes: stored (uncompressed)
 * entries whose data is used in place. Every offset and size is bounds-checked against the
 * buffer, entries must not overlap each other or the central directory, ZIP64 is understood. */
#ifndef HART_TORCH_ZIP_H
#define HART_TORCH_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct {
  char *name;
  const uint8_t *data; /* inside the archive buffer */
  uint64_t size;
  uint32_t crc32;
} hart_zip_entry;

typedef struct {
  hart_zip_entry *entries;
  size_t n;
  void *index; /* name -> entry */
} hart_zip;

/* Parses the archive held in buf (len bytes; it must outlive z). where names the file. Only
 * method 0 (stored) entries are accepted: torch.save never compresses, and stored data can be
 * mapped instead of copied. */
hart_status hart_zip_open(const uint8_t *buf, size_t len, const char *where, hart_zip *z,
                          hart_error *err);
const hart_zip_entry *hart_zip_find(const hart_zip *z, const char *name);
void hart_zip_close(hart_zip *z);

/* The CRC-32 (zip polynomial) of n bytes. */
uint32_t hart_crc32(const uint8_t *p, size_t n);

#endif
