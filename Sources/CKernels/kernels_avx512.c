// AVX-512 levels, compiled per function with `target` attributes (the rest of the binary stays baseline
// x86-64); the dispatcher installs them only where CPUID and XCR0 report them.
//
// `swv_avx512_table` (F/BW/DQ/VL) has the tiled attention on 512-bit registers; its other entries fall
// back to AVX2. The VNNI level adds the tiled GEMM over packed weights: one VPDPBUSD multiplies 4 values
// of 16 rows by 4 broadcast activation bytes, so a 16-row group and up to 8 tokens accumulate in registers.
#include <math.h>
#include <string.h>

#include "kernels_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")))
#define AVX512_INLINE static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")))

/// e^x for 16 floats, the same range reduction and polynomial as the AVX2 kernels' exp256; 0 below -88.
AVX512_INLINE __m512 exp512(__m512 x) {
    __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-88.0f), _CMP_GT_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-88.0f)), _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mov_ps(keep, _mm512_mul_ps(p, _mm512_castsi512_ps(e)));
}

/// 16 KV values d...d+15 of a row in `type` (F16 or Q8_0), as floats.
AVX512_INLINE __m512 load_kv16(const uint8_t *row, int type, int64_t d) {
    if (type == SWV_TYPE_Q8_0) {
        const swv_block_q8_0 *b = (const swv_block_q8_0 *)row + d / SWV_QK;
        __m512 values = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + d % SWV_QK))));
        return _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(b->d)), values);
    }
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + d * 2)));
}

/// The sums of 8 vectors' lanes, as one vector of 8.
AVX512_INLINE __m256 reduce8x16(const __m512 s[8]) {
    __m256 h[8];
    for (int i = 0; i < 8; ++i) h[i] = _mm256_add_ps(_mm512_castps512_ps256(s[i]), _mm512_extractf32x8_ps(s[i], 1));
    __m256 s01 = _mm256_hadd_ps(h[0], h[1]), s23 = _mm256_hadd_ps(h[2], h[3]);
    __m256 s45 = _mm256_hadd_ps(h[4], h[5]), s67 = _mm256_hadd_ps(h[6], h[7]);
    __m256 s0123 = _mm256_hadd_ps(s01, s23), s4567 = _mm256_hadd_ps(s45, s67);
    return _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
}


/// The scaled scores of one query vector against `count` keys stored as rows (kf[j * head_dim + d], rows up
/// to a multiple of 8 zero): eight independent chains, one per key, summed across lanes per 8 keys.
AVX512_INLINE void row_scores(const float *qi, int64_t head_dim, const float *kf, int count, float scale,
                              float *scores) {
    for (int j0 = 0; j0 < count; j0 += 8) {
        __m512 partial[8];
        for (int j = 0; j < 8; ++j) partial[j] = _mm512_setzero_ps();
        const float *kj = kf + j0 * head_dim;
        for (int64_t d = 0; d < head_dim; d += 16) {
            __m512 qd = _mm512_load_ps(qi + d);
            for (int j = 0; j < 8; ++j) partial[j] = _mm512_fmadd_ps(qd, _mm512_load_ps(kj + j * head_dim + d), partial[j]);
        }
        _mm256_store_ps(scores + j0, _mm256_mul_ps(reduce8x16(partial), _mm256_set1_ps(scale)));
    }
}

/// acc[v] += sum over keys j in [begin, end) of weights[v][j] * value row j, for `nv` (1...3) vectors that
/// share each value load: 16 * wide values of each row give wide * nv independent chains.
AVX512_INLINE void block_values_chunk(int nv, int wide, const float *const *weights, const float *vf,
                                      int64_t head_dim, int begin, int end, float *const *acc, int64_t d) {
    __m512 a[3][4];
    for (int v = 0; v < nv; ++v) {
        for (int c = 0; c < wide; ++c) a[v][c] = _mm512_load_ps(acc[v] + d + 16 * c);
    }
    for (int j = begin; j < end; ++j) {
        const float *vj = vf + j * head_dim + d;
        __m512 x[4];
        for (int c = 0; c < wide; ++c) x[c] = _mm512_load_ps(vj + 16 * c);
        for (int v = 0; v < nv; ++v) {
            __m512 w = _mm512_set1_ps(weights[v][j]);
            for (int c = 0; c < wide; ++c) a[v][c] = _mm512_fmadd_ps(w, x[c], a[v][c]);
        }
    }
    for (int v = 0; v < nv; ++v) {
        for (int c = 0; c < wide; ++c) _mm512_store_ps(acc[v] + d + 16 * c, a[v][c]);
    }
}

AVX512_INLINE void block_values(int nv, const float *const *weights, const float *vf, int64_t head_dim, int begin,
                                int end, float *const *acc) {
    for (int64_t d = 0; d < head_dim; d += 64 <= head_dim - d ? 64 : 16) {
        if (head_dim - d >= 64) {
            block_values_chunk(nv, 4, weights, vf, head_dim, begin, end, acc, d);
        } else {
            block_values_chunk(nv, 1, weights, vf, head_dim, begin, end, acc, d);
        }
    }
}

/// The AVX2 level's tiled attention (a KV group's rows and heads share each block of 32 keys and values
/// converted once into L1 scratch) on 512-bit registers: head_dim a multiple of 16, up to 256. All
/// vectors' scores first, then each one's softmax update (its exp-sum kept in lanes until the end), then
/// the values, three vectors sharing each value load. Each vector's result is the same bits whichever
/// vectors share its tile.
AVX512 static void attention(const float *q, int64_t q_stride, const swv_kv_pages *kv, float *out, int64_t out_stride,
                             int64_t n_queries, int64_t first_position, int64_t n_heads, int64_t n_kv_heads,
                             int64_t head_dim, int64_t head_begin, int64_t head_end, int64_t window, float scale) {
    if (head_dim % 16 != 0 || head_dim > 256) {
        swv_avx2_table.attention(q, q_stride, kv, out, out_stride, n_queries, first_position, n_heads, n_kv_heads,
                                 head_dim, head_begin, head_end, window, scale);
        return;
    }
    int64_t group = n_heads / n_kv_heads;
    float kf[ATTN_KEYS * 256] __attribute__((aligned(64)));
    float vf[ATTN_KEYS * 256] __attribute__((aligned(64)));
    float qh[ATTN_QUERIES * 256] __attribute__((aligned(64)));
    float acc[ATTN_QUERIES * 256] __attribute__((aligned(64)));
    float scores[ATTN_QUERIES * ATTN_KEYS] __attribute__((aligned(64)));
    // Each vector's running sum of exp(score - max) kept per lane, summed across lanes once at the end.
    float maxes[ATTN_QUERIES], totals[ATTN_QUERIES * 16] __attribute__((aligned(64)));
    int begins[ATTN_QUERIES], ends[ATTN_QUERIES];
    int type = kv->type;
    for (int64_t g = head_begin / group; g * group < head_end; ++g) {
        int64_t h0 = g * group > head_begin ? g * group : head_begin;
        int64_t h1 = (g + 1) * group < head_end ? (g + 1) * group : head_end;
        int64_t heads = h1 - h0;
        int64_t rows_per_tile = ATTN_QUERIES / heads > 0 ? ATTN_QUERIES / heads : 1;
        for (int64_t t0 = 0; t0 < n_queries; t0 += rows_per_tile) {
            int64_t t1 = t0 + rows_per_tile < n_queries ? t0 + rows_per_tile : n_queries;
            int vectors = (int)((t1 - t0) * heads);
            for (int i = 0; i < vectors; ++i) {
                const float *qt = q + (t0 + i / heads) * q_stride + (h0 + i % heads) * head_dim;
                for (int64_t d = 0; d < head_dim; d += 16) {
                    __m256i rounded = _mm512_cvtps_ph(_mm512_loadu_ps(qt + d), _MM_FROUND_TO_NEAREST_INT);
                    _mm512_store_ps(qh + i * head_dim + d, _mm512_cvtph_ps(rounded));
                    _mm512_store_ps(acc + i * head_dim + d, _mm512_setzero_ps());
                }
                maxes[i] = -INFINITY;
                _mm512_store_ps(totals + 16 * i, _mm512_setzero_ps());
            }
            int64_t first_key, last_key, unused;
            swv_kv_visible(kv, first_position + t0, window, &first_key, &unused);
            swv_kv_visible(kv, first_position + t1 - 1, 0, &unused, &last_key);
            // Row offsets of this block of keys and of the next (prefetched while this one converts).
            int64_t offsets[2][ATTN_KEYS];
            int count = swv_kv_block(kv, first_key, last_key, ATTN_KEYS, g, head_dim, offsets[0]);
            for (int64_t k0 = first_key, b = 0; count > 0; k0 += ATTN_KEYS, b ^= 1) {
                int next = swv_kv_block(kv, k0 + ATTN_KEYS, last_key, ATTN_KEYS, g, head_dim, offsets[b ^ 1]);
                for (int j = 0; j < count; ++j) {
                    if (j < next) swv_kv_prefetch(kv, offsets[b ^ 1][j], head_dim);
                    const uint8_t *kp = (const uint8_t *)kv->k + offsets[b][j];
                    const uint8_t *vp = (const uint8_t *)kv->v + offsets[b][j];
                    for (int64_t d = 0; d < head_dim; d += 16) {
                        _mm512_store_ps(kf + j * head_dim + d, load_kv16(kp, type, d));
                        _mm512_store_ps(vf + j * head_dim + d, load_kv16(vp, type, d));
                    }
                }
                for (int j = count; j < ((count + 7) & ~7); ++j) memset(kf + j * head_dim, 0, (size_t)head_dim * sizeof(float));
                for (int i = 0; i < vectors; ++i) {
                    row_scores(qh + i * head_dim, head_dim, kf, count, scale, scores + i * ATTN_KEYS);
                }
                // Each vector's softmax update; its scores become its weights (0 outside its keys).
                for (int i = 0; i < vectors; ++i) {
                    int64_t position = first_position + t0 + i / heads;
                    int64_t lo, hi;
                    swv_kv_visible(kv, position, window, &lo, &hi);
                    int begin = lo > k0 ? (int)(lo - k0) : 0;
                    int end = hi + 1 - k0 < count ? (int)(hi + 1 - k0) : count;
                    if (begin >= end) {
                        begins[i] = ends[i] = 0;
                        continue;
                    }
                    begins[i] = begin;
                    ends[i] = end;
                    float *si = scores + i * ATTN_KEYS;
                    // Lanes [begin, end) of the block are this row's keys; the others weigh nothing.
                    uint32_t lanes = (end >= 32 ? 0xFFFFFFFFu : (1u << end) - 1) & ~((1u << begin) - 1);
                    __mmask16 live0 = (__mmask16)lanes, live1 = (__mmask16)(lanes >> 16);
                    __m512 s0 = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), live0, _mm512_load_ps(si));
                    __m512 s1 = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), live1, _mm512_load_ps(si + 16));
                    float block_max = _mm512_reduce_max_ps(_mm512_max_ps(s0, s1));
                    if (block_max > maxes[i]) {
                        float c = expf(maxes[i] - block_max);
                        __m512 cv = _mm512_set1_ps(c);
                        float *a = acc + i * head_dim;
                        for (int64_t d = 0; d < head_dim; d += 16) _mm512_store_ps(a + d, _mm512_mul_ps(_mm512_load_ps(a + d), cv));
                        _mm512_store_ps(totals + 16 * i, _mm512_mul_ps(_mm512_load_ps(totals + 16 * i), cv));
                        maxes[i] = block_max;
                    }
                    __m512 m = _mm512_set1_ps(maxes[i]);
                    __m512 e0 = _mm512_maskz_mov_ps(live0, exp512(_mm512_sub_ps(s0, m)));
                    __m512 e1 = _mm512_maskz_mov_ps(live1, exp512(_mm512_sub_ps(s1, m)));
                    _mm512_store_ps(si, e0);
                    _mm512_store_ps(si + 16, e1);
                    _mm512_store_ps(totals + 16 * i, _mm512_add_ps(_mm512_load_ps(totals + 16 * i), _mm512_add_ps(e0, e1)));
                }
                // Values, three vectors at a time over the union of their keys (weights 0 outside each
                // one's own); a vector that sees none of this block's keys is left out.
                for (int i = 0; i < vectors; i += 3) {
                    const float *w[3];
                    float *a[3];
                    int nv = 0, begin = ATTN_KEYS, end = 0;
                    for (int v = i; v < i + 3 && v < vectors; ++v) {
                        if (begins[v] >= ends[v]) continue;
                        w[nv] = scores + v * ATTN_KEYS;
                        a[nv++] = acc + v * head_dim;
                        begin = begins[v] < begin ? begins[v] : begin;
                        end = ends[v] > end ? ends[v] : end;
                    }
                    switch (nv) {
                    case 3: block_values(3, w, vf, head_dim, begin, end, a); break;
                    case 2: block_values(2, w, vf, head_dim, begin, end, a); break;
                    case 1: block_values(1, w, vf, head_dim, begin, end, a); break;
                    default: break;
                    }
                }
                count = next;
            }
            for (int i = 0; i < vectors; ++i) {
                float *o = out + (t0 + i / heads) * out_stride + (h0 + i % heads) * head_dim;
                float total = _mm512_reduce_add_ps(_mm512_load_ps(totals + 16 * i));
                __m512 inv = _mm512_set1_ps(total > 0 ? 1.0f / total : 0.0f);
                swv_kv_store_stats(kv, (t0 + i / heads) * n_heads + h0 + i % heads, maxes[i], total);
                for (int64_t d = 0; d < head_dim; d += 16) {
                    _mm512_storeu_ps(o + d, _mm512_mul_ps(_mm512_load_ps(acc + i * head_dim + d), inv));
                }
            }
        }
    }
}

const swv_kernel_table swv_avx512_table = {.attention = attention};

#define VNNI_INLINE static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")))
#define VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")))

/// Four activation bytes (values 4v...4v+3 of a block) broadcast to every 32-bit lane.
VNNI_INLINE __m512i broadcast4(const int8_t *qs) {
    int32_t a4;
    memcpy(&a4, qs, 4);
    return _mm512_set1_epi32(a4);
}

/// Q6_K's high bits of vector `v` (0...3) of a plane, moved to bits 4 and 5 of each byte.
VNNI_INLINE __m512i plane_bits(__m512i plane, int v) {
    __m512i moved = v == 0 ? _mm512_slli_epi16(plane, 4)
        : v == 1           ? _mm512_slli_epi16(plane, 2)
        : v == 2           ? plane
                           : _mm512_srli_epi16(plane, 2);
    return _mm512_and_si512(moved, _mm512_set1_epi8(0x30));
}

/// One 16-row group of Q6_K against `count` (1...8) tokens: each half of a block (values 0-15 from the low
/// nibbles, 16-31 from the high ones, completed from their planes) has its own integer sum and scale.
VNNI_INLINE void gemm_tile_q6_K(int count, int64_t nb, const uint8_t *group, const char *a, size_t a_row_bytes,
                                float *out, int64_t out_stride, __mmask16 valid, int prefetch) {
    const int qbytes = swv_pack_quant_bytes(SWV_TYPE_Q6_K), bytes = qbytes + swv_pack_scale_bytes(SWV_TYPE_Q6_K);
    const int offset = swv_pack_offset(SWV_TYPE_Q6_K);
    const __m512i low = _mm512_set1_epi8(0x0F);
    __m512 acc[8];
    for (int t = 0; t < count; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t *q = group + (size_t)b * (size_t)bytes;
        if (prefetch) swv_prefetch_block(q, bytes);
        const swv_block_q8s *x[8];
        __m512i lsum[8], hsum[8];
        for (int t = 0; t < count; ++t) {
            x[t] = (const swv_block_q8s *)(a + (size_t)t * a_row_bytes) + b;
            lsum[t] = _mm512_set1_epi32(-offset * x[t]->sum_lo);
            hsum[t] = _mm512_set1_epi32(-offset * (x[t]->sum - x[t]->sum_lo));
        }
        __m512i plane_lo = _mm512_loadu_si512((const void *)(q + 256));
        __m512i plane_hi = _mm512_loadu_si512((const void *)(q + 320));
        for (int v = 0; v < 4; ++v) {
            __m512i packed = _mm512_loadu_si512((const void *)(q + 64 * v));
            __m512i lo = _mm512_or_si512(_mm512_and_si512(packed, low), plane_bits(plane_lo, v));
            __m512i hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(packed, 4), low), plane_bits(plane_hi, v));
            for (int t = 0; t < count; ++t) {
                lsum[t] = _mm512_dpbusd_epi32(lsum[t], lo, broadcast4(x[t]->qs + 4 * v));
                hsum[t] = _mm512_dpbusd_epi32(hsum[t], hi, broadcast4(x[t]->qs + 16 + 4 * v));
            }
        }
        __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(q + qbytes)));
        __m512 d_lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + qbytes + 32)))));
        __m512 d_hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + qbytes + 48)))));
        for (int t = 0; t < count; ++t) {
            __m512 xd = _mm512_set1_ps(x[t]->d);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lsum[t]), _mm512_mul_ps(d_lo, xd), acc[t]);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hsum[t]), _mm512_mul_ps(d_hi, xd), acc[t]);
        }
    }
    for (int t = 0; t < count; ++t) _mm512_mask_storeu_ps(out + t * out_stride, valid, acc[t]);
}

/// One 16-row group against `count` (1...8) tokens: per block each weight vector is loaded (and 4-bit
/// quants unpacked) once for all tokens; integer sums exactly as swv_scalar_gemm, then the same FMAs. The
/// first tile over a group (`prefetch`) fetches the blocks ahead; the others find them in cache.
VNNI_INLINE void gemm_tile(int type, int count, int64_t nb, const uint8_t *group, const char *a, size_t a_row_bytes,
                           float *out, int64_t out_stride, __mmask16 valid, int prefetch) {
    if (type == SWV_TYPE_Q6_K) {  // folded away for every other type
        gemm_tile_q6_K(count, nb, group, a, a_row_bytes, out, out_stride, valid, prefetch);
        return;
    }
    const int qbytes = swv_pack_quant_bytes(type), sbytes = swv_pack_scale_bytes(type);
    const int offset = swv_pack_offset(type);
    const __m512i low = _mm512_set1_epi8(0x0F);
    __m512 acc[8];
    for (int t = 0; t < count; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t *q = group + (size_t)b * (size_t)(qbytes + sbytes);
        const uint16_t *s = (const uint16_t *)(q + qbytes);
        if (prefetch) swv_prefetch_block(q, qbytes + sbytes);
        const swv_block_q8s *x[8];
        // With one token, two integer chains (added at the end): one chain of 8 dependent VPDPBUSDs would
        // bound the loop by their latency. With more, the tokens' chains are independent already.
        __m512i isum[8], isum2 = _mm512_setzero_si512();
        for (int t = 0; t < count; ++t) {
            x[t] = (const swv_block_q8s *)(a + (size_t)t * a_row_bytes) + b;
            isum[t] = _mm512_set1_epi32(-offset * x[t]->sum);
        }
        if (qbytes == 256) {
            for (int v = 0; v < 4; ++v) {
                __m512i packed = _mm512_loadu_si512((const void *)(q + 64 * v));
                __m512i lo = _mm512_and_si512(packed, low), hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low);
                for (int t = 0; t < count; ++t) {
                    isum[t] = _mm512_dpbusd_epi32(isum[t], lo, broadcast4(x[t]->qs + 4 * v));
                    if (count == 1) {
                        isum2 = _mm512_dpbusd_epi32(isum2, hi, broadcast4(x[t]->qs + 16 + 4 * v));
                    } else {
                        isum[t] = _mm512_dpbusd_epi32(isum[t], hi, broadcast4(x[t]->qs + 16 + 4 * v));
                    }
                }
            }
        } else {
            for (int v = 0; v < 8; v += 2) {
                __m512i u0 = _mm512_loadu_si512((const void *)(q + 64 * v));
                __m512i u1 = _mm512_loadu_si512((const void *)(q + 64 * v + 64));
                for (int t = 0; t < count; ++t) {
                    isum[t] = _mm512_dpbusd_epi32(isum[t], u0, broadcast4(x[t]->qs + 4 * v));
                    if (count == 1) {
                        isum2 = _mm512_dpbusd_epi32(isum2, u1, broadcast4(x[t]->qs + 4 * v + 4));
                    } else {
                        isum[t] = _mm512_dpbusd_epi32(isum[t], u1, broadcast4(x[t]->qs + 4 * v + 4));
                    }
                }
            }
        }
        if (count == 1) isum[0] = _mm512_add_epi32(isum[0], isum2);
        __m512 d, m = _mm512_setzero_ps();
        if (swv_pack_f32_scales(type)) {
            d = _mm512_loadu_ps((const float *)s);
            m = _mm512_loadu_ps((const float *)s + 16);
        } else {
            d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)s));
            if (type == SWV_TYPE_Q4_1) m = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + 16)));
        }
        for (int t = 0; t < count; ++t) {
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, _mm512_set1_ps(x[t]->d)), acc[t]);
            if (swv_pack_has_min(type)) {
                acc[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(swv_pack_min_factor(type, x[t])), acc[t]);
            }
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
                case 8: gemm_tile(type, 8, nb, group, at, a_row_bytes, o, out_stride, valid, t == t0); break;
                case 7: gemm_tile(type, 7, nb, group, at, a_row_bytes, o, out_stride, valid, t == t0); break;
                case 6: gemm_tile(type, 6, nb, group, at, a_row_bytes, o, out_stride, valid, t == t0); break;
                case 5: gemm_tile(type, 5, nb, group, at, a_row_bytes, o, out_stride, valid, t == t0); break;
                case 4: gemm_tile(type, 4, nb, group, at, a_row_bytes, o, out_stride, valid, t == t0); break;
                case 3: gemm_tile(type, 3, nb, group, at, a_row_bytes, o, out_stride, valid, t == t0); break;
                case 2: gemm_tile(type, 2, nb, group, at, a_row_bytes, o, out_stride, valid, t == t0); break;
                default: gemm_tile(type, 1, nb, group, at, a_row_bytes, o, out_stride, valid, t == t0); break;
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
    case SWV_TYPE_Q4_K: gemm_type(SWV_TYPE_Q4_K, n, packed, group_begin, group_end, rows, a, a_row_bytes, tokens, out, out_stride); break;
    case SWV_TYPE_Q6_K: gemm_type(SWV_TYPE_Q6_K, n, packed, group_begin, group_end, rows, a, a_row_bytes, tokens, out, out_stride); break;
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
const swv_kernel_table swv_avx512_table = {0};
const swv_kernel_table swv_avx512_vnni_table = {0};
#endif
