/* philox.h: the engine's counter-based random numbers (Philox-4x32-10), shared by the CPU and the
 * CUDA backends so that a seed gives the same draws everywhere.
 *
 * Stream layout: key = the 64-bit request seed; counter = (block index lo, block index hi, stage,
 * stream). Element i of a stream is component i % 4 of block i / 4. Uniforms use the top 24 bits
 * so they are exact floats in (0, 1): u = (x >> 8) * 2^-24 + 2^-25. */
#ifndef HART_PHILOX_H
#define HART_PHILOX_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define HART_HD __host__ __device__ __forceinline__
#else
#define HART_HD static inline
#endif

typedef struct {
  uint32_t v[4];
} hart_philox_u4;

HART_HD uint32_t hart_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi)
{
  uint64_t p = (uint64_t)a * (uint64_t)b;
  *hi = (uint32_t)(p >> 32);
  return (uint32_t)p;
}

HART_HD hart_philox_u4 hart_philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                          uint64_t key)
{
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  hart_philox_u4 r;
  int i;

  for (i = 0; i < 10; i++) {
    uint32_t hi0, hi1;
    uint32_t lo0 = hart_mulhilo32(0xD2511F53u, c0, &hi0);
    uint32_t lo1 = hart_mulhilo32(0xCD9E8D57u, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  r.v[0] = c0;
  r.v[1] = c1;
  r.v[2] = c2;
  r.v[3] = c3;
  return r;
}

/* The raw 32-bit value of element i of stream (stage, stream). */
HART_HD uint32_t hart_philox_bits(uint64_t seed, uint32_t stage, uint32_t stream, uint64_t i)
{
  uint64_t blk = i >> 2;
  hart_philox_u4 r = hart_philox4x32_10((uint32_t)blk, (uint32_t)(blk >> 32), stage, stream, seed);
  return r.v[i & 3];
}

/* Uniform in (0, 1), exactly representable. */
HART_HD float hart_philox_uniform(uint64_t seed, uint32_t stage, uint32_t stream, uint64_t i)
{
  return (float)(hart_philox_bits(seed, stage, stream, i) >> 8) * 5.9604644775390625e-8f +
         2.98023223876953125e-8f;
}

/* Standard normal number i of stream (stage, stream), by Box-Muller on the uniforms 2*(i/2) and
 * 2*(i/2)+1 of the same stream: r = sqrt(-2 ln u1), z = r*cos(2 pi u2) for even i and
 * r*sin(2 pi u2) for odd i. The math is done in double and rounded once to float so that the CPU
 * and CUDA (whose double cos/sin/log/sqrt are within 1 ulp of glibc's) agree on practically every
 * value; the uniforms are in (0, 1), so the log is finite. */
HART_HD float hart_philox_normal(uint64_t seed, uint32_t stage, uint32_t stream, uint64_t i)
{
  uint64_t j = i & ~(uint64_t)1;
  double u1 = (double)hart_philox_uniform(seed, stage, stream, j);
  double u2 = (double)hart_philox_uniform(seed, stage, stream, j + 1);
  double r = sqrt(-2.0 * log(u1));
  double a = 6.283185307179586476925286766559 * u2;
  return (float)((i & 1) ? r * sin(a) : r * cos(a));
}

#endif
