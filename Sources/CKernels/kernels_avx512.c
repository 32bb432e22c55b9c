// AVX-512 levels, compiled per function with `target` attributes (the rest of the binary stays baseline
// x86-64); the dispatcher installs them only where CPUID and XCR0 report them.
//
// `swv_avx512_table` (F/BW/DQ/VL without VNNI) is empty for now: every entry falls back to AVX2. The VNNI
// level has the tiled GEMM over packed weights: one VPDPBUSD multiplies 4 values of 16 rows by 4
// broadcast activation bytes, so a 16-row group and up to 8 tokens accumulate in registers.
#include <string.h>

#include "kernels_internal.h"

const swv_kernel_table swv_avx512_table = {0};

#if defined(__x86_64__)
#include <immintrin.h>

#define VNNI_INLINE static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")))
#ifndef PREFETCH_BLOCKS
#define PREFETCH_BLOCKS 2
#endif
#define VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")))

/// Four activation bytes (values 4v...4v+3 of a block) broadcast to every 32-bit lane.
VNNI_INLINE __m512i broadcast4(const int8_t *qs) {
    int32_t a4;
    memcpy(&a4, qs, 4);
    return _mm512_set1_epi32(a4);
}

/// One 16-row group against `count` (1...8) tokens: per block each weight vector is loaded (and 4-bit
/// quants unpacked) once for all tokens; integer sums exactly as swv_scalar_gemm, then the same FMAs.
VNNI_INLINE void gemm_tile(int type, int count, int64_t nb, const uint8_t *group, const char *a, size_t a_row_bytes,
                           float *out, int64_t out_stride, __mmask16 valid) {
    const int qbytes = swv_pack_quant_bytes(type), sbytes = swv_pack_scale_bytes(type);
    const int offset = swv_pack_offset(type);
    const __m512i low = _mm512_set1_epi8(0x0F);
    const uint8_t *scales = group + (size_t)nb * (size_t)qbytes;
    __m512 acc[8];
    for (int t = 0; t < count; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t *q = group + (size_t)b * (size_t)qbytes;
        const uint16_t *s = (const uint16_t *)(scales + (size_t)b * (size_t)sbytes);
        // Both streams (quants, scales) a few blocks ahead, every cache line: the hardware prefetcher alone
        // leaves a one-row decode at a fraction of the read bandwidth.
        for (int line = 0; line < qbytes; line += 64) _mm_prefetch((const char *)q + PREFETCH_BLOCKS * qbytes + line, _MM_HINT_T0);
        _mm_prefetch((const char *)s + PREFETCH_BLOCKS * sbytes, _MM_HINT_T0);
        const swv_block_q8s *x[8];
        // Two integer chains per token (low and high nibbles, even and odd vectors), added at the end: with
        // one token a single chain of 8 dependent VPDPBUSDs would bound the loop by their latency.
        __m512i isum[8], isum2[8];
        for (int t = 0; t < count; ++t) {
            x[t] = (const swv_block_q8s *)(a + (size_t)t * a_row_bytes) + b;
            isum[t] = _mm512_set1_epi32(-offset * x[t]->sum);
            isum2[t] = _mm512_setzero_si512();
        }
        if (qbytes == 256) {
            for (int v = 0; v < 4; ++v) {
                __m512i packed = _mm512_loadu_si512((const void *)(q + 64 * v));
                __m512i lo = _mm512_and_si512(packed, low), hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low);
                for (int t = 0; t < count; ++t) {
                    isum[t] = _mm512_dpbusd_epi32(isum[t], lo, broadcast4(x[t]->qs + 4 * v));
                    isum2[t] = _mm512_dpbusd_epi32(isum2[t], hi, broadcast4(x[t]->qs + 16 + 4 * v));
                }
            }
        } else {
            for (int v = 0; v < 8; v += 2) {
                __m512i u0 = _mm512_loadu_si512((const void *)(q + 64 * v));
                __m512i u1 = _mm512_loadu_si512((const void *)(q + 64 * v + 64));
                for (int t = 0; t < count; ++t) {
                    isum[t] = _mm512_dpbusd_epi32(isum[t], u0, broadcast4(x[t]->qs + 4 * v));
                    isum2[t] = _mm512_dpbusd_epi32(isum2[t], u1, broadcast4(x[t]->qs + 4 * v + 4));
                }
            }
        }
        for (int t = 0; t < count; ++t) isum[t] = _mm512_add_epi32(isum[t], isum2[t]);
        __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)s));
        __m512 m = type == SWV_TYPE_Q4_1 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + 16)))
                                         : _mm512_setzero_ps();
        for (int t = 0; t < count; ++t) {
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, _mm512_set1_ps(x[t]->d)), acc[t]);
            if (type == SWV_TYPE_Q4_1) acc[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(x[t]->s), acc[t]);
        }
    }
    for (int t = 0; t < count; ++t) _mm512_mask_storeu_ps(out + t * out_stride, valid, acc[t]);
}

/// Tokens in chunks whose activations stay in L2 while every group of the range passes over them; per
/// group, tiles of 8 tokens, the rest as one smaller tile.
VNNI_INLINE void gemm_type(int type, int64_t n, const void *packed, int64_t group_begin, int64_t group_end,
                           int64_t rows, const void *a, size_t a_row_bytes, int64_t tokens, float *out,
                           int64_t out_stride) {
    const int64_t nb = n / SWV_QK, chunk = 64;
    const size_t group_bytes = swv_packed_group_bytes(type, n);
    for (int64_t t0 = 0; t0 < tokens; t0 += chunk) {
        int64_t t1 = t0 + chunk < tokens ? t0 + chunk : tokens;
        for (int64_t g = group_begin; g < group_end; ++g) {
            const uint8_t *group = (const uint8_t *)packed + (size_t)g * group_bytes;
            int64_t r0 = g * SWV_PACK_ROWS;
            __mmask16 valid = rows - r0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (rows - r0)) - 1);
            for (int64_t t = t0; t < t1; t += 8) {
                const char *at = (const char *)a + (size_t)t * a_row_bytes;
                float *o = out + t * out_stride + r0;
                switch (t1 - t >= 8 ? 8 : (int)(t1 - t)) {
                case 8: gemm_tile(type, 8, nb, group, at, a_row_bytes, o, out_stride, valid); break;
                case 7: gemm_tile(type, 7, nb, group, at, a_row_bytes, o, out_stride, valid); break;
                case 6: gemm_tile(type, 6, nb, group, at, a_row_bytes, o, out_stride, valid); break;
                case 5: gemm_tile(type, 5, nb, group, at, a_row_bytes, o, out_stride, valid); break;
                case 4: gemm_tile(type, 4, nb, group, at, a_row_bytes, o, out_stride, valid); break;
                case 3: gemm_tile(type, 3, nb, group, at, a_row_bytes, o, out_stride, valid); break;
                case 2: gemm_tile(type, 2, nb, group, at, a_row_bytes, o, out_stride, valid); break;
                default: gemm_tile(type, 1, nb, group, at, a_row_bytes, o, out_stride, valid); break;
                }
            }
        }
    }
}

VNNI static void gemm(int type, int64_t n, const void *packed, int64_t group_begin, int64_t group_end, int64_t rows,
                      const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride) {
    switch (type) {  // one inlined copy per type, its branches folded away
    case SWV_TYPE_Q4_0: gemm_type(SWV_TYPE_Q4_0, n, packed, group_begin, group_end, rows, a, a_row_bytes, tokens, out, out_stride); break;
    case SWV_TYPE_Q4_1: gemm_type(SWV_TYPE_Q4_1, n, packed, group_begin, group_end, rows, a, a_row_bytes, tokens, out, out_stride); break;
    case SWV_TYPE_Q5_0: gemm_type(SWV_TYPE_Q5_0, n, packed, group_begin, group_end, rows, a, a_row_bytes, tokens, out, out_stride); break;
    case SWV_TYPE_Q8_0: gemm_type(SWV_TYPE_Q8_0, n, packed, group_begin, group_end, rows, a, a_row_bytes, tokens, out, out_stride); break;
    default: break;
    }
}

/// 12 independent VPDPBUSD chains (64 multiply-adds each).
VNNI static uint64_t int8_peak(int64_t iterations) {
    __m512i acc[12], u = _mm512_set1_epi8(3), s = _mm512_set1_epi8(-5);
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_epi32(i);
    for (int64_t it = 0; it < iterations; ++it) {
        for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], u, s);
        __asm__ volatile("" : "+v"(u), "+v"(s));
    }
    __m512i total = acc[0];
    for (int i = 1; i < 12; ++i) total = _mm512_add_epi32(total, acc[i]);
    __asm__ volatile("" ::"v"(total));
    return (uint64_t)iterations * 12 * 64;
}

const swv_kernel_table swv_avx512_vnni_table = {.gemm = gemm, .int8_peak = int8_peak};

#else
const swv_kernel_table swv_avx512_vnni_table = {0};
#endif
