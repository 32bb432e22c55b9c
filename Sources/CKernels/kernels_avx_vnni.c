// The AVX-VNNI level: AVX2 with the VEX-encoded VPDPBUSD on 256-bit registers (Intel's E-core Xeons and
// client cores have it without AVX-512; AMD's Zen 5 has both). Compiled per function with a `target`
// attribute; the dispatcher installs it only where CPUID and XCR0 report it.
//
// Its table has the tiled GEMM over packed weights and the int8 peak; every other entry runs at AVX2.
// One VPDPBUSD multiplies 4 values of 8 rows (one half of a packed 16-row group) by 4 broadcast
// activation bytes and adds them to 32-bit sums exactly, replacing AVX2's three-instruction
// VPMADDUBSW + VPMADDWD + VPADDD (whose 16-bit pairs also forced Q8_0 into a sign trick).
#include <string.h>

#include "kernels_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX_VNNI __attribute__((target("avx2,fma,f16c,avxvnni")))
#define AVX_VNNI_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c,avxvnni")))

/// Four activation bytes (values 4v...4v+3 of a block) broadcast to every 32-bit lane.
AVX_VNNI_INLINE __m256i broadcast4(const int8_t *qs) {
    int32_t a4;
    memcpy(&a4, qs, 4);
    return _mm256_set1_epi32(a4);
}

/// 8 rows (half `h` of a packed group) against `count` (1...4) tokens: per block each weight vector is
/// loaded (and 4-bit quants unpacked) once for all tokens; integer sums exactly as swv_scalar_gemm, then
/// the same FMAs. Sixteen YMM registers only (VEX): 4 accumulators, 4 integer sums, the weights.
AVX_VNNI_INLINE void gemm_tile(int type, int count, int64_t nb, const uint8_t *group, int h, const char *a,
                               size_t a_row_bytes, float *out, int64_t out_stride, int64_t valid, int prefetch) {
    const int qbytes = swv_pack_quant_bytes(type), sbytes = swv_pack_scale_bytes(type);
    const int offset = swv_pack_offset(type);
    const __m256i low = _mm256_set1_epi8(0x0F);
    __m256 acc[4];
    for (int t = 0; t < count; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t *block = group + (size_t)b * (size_t)(qbytes + sbytes);
        const uint8_t *q = block + 32 * h;
        const uint16_t *s = (const uint16_t *)(block + qbytes);
        if (prefetch) swv_prefetch_block(block, qbytes + sbytes);
        const swv_block_q8s *x[4];
        // With one token, two integer chains (added at the end): one chain of 8 dependent VPDPBUSDs would
        // bound the loop by their latency. With more, the tokens' chains are independent already.
        __m256i isum[4], isum2 = _mm256_setzero_si256();
        for (int t = 0; t < count; ++t) {
            x[t] = (const swv_block_q8s *)(a + (size_t)t * a_row_bytes) + b;
            isum[t] = _mm256_set1_epi32(-offset * x[t]->sum);
        }
        if (type == SWV_TYPE_Q6_K) {  // the two halves summed apart, each with its own scale
            __m256i hsum[4];
            swv_q6_K_start8(count, x, isum, hsum);
            for (int v = 0; v < 4; ++v) {
                __m256i lo, hi;
                swv_q6_K_unpack8(block, h, v, &lo, &hi);
                for (int t = 0; t < count; ++t) {
                    isum[t] = _mm256_dpbusd_avx_epi32(isum[t], lo, broadcast4(x[t]->qs + 4 * v));
                    hsum[t] = _mm256_dpbusd_avx_epi32(hsum[t], hi, broadcast4(x[t]->qs + 16 + 4 * v));
                }
            }
            swv_q6_K_accumulate8(count, block, h, isum, hsum, x, acc);
            continue;
        }
        if (qbytes == 256) {
            for (int v = 0; v < 4; ++v) {
                __m256i packed = _mm256_loadu_si256((const __m256i *)(q + 64 * v));
                __m256i lo = _mm256_and_si256(packed, low), hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
                for (int t = 0; t < count; ++t) {
                    isum[t] = _mm256_dpbusd_avx_epi32(isum[t], lo, broadcast4(x[t]->qs + 4 * v));
                    if (count == 1) {
                        isum2 = _mm256_dpbusd_avx_epi32(isum2, hi, broadcast4(x[t]->qs + 16 + 4 * v));
                    } else {
                        isum[t] = _mm256_dpbusd_avx_epi32(isum[t], hi, broadcast4(x[t]->qs + 16 + 4 * v));
                    }
                }
            }
        } else {
            for (int v = 0; v < 8; v += 2) {
                __m256i u0 = _mm256_loadu_si256((const __m256i *)(q + 64 * v));
                __m256i u1 = _mm256_loadu_si256((const __m256i *)(q + 64 * v + 64));
                for (int t = 0; t < count; ++t) {
                    isum[t] = _mm256_dpbusd_avx_epi32(isum[t], u0, broadcast4(x[t]->qs + 4 * v));
                    if (count == 1) {
                        isum2 = _mm256_dpbusd_avx_epi32(isum2, u1, broadcast4(x[t]->qs + 4 * v + 4));
                    } else {
                        isum[t] = _mm256_dpbusd_avx_epi32(isum[t], u1, broadcast4(x[t]->qs + 4 * v + 4));
                    }
                }
            }
        }
        if (count == 1) isum[0] = _mm256_add_epi32(isum[0], isum2);
        swv_tile8_accumulate(type, count, s, h, isum, x, acc);
    }
    for (int t = 0; t < count; ++t) {
        if (valid >= 8) {
            _mm256_storeu_ps(out + t * out_stride, acc[t]);
        } else {
            float lanes[8];
            _mm256_storeu_ps(lanes, acc[t]);
            for (int64_t i = 0; i < valid; ++i) out[t * out_stride + i] = lanes[i];
        }
    }
}

/// Tokens in chunks whose activations stay in L2 while every group of the range passes over them; per
/// group and half, tiles of 4 tokens, the rest as one smaller tile.
AVX_VNNI_INLINE void gemm_type(int type, int64_t n, const void *packed, int64_t group_begin, int64_t group_end,
                               int64_t rows, const void *a, size_t a_row_bytes, int64_t tokens, float *out,
                               int64_t out_stride) {
    const int64_t nb = n / SWV_QK, chunk = 64;
    const size_t group_bytes = swv_packed_group_bytes(type, n);
    for (int64_t t0 = 0; t0 < tokens; t0 += chunk) {
        int64_t t1 = t0 + chunk < tokens ? t0 + chunk : tokens;
        for (int64_t g = group_begin; g < group_end; ++g) {
            const uint8_t *group = (const uint8_t *)packed + (size_t)g * group_bytes;
            for (int h = 0; h < 2; ++h) {
                int64_t r0 = g * SWV_PACK_ROWS + 8 * h;
                if (r0 >= rows) break;
                for (int64_t t = t0; t < t1; t += 4) {
                    const char *at = (const char *)a + (size_t)t * a_row_bytes;
                    float *o = out + t * out_stride + r0;
                    switch (t1 - t >= 4 ? 4 : (int)(t1 - t)) {
                    case 4: gemm_tile(type, 4, nb, group, h, at, a_row_bytes, o, out_stride, rows - r0, h == 0 && t == t0); break;
                    case 3: gemm_tile(type, 3, nb, group, h, at, a_row_bytes, o, out_stride, rows - r0, h == 0 && t == t0); break;
                    case 2: gemm_tile(type, 2, nb, group, h, at, a_row_bytes, o, out_stride, rows - r0, h == 0 && t == t0); break;
                    default: gemm_tile(type, 1, nb, group, h, at, a_row_bytes, o, out_stride, rows - r0, h == 0 && t == t0); break;
                    }
                }
            }
        }
    }
}

AVX_VNNI static void gemm(int type, int64_t n, const void *packed, int64_t group_begin, int64_t group_end,
                          int64_t rows, const void *a, size_t a_row_bytes, int64_t tokens, float *out,
                          int64_t out_stride) {
    switch (type) {  // one inlined copy per type, its branches folded away
    case SWV_TYPE_Q4_0: gemm_type(SWV_TYPE_Q4_0, n, packed, group_begin, group_end, rows, a, a_row_bytes, tokens, out, out_stride); break;
    case SWV_TYPE_Q4_1: gemm_type(SWV_TYPE_Q4_1, n, packed, group_begin, group_end, rows, a, a_row_bytes, tokens, out, out_stride); break;
    case SWV_TYPE_Q5_0: gemm_type(SWV_TYPE_Q5_0, n, packed, group_begin, group_end, rows, a, a_row_bytes, tokens, out, out_stride); break;
    case SWV_TYPE_Q8_0: gemm_type(SWV_TYPE_Q8_0, n, packed, group_begin, group_end, rows, a, a_row_bytes, tokens, out, out_stride); break;
    case SWV_TYPE_Q4_K: gemm_type(SWV_TYPE_Q4_K, n, packed, group_begin, group_end, rows, a, a_row_bytes, tokens, out, out_stride); break;
    case SWV_TYPE_Q6_K: gemm_type(SWV_TYPE_Q6_K, n, packed, group_begin, group_end, rows, a, a_row_bytes, tokens, out, out_stride); break;
    default: break;
    }
}

/// 12 independent VPDPBUSD chains on 256-bit registers (32 multiply-adds each).
AVX_VNNI static uint64_t int8_peak(int64_t iterations) {
    __m256i acc[12], u = _mm256_set1_epi8(3), s = _mm256_set1_epi8(-5);
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_epi32(i);
    for (int64_t it = 0; it < iterations; ++it) {
        for (int i = 0; i < 12; ++i) acc[i] = _mm256_dpbusd_avx_epi32(acc[i], u, s);
        __asm__ volatile("" : "+x"(u), "+x"(s));
    }
    __m256i total = acc[0];
    for (int i = 1; i < 12; ++i) total = _mm256_add_epi32(total, acc[i]);
    __asm__ volatile("" ::"x"(total));
    return (uint64_t)iterations * 12 * 32;
}

const swv_kernel_table swv_avx_vnni_table = {.gemm = gemm, .int8_peak = int8_peak};

#else
const swv_kernel_table swv_avx_vnni_table = {0};
#endif
