// Block layouts (ggml's) and the per-ISA kernel table shared by the kernel files.
#ifndef SWERVE_KERNELS_INTERNAL_H
#define SWERVE_KERNELS_INTERNAL_H

#include <string.h>

#include "swerve_kernels.h"

#define SWV_QK 32
#define SWV_QK_K 256

typedef struct { uint16_t d; uint8_t qs[16]; } swv_block_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[16]; } swv_block_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } swv_block_q5_0;
typedef struct { uint16_t d; int8_t qs[32]; } swv_block_q8_0;
typedef struct { uint16_t d, s; int8_t qs[32]; } swv_block_q8_1;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } swv_block_q4_K;
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } swv_block_q6_K;
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } swv_block_q8_K;

_Static_assert(sizeof(swv_block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(swv_block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(swv_block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(swv_block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(swv_block_q8_1) == 36, "q8_1");
_Static_assert(sizeof(swv_block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(swv_block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(swv_block_q8_K) == 292, "q8_K");

/// Unpacks Q4_K's 12 bytes of 6-bit scales and mins into 8 + 8 bytes (ggml's `get_scale_min_k4` order).
static inline void swv_q4_K_scales(const uint8_t *packed, uint8_t scales[8], uint8_t mins[8]) {
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            scales[j] = packed[j] & 63;
            mins[j] = packed[j + 4] & 63;
        } else {
            scales[j] = (packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4);
            mins[j] = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
        }
    }
}

/// Value `i` of a float weight row (F32, F16 or BF16) as a float, exactly.
static inline float swv_float_weight(int type, const void *row, int64_t i) {
    if (type == SWV_TYPE_F32) return ((const float *)row)[i];
    uint16_t h = ((const uint16_t *)row)[i];
    if (type == SWV_TYPE_F16) return swv_half_to_float(h);
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/// 1 for the float weight types `swv_matmul` multiplies f32 activations by.
static inline int swv_is_float_weight(int type) {
    return type == SWV_TYPE_F32 || type == SWV_TYPE_F16 || type == SWV_TYPE_BF16;
}

/// One ISA's kernels; the dispatcher holds the table in effect.
typedef struct {
    void (*quantize_row)(int type, const float *x, void *y, int64_t n);
    float (*vec_dot)(int type, int64_t n, const void *w, const void *a);
    void (*matmul)(int type, int64_t n, const void *w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
                   const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride);
    void (*attention)(const float *q, int64_t q_stride, const swv_kv_pages *kv, float *out, int64_t out_stride,
                      int64_t n_queries, int64_t first_position, int64_t n_heads, int64_t n_kv_heads,
                      int64_t head_dim, int64_t head_begin, int64_t head_end, int64_t window, float scale);
    void (*glu)(const float *g, const float *u, float *y, int64_t n, int gelu);
    void (*rms_norm)(const float *x, const float *w, float *y, int64_t n, float eps);
    void (*half_to_float_row)(const uint16_t *x, float *y, int64_t n);
    void (*float_to_half_row)(const float *x, uint16_t *y, int64_t n);
    void (*gemm)(int type, int64_t n, const void *packed, int64_t group_begin, int64_t group_end, int64_t rows,
                 const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride);
    uint64_t (*int8_peak)(int64_t iterations);
} swv_kernel_table;

/// Packed layout of a packable type: bytes of one 32-value block's quants for 16 rows, of its scales, and
/// the offset its unsigned quants carry (see swerve_kernels.h). Q4_K packs as Q4_1 does, each 32-value
/// sub-block with its own scale d * sc and min -dmin * m, stored as f32 (exact: an f16 times a 6-bit
/// integer), so one tile serves both.
static inline int swv_pack_quant_bytes(int type) {
    switch (type) {
    case SWV_TYPE_Q4_0:
    case SWV_TYPE_Q4_1:
    case SWV_TYPE_Q4_K: return 256;
    case SWV_TYPE_Q6_K: return 384;  // the nibbles, then the two planes of high bits
    default: return 512;
    }
}
static inline int swv_pack_scale_bytes(int type) {
    switch (type) {
    case SWV_TYPE_Q4_1: return 64;
    case SWV_TYPE_Q4_K: return 128;
    case SWV_TYPE_Q6_K: return 64;  // f16 d[16], int8 sc_lo[16], int8 sc_hi[16]
    default: return 32;
    }
}
static inline int swv_pack_offset(int type) {
    switch (type) {
    case SWV_TYPE_Q4_0: return 8;
    case SWV_TYPE_Q5_0: return 16;
    case SWV_TYPE_Q6_K: return 32;
    case SWV_TYPE_Q8_0: return 128;
    default: return 0;
    }
}
/// 1 if a packed block keeps two values per byte in its first 256 bytes (the 4-bit types and Q6_K's nibbles).
static inline int swv_pack_nibbles(int type) { return swv_pack_quant_bytes(type) != 512; }
/// 1 if a packed block's scales are f32 (Q4_K), 0 if f16.
static inline int swv_pack_f32_scales(int type) { return type == SWV_TYPE_Q4_K; }
/// 1 if a packed block has a min term (Q4_1, Q4_K): acc = fma(m, swv_pack_min_factor(type, x), acc).
static inline int swv_pack_has_min(int type) { return type == SWV_TYPE_Q4_1 || type == SWV_TYPE_Q4_K; }
/// What a block's min multiplies: Q4_1 the activation's s (d * sum rounded through f16, as ggml's Q8_1);
/// Q4_K d * sum unrounded (llama.cpp's Q4_K product sums the mins in integers).
static inline float swv_pack_min_factor(int type, const swv_block_q8s *x) {
    return type == SWV_TYPE_Q4_K ? x->d * (float)x->sum : x->s;
}

/// Keys per block of the tiled attention (and of `swv_attention_prefetch`), and the most query vectors (rows ×
/// heads of one KV group) a call shares each converted K/V block between.
#define ATTN_KEYS 32
#define ATTN_QUERIES 32

#if defined(__x86_64__)
#include <immintrin.h>

/// How many blocks ahead of the one it multiplies a GEMM tile prefetches: a DRAM read (~100 ns) lasts more
/// than ten blocks of an 8-token tile, and with 2 a batch-8 decode step spent ~15% more time (Zen 5,
/// `swerve bench latency --batch-size 8` of builds with `-Xcc -DSWV_PREFETCH_BLOCKS=2` and `=16`).
#ifndef SWV_PREFETCH_BLOCKS
#define SWV_PREFETCH_BLOCKS 16
#endif

/// Prefetches every cache line of the packed block `SWV_PREFETCH_BLOCKS` after `block` (`bytes` each; past
/// the end of the weights a prefetch is dropped, never a fault).
static inline __attribute__((always_inline)) void swv_prefetch_block(const uint8_t *block, int bytes) {
    const char *ahead = (const char *)block + (size_t)SWV_PREFETCH_BLOCKS * (size_t)bytes;
    for (int line = 0; line < bytes; line += 64) _mm_prefetch(ahead + line, _MM_HINT_T0);
}

#define SWV_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

/// Q6_K in the 256-bit GEMM tiles (AVX2 and AVX-VNNI): vector `v` (0...3) of half `h` of a packed block at
/// `q`, as unsigned 6-bit quants of values 4v...4v+3 (`lo`) and 16+4v...16+4v+3 (`hi`) of its 8 rows.
SWV_AVX2_INLINE void swv_q6_K_unpack8(const uint8_t *q, int h, int v, __m256i *lo, __m256i *hi) {
    const __m256i low = _mm256_set1_epi8(0x0F), bits = _mm256_set1_epi8(0x30);
    __m256i packed = _mm256_loadu_si256((const __m256i *)(q + 64 * v + 32 * h));
    __m256i planes[2];
    for (int p = 0; p < 2; ++p) {
        __m256i plane = _mm256_loadu_si256((const __m256i *)(q + 256 + 64 * p + 32 * h));
        __m256i moved = v == 0 ? _mm256_slli_epi16(plane, 4)
            : v == 1           ? _mm256_slli_epi16(plane, 2)
            : v == 2           ? plane
                               : _mm256_srli_epi16(plane, 2);
        planes[p] = _mm256_and_si256(moved, bits);
    }
    *lo = _mm256_or_si256(_mm256_and_si256(packed, low), planes[0]);
    *hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(packed, 4), low), planes[1]);
}

/// Q6_K's integer sums of one block in the 256-bit tiles start at minus the offset times each half's
/// activation sum.
SWV_AVX2_INLINE void swv_q6_K_start8(int count, const swv_block_q8s *const *x, __m256i *lsum, __m256i *hsum) {
    const int offset = swv_pack_offset(SWV_TYPE_Q6_K);
    for (int t = 0; t < count; ++t) {
        lsum[t] = _mm256_set1_epi32(-offset * x[t]->sum_lo);
        hsum[t] = _mm256_set1_epi32(-offset * (x[t]->sum - x[t]->sum_lo));
    }
}

/// Q6_K's end of one block in the 256-bit tiles: each half's sums times its scale d * sc, as swv_scalar_gemm.
SWV_AVX2_INLINE void swv_q6_K_accumulate8(int count, const uint8_t *q, int h, const __m256i *lsum,
                                          const __m256i *hsum, const swv_block_q8s *const *x, __m256 *acc) {
    const uint8_t *s = q + swv_pack_quant_bytes(SWV_TYPE_Q6_K);
    __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + 16 * h)));
    __m256 d_lo = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(s + 32 + 8 * h)))));
    __m256 d_hi = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(s + 48 + 8 * h)))));
    for (int t = 0; t < count; ++t) {
        __m256 xd = _mm256_set1_ps(x[t]->d);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lsum[t]), _mm256_mul_ps(d_lo, xd), acc[t]);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum[t]), _mm256_mul_ps(d_hi, xd), acc[t]);
    }
}

/// The end of one block in the 256-bit GEMM tiles (AVX2 and AVX-VNNI): the block's scales (and mins) of
/// the 8 rows in half `h` of a packed group, at `s`, applied to each of `count` tokens' integer sums.
static inline __attribute__((always_inline, target("avx2,fma,f16c"))) void
swv_tile8_accumulate(int type, int count, const uint16_t *s, int h, const __m256i *isum,
                     const swv_block_q8s *const *x, __m256 *acc) {
    __m256 d, m = _mm256_setzero_ps();
    if (swv_pack_f32_scales(type)) {
        d = _mm256_loadu_ps((const float *)s + 8 * h);
        m = _mm256_loadu_ps((const float *)s + 16 + 8 * h);
    } else {
        d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + 8 * h)));
        if (type == SWV_TYPE_Q4_1) m = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + 16 + 8 * h)));
    }
    for (int t = 0; t < count; ++t) {
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, _mm256_set1_ps(x[t]->d)), acc[t]);
        if (swv_pack_has_min(type)) {
            acc[t] = _mm256_fmadd_ps(m, _mm256_set1_ps(swv_pack_min_factor(type, x[t])), acc[t]);
        }
    }
}
#endif

/// The bytes of KV row `position` of a sequence's pages, from KV head `g` (of `head_dim` values) on.
static inline const uint8_t *swv_kv_row(const swv_kv_pages *kv, const void *base, int64_t position, int64_t g,
                                        int64_t head_dim) {
    int64_t slot = (int64_t)kv->block_table[position / kv->block_size] * kv->block_size + position % kv->block_size;
    int64_t head = kv->type == SWV_TYPE_Q8_0 ? g * (head_dim / SWV_QK) * (int64_t)sizeof(swv_block_q8_0) : g * head_dim * 2;
    return (const uint8_t *)base + slot * kv->row_bytes + head;
}

/// The first and last key position query `position` sees through `kv` (last < first: none).
static inline void swv_kv_visible(const swv_kv_pages *kv, int64_t position, int64_t window, int64_t *first,
                                  int64_t *last) {
    int64_t lo = window > 0 && position - window + 1 > 0 ? position - window + 1 : 0;
    *first = lo > kv->key_begin ? lo : kv->key_begin;
    *last = kv->key_end > 0 && kv->key_end - 1 < position ? kv->key_end - 1 : position;
}

/// Stores the softmax state of vector `i` (query t, head h: i = t * n_heads + h) when the call asked for it.
static inline void swv_kv_store_stats(const swv_kv_pages *kv, int64_t i, float max, float total) {
    if (kv->stats) {
        kv->stats[2 * i] = max;
        kv->stats[2 * i + 1] = total;
    }
}

/// Byte offsets, from the start of the key (or value) pool, of KV head g's rows at positions first...first +
/// count - 1: one 64-bit division for the run, where `swv_kv_row` pays one per row.
static inline void swv_kv_offsets(const swv_kv_pages *kv, int64_t first, int count, int64_t g, int64_t head_dim,
                                  int64_t *offsets) {
    int64_t head = kv->type == SWV_TYPE_Q8_0 ? g * (head_dim / SWV_QK) * (int64_t)sizeof(swv_block_q8_0) : g * head_dim * 2;
    int64_t block = first / kv->block_size, slot = first % kv->block_size;
    for (int j = 0; j < count; ++j) {
        offsets[j] = ((int64_t)kv->block_table[block] * kv->block_size + slot) * kv->row_bytes + head;
        if (++slot == kv->block_size) {
            slot = 0;
            ++block;
        }
    }
}

/// The block of up to `keys` keys from `first` that ends at `last` at the latest: how many there are (0 when
/// first > last) and their rows' offsets (`swv_kv_offsets`).
static inline int swv_kv_block(const swv_kv_pages *kv, int64_t first, int64_t last, int keys, int64_t g,
                               int64_t head_dim, int64_t *offsets) {
    int64_t left = last + 1 - first;
    int count = left <= 0 ? 0 : left < keys ? (int)left : keys;
    swv_kv_offsets(kv, first, count, g, head_dim, offsets);
    return count;
}

/// Asks for KV head g's key and value rows at byte offset `offset` ahead of use: decode attention streams
/// the cache from memory. Into L2 (prefetcht2), which measured faster than into L1 on the AMD EPYC: more
/// misses can be in flight.
static inline void swv_kv_prefetch(const swv_kv_pages *kv, int64_t offset, int64_t head_dim) {
    int64_t bytes = kv->type == SWV_TYPE_Q8_0 ? (head_dim / SWV_QK) * (int64_t)sizeof(swv_block_q8_0) : head_dim * 2;
    for (int64_t b = 0; b < bytes; b += 64) {
        __builtin_prefetch((const uint8_t *)kv->k + offset + b, 0, 1);
        __builtin_prefetch((const uint8_t *)kv->v + offset + b, 0, 1);
    }
}

extern const swv_kernel_table swv_scalar_table;
extern const swv_kernel_table swv_avx2_table;
extern const swv_kernel_table swv_avx_vnni_table;
extern const swv_kernel_table swv_avx512_table;
extern const swv_kernel_table swv_avx512_vnni_table;

/// Scalar Q8_S quantization (packed.c), shared by the levels that have no variant of their own.
void swv_scalar_quantize_q8s(const float *x, void *y, int64_t n);

#endif
