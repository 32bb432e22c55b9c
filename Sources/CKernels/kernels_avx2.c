// AVX2 + FMA + F16C kernels, compiled per function with `target` attributes so the rest of the binary stays
// baseline x86-64; the dispatcher only installs them when the CPU reports all three.
#include <math.h>
#include <string.h>

#include "kernels_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define ROUND_NEAREST (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

AVX2_INLINE float hsum(__m256 x) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

AVX2_INLINE float hmax(__m256 x) {
    __m128 r = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    r = _mm_max_ps(r, _mm_movehl_ps(r, r));
    r = _mm_max_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

AVX2_INLINE float half(uint16_t h) { return _cvtsh_ss(h); }

/// e^x for 8 floats (Cephes-style range reduction and degree-6 polynomial, ~1 ulp); 0 below -88.
AVX2_INLINE __m256 exp256(__m256 x) {
    __m256 keep = _mm256_cmp_ps(x, _mm256_set1_ps(-88.0f), _CMP_GT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.0f)), _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), keep);
}

// MARK: - Activation quantization

/// One block of 32 values to 8-bit quants (round half to even, as the scalar reference): stores the quants,
/// returns d = max|x| / 127 and the quants' sum.
AVX2_INLINE float quantize_block(const float *v, int8_t *qs, int *sum) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8);
    __m256 v2 = _mm256_loadu_ps(v + 16), v3 = _mm256_loadu_ps(v + 24);
    __m256 amax = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    float max = hmax(amax);
    __m256 id = _mm256_set1_ps(max != 0 ? 127 / max : 0);
    __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, id), ROUND_NEAREST));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, id), ROUND_NEAREST));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, id), ROUND_NEAREST));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, id), ROUND_NEAREST));
    __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    _mm256_storeu_si256((__m256i *)qs, _mm256_permutevar8x32_epi32(packed, order));
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_hadd_epi32(s4, s4);
    s4 = _mm_hadd_epi32(s4, s4);
    *sum = _mm_cvtsi128_si32(s4);
    return max / 127;
}

/// Q8_0, Q8_1 (with s = d * sum) and Q8_S (see swv_scalar_quantize_q8s) rows.
AVX2 static void quantize_block32_row(int type, const float *x, void *y, int64_t n) {
    for (int64_t b = 0; b < n / SWV_QK; ++b) {
        int sum;
        if (type == SWV_TYPE_Q8_1) {
            swv_block_q8_1 *block = (swv_block_q8_1 *)y + b;
            float d = quantize_block(x + b * SWV_QK, block->qs, &sum);
            block->d = _cvtss_sh(d, 0);
            block->s = _cvtss_sh((float)sum * d, 0);
        } else if (type == SWV_TYPE_Q8_S) {
            swv_block_q8s *block = (swv_block_q8s *)y + b;
            float d = quantize_block(x + b * SWV_QK, block->qs, &sum);
            block->d = _cvtsh_ss(_cvtss_sh(d, 0));
            block->sum = sum;
            int sum_lo = 0;
            for (int j = 0; j < 16; ++j) sum_lo += block->qs[j];
            block->sum_lo = sum_lo;
            block->s = _cvtsh_ss(_cvtss_sh(d * (float)sum, 0));
        } else {
            swv_block_q8_0 *block = (swv_block_q8_0 *)y + b;
            block->d = _cvtss_sh(quantize_block(x + b * SWV_QK, block->qs, &sum), 0);
        }
    }
}

AVX2 static void quantize_row(int type, const float *x, void *y, int64_t n) {
    switch (type) {
    case SWV_TYPE_Q8_0:
    case SWV_TYPE_Q8_1:
    case SWV_TYPE_Q8_S: quantize_block32_row(type, x, y, n); break;
    default: swv_scalar_quantize_row(type, x, y, n); break;
    }
}

// MARK: - Block-32 weights: unpacking and products

/// 16 bytes of nibbles -> 32 bytes: low nibbles (values 0..15) then high nibbles (values 16..31).
AVX2_INLINE __m256i unpack_nibbles(const uint8_t *qs) {
    __m128i x = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(x, 4), x), _mm256_set1_epi8(0x0F));
}

/// Byte i is 0xFF where bit i of `bits` is set.
AVX2_INLINE __m256i bits_to_bytes(uint32_t bits) {
    const __m256i shuffle = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2,
                                             3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i mask = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuffle);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, mask), mask);
}

/// Sums of 4 adjacent products of unsigned bytes `u` and signed bytes `s`, as 8 floats.
AVX2_INLINE __m256 dot_us(__m256i u, __m256i s) {
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}

/// The same for signed weights `w` (|w| <= 127 or -128 against |a| <= 127): |w| times a with w's sign.
AVX2_INLINE __m256 dot_ss(__m256i w_abs, __m256i w, __m256i a) { return dot_us(w_abs, _mm256_sign_epi8(a, w)); }

/// Bytes of one block of a Q4_0, Q4_1, Q5_0 or Q8_0 row.
AVX2_INLINE size_t block32_bytes(int type) {
    switch (type) {
    case SWV_TYPE_Q4_0: return sizeof(swv_block_q4_0);
    case SWV_TYPE_Q4_1: return sizeof(swv_block_q4_1);
    case SWV_TYPE_Q5_0: return sizeof(swv_block_q5_0);
    default: return sizeof(swv_block_q8_0);
    }
}

/// Block `b` of a Q4_0, Q4_1, Q5_0 or Q8_0 row: its 32 weights as bytes (unsigned for Q4_1, signed for the
/// others) and its f16 scales converted together: (d, m) for Q4_1, (d, 0) for the others.
AVX2_INLINE __m256i block32(int type, const char *row, int64_t b, __m128 *scales) {
    const char *block = row + (size_t)b * block32_bytes(type);
    int bits = 0;
    memcpy(&bits, block, type == SWV_TYPE_Q4_1 ? 4 : 2);
    *scales = _mm_cvtph_ps(_mm_cvtsi32_si128(bits));
    switch (type) {
    case SWV_TYPE_Q4_0: return _mm256_sub_epi8(unpack_nibbles((const uint8_t *)block + 2), _mm256_set1_epi8(8));
    case SWV_TYPE_Q4_1: return unpack_nibbles((const uint8_t *)block + 4);
    case SWV_TYPE_Q5_0: {
        uint32_t qh;
        memcpy(&qh, block + 2, 4);
        __m256i high = _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10));
        return _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles((const uint8_t *)block + 6), high), _mm256_set1_epi8(16));
    }
    default: return _mm256_loadu_si256((const __m256i *)(block + 2));
    }
}

/// The unsigned operand `maddubs` needs: Q4_1's weights as they are, the others' magnitudes.
AVX2_INLINE __m256i magnitudes(int type, __m256i w) { return type == SWV_TYPE_Q4_1 ? w : _mm256_sign_epi8(w, w); }

/// 8 partial sums of one block's weights times activations (`w_unsigned` from `magnitudes`).
AVX2_INLINE __m256 block32_dot(int type, __m256i w_unsigned, __m256i w, __m256i y) {
    return type == SWV_TYPE_Q4_1 ? dot_us(w, y) : dot_ss(w_unsigned, w, y);
}

/// Block `b` of the activation row Q4_1 pairs with (Q8_1) or the others do (Q8_0): its 32 quants, and its
/// scales converted together: (d, s) for Q8_1, (d, 0) for Q8_0.
AVX2_INLINE __m256i activation_block(int type, const char *a, int64_t b, __m128 *scales) {
    int q8_1 = type == SWV_TYPE_Q4_1;
    const char *block = a + (size_t)b * (q8_1 ? sizeof(swv_block_q8_1) : sizeof(swv_block_q8_0));
    int bits = 0;
    memcpy(&bits, block, q8_1 ? 4 : 2);
    *scales = _mm_cvtph_ps(_mm_cvtsi32_si128(bits));
    return _mm256_loadu_si256((const __m256i *)(block + (q8_1 ? 4 : 2)));
}

/// Weight scales times activation scales in one product: lane 0 scales the block's integer dot, lane 1 is
/// Q4_1's m * s term (0 for the other types); `mins` accumulates lane 1.
AVX2_INLINE __m256 scaled_block(__m256 p, __m128 scales, __m256 acc, __m128 *mins) {
    *mins = _mm_add_ps(*mins, scales);
    return _mm256_fmadd_ps(p, _mm256_broadcastss_ps(scales), acc);
}

AVX2_INLINE float finish_dot(__m256 acc, __m128 mins) {
    return hsum(acc) + _mm_cvtss_f32(_mm_shuffle_ps(mins, mins, 1));
}

/// Dots of one Q4_0/Q4_1/Q5_0/Q8_0 row with `count` (1...4) activation rows: each weight block is unpacked
/// and its scales converted once for all of them. `count` is a constant at every call site, so the
/// accumulators stay in registers.
AVX2_INLINE void dot_rows(int type, int64_t n, const char *row, const char *a, size_t a_row_bytes, int count,
                          float *out) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m128 mins[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    for (int64_t b = 0; b < n / SWV_QK; ++b) {
        __m128 ws;
        __m256i w = block32(type, row, b, &ws);
        __m256i wu = magnitudes(type, w);
        for (int t = 0; t < count; ++t) {
            __m128 as;
            __m256i y = activation_block(type, a + (size_t)t * a_row_bytes, b, &as);
            acc[t] = scaled_block(block32_dot(type, wu, w, y), _mm_mul_ps(ws, as), acc[t], &mins[t]);
        }
    }
    for (int t = 0; t < count; ++t) out[t] = finish_dot(acc[t], mins[t]);
}

/// One activation row against 4 weight rows (r...r+3): each activation block is loaded and its scales
/// converted once, the four rows' accumulators are independent, and the next 4 rows are prefetched (this
/// doubled Q8_0 throughput on one core).
AVX2_INLINE void gemv4(int type, int64_t n, const char *w, size_t w_row_bytes, const char *a, float *out) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m128 mins[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    for (int64_t b = 0; b < n / SWV_QK; ++b) {
        __m128 as;
        __m256i y = activation_block(type, a, b, &as);
        for (int i = 0; i < 4; ++i) {
            const char *row = w + (size_t)i * w_row_bytes;
            // The next 4 rows' matching bytes, a few hundred cycles ahead (prefetches never fault).
            _mm_prefetch(row + 4 * w_row_bytes + (size_t)b * block32_bytes(type), _MM_HINT_T0);
            __m128 ws;
            __m256i q = block32(type, row, b, &ws);
            acc[i] = scaled_block(block32_dot(type, magnitudes(type, q), q, y), _mm_mul_ps(ws, as), acc[i], &mins[i]);
        }
    }
    for (int i = 0; i < 4; ++i) out[i] = finish_dot(acc[i], mins[i]);
}

// MARK: - K-quants

AVX2_INLINE float dot_q4_K(int64_t n, const swv_block_q4_K *w, const swv_block_q8_K *a) {
    const __m256i low = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float mins_total = 0;
    for (int64_t b = 0; b < n / SWV_QK_K; ++b) {
        uint8_t scales[8], mins[8];
        swv_q4_K_scales(w[b].scales, scales, mins);
        int summ = 0;
        for (int j = 0; j < 16; ++j) summ += a[b].bsums[j] * mins[j / 2];
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * j));
            __m256i y0 = _mm256_loadu_si256((const __m256i *)(a[b].qs + 64 * j));
            __m256i y1 = _mm256_loadu_si256((const __m256i *)(a[b].qs + 64 * j + 32));
            __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(q, low), y0);
            __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), low), y1);
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p0, _mm256_set1_epi16(scales[2 * j])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p1, _mm256_set1_epi16(scales[2 * j + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(half(w[b].d) * a[b].d), acc);
        mins_total += half(w[b].dmin) * a[b].d * (float)summ;
    }
    return hsum(acc) - mins_total;
}

AVX2_INLINE float dot_q6_K(int64_t n, const swv_block_q6_K *w, const swv_block_q8_K *a) {
    const __m256i low = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(3), m32 = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / SWV_QK_K; ++b) {
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const uint8_t *ql = w[b].ql + 64 * h;
            const int8_t *sc = w[b].scales + 8 * h;
            const int8_t *y = a[b].qs + 128 * h;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(w[b].qh + 32 * h));
            __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_slli_epi16(_mm256_and_si256(qh, two), 4)),
                _mm256_or_si256(_mm256_and_si256(l1, low),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two), 4)),
            };
            for (int k = 0; k < 4; ++k) {
                __m256i yk = _mm256_loadu_si256((const __m256i *)(y + 32 * k));
                __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], yk), _mm256_maddubs_epi16(m32, yk));
                __m256i scale = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(half(w[b].d) * a[b].d), acc);
    }
    return hsum(acc);
}

// MARK: - Float weights

/// 8 values of a float weight row (F32, F16, BF16) from value `k`, widened to f32 exactly.
AVX2_INLINE __m256 float_weights8(int type, const char *row, int64_t k) {
    if (type == SWV_TYPE_F32) return _mm256_loadu_ps((const float *)row + k);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)row + k));
    if (type == SWV_TYPE_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/// `R` (1...4) float weight rows against `T` (1...3) f32 activation rows: each weight vector is widened once
/// for the T tokens, the R × T sums stay in registers, 8 lanes each, reduced at the end.
AVX2_INLINE void float_tile(int type, int R, int T, int64_t n, const char *w, size_t w_row_bytes, const char *a,
                            size_t a_row_bytes, float *out, int64_t out_stride) {
    __m256 acc[4][3];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 wv[4];
        for (int r = 0; r < R; ++r) {
            const char *row = w + (size_t)r * w_row_bytes;
            // One token (decode) streams the weights: the next 4 rows' matching bytes, ahead of their use.
            if (T == 1 && (k & 31) == 0) _mm_prefetch(row + 4 * w_row_bytes + k * (type == SWV_TYPE_F32 ? 4 : 2), _MM_HINT_T0);
            if (T == 1 && type == SWV_TYPE_F32 && (k & 31) == 16) _mm_prefetch(row + 4 * w_row_bytes + k * 4, _MM_HINT_T0);
            wv[r] = float_weights8(type, row, k);
        }
        for (int t = 0; t < T; ++t) {
            __m256 x = _mm256_loadu_ps((const float *)(a + (size_t)t * a_row_bytes) + k);
            for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], x, acc[r][t]);
        }
    }
    for (int r = 0; r < R; ++r) {
        for (int t = 0; t < T; ++t) {
            const float *x = (const float *)(a + (size_t)t * a_row_bytes);
            float sum = hsum(acc[r][t]);
            for (int64_t i = k; i < n; ++i) sum += swv_float_weight(type, w + (size_t)r * w_row_bytes, i) * x[i];
            out[t * out_stride + r] = sum;
        }
    }
}

/// Rows [row_begin, row_end) of a float weight against every token: token chunks keep their activations in
/// L2 while the rows pass over them 4 at a time, 3 tokens per tile.
AVX2_INLINE void float_matmul(int type, int64_t n, const char *w, size_t w_row_bytes, int64_t row_begin,
                              int64_t row_end, const char *a, size_t a_row_bytes, int64_t tokens, float *out,
                              int64_t out_stride) {
    const int64_t chunk = 24;
    for (int64_t t0 = 0; t0 < tokens; t0 += chunk) {
        int64_t t1 = t0 + chunk < tokens ? t0 + chunk : tokens;
        for (int64_t r = row_begin; r < row_end;) {
            const char *rows = w + (size_t)r * w_row_bytes;
            int wide = r + 4 <= row_end;
            for (int64_t t = t0; t < t1;) {
                const char *x = a + (size_t)t * a_row_bytes;
                float *o = out + t * out_stride + r;
                int64_t left = t1 - t;
                if (wide && left >= 3) float_tile(type, 4, 3, n, rows, w_row_bytes, x, a_row_bytes, o, out_stride);
                else if (wide && left == 2) float_tile(type, 4, 2, n, rows, w_row_bytes, x, a_row_bytes, o, out_stride);
                else if (wide) float_tile(type, 4, 1, n, rows, w_row_bytes, x, a_row_bytes, o, out_stride);
                else if (left >= 3) float_tile(type, 1, 3, n, rows, w_row_bytes, x, a_row_bytes, o, out_stride);
                else if (left == 2) float_tile(type, 1, 2, n, rows, w_row_bytes, x, a_row_bytes, o, out_stride);
                else float_tile(type, 1, 1, n, rows, w_row_bytes, x, a_row_bytes, o, out_stride);
                t += left >= 3 ? 3 : left;
            }
            r += wide ? 4 : 1;
        }
    }
}

AVX2 static void float_matmul_f32(int64_t n, const char *w, size_t wb, int64_t r0, int64_t r1, const char *a,
                                  size_t ab, int64_t tokens, float *out, int64_t os) {
    float_matmul(SWV_TYPE_F32, n, w, wb, r0, r1, a, ab, tokens, out, os);
}
AVX2 static void float_matmul_f16(int64_t n, const char *w, size_t wb, int64_t r0, int64_t r1, const char *a,
                                  size_t ab, int64_t tokens, float *out, int64_t os) {
    float_matmul(SWV_TYPE_F16, n, w, wb, r0, r1, a, ab, tokens, out, os);
}
AVX2 static void float_matmul_bf16(int64_t n, const char *w, size_t wb, int64_t r0, int64_t r1, const char *a,
                                   size_t ab, int64_t tokens, float *out, int64_t os) {
    float_matmul(SWV_TYPE_BF16, n, w, wb, r0, r1, a, ab, tokens, out, os);
}

/// A float weight type's product, one copy per type so each has its conversion inlined; 0 if not a float type.
AVX2_INLINE int float_product(int type, int64_t n, const void *w, size_t w_row_bytes, int64_t row_begin,
                              int64_t row_end, const void *a, size_t a_row_bytes, int64_t tokens, float *out,
                              int64_t out_stride) {
    switch (type) {
    case SWV_TYPE_F32: float_matmul_f32(n, w, w_row_bytes, row_begin, row_end, a, a_row_bytes, tokens, out, out_stride); return 1;
    case SWV_TYPE_F16: float_matmul_f16(n, w, w_row_bytes, row_begin, row_end, a, a_row_bytes, tokens, out, out_stride); return 1;
    case SWV_TYPE_BF16: float_matmul_bf16(n, w, w_row_bytes, row_begin, row_end, a, a_row_bytes, tokens, out, out_stride); return 1;
    default: return 0;
    }
}

AVX2 static float vec_dot(int type, int64_t n, const void *w, const void *a) {
    float out;
    if (float_product(type, n, w, 0, 0, 1, a, 0, 1, &out, 1)) return out;
    switch (type) {
    case SWV_TYPE_Q4_0: dot_rows(SWV_TYPE_Q4_0, n, w, a, 0, 1, &out); return out;
    case SWV_TYPE_Q4_1: dot_rows(SWV_TYPE_Q4_1, n, w, a, 0, 1, &out); return out;
    case SWV_TYPE_Q5_0: dot_rows(SWV_TYPE_Q5_0, n, w, a, 0, 1, &out); return out;
    case SWV_TYPE_Q8_0: dot_rows(SWV_TYPE_Q8_0, n, w, a, 0, 1, &out); return out;
    case SWV_TYPE_Q4_K: return dot_q4_K(n, w, a);
    case SWV_TYPE_Q6_K: return dot_q6_K(n, w, a);
    default: return NAN;
    }
}

/// Dots of one weight row with `count` (1 or 4) activation rows, for any weight type.
AVX2_INLINE void dots(int type, int64_t n, const char *row, const char *a, size_t a_row_bytes, int count, float *out) {
    switch (type) {  // constant types and counts, so each inlined copy has its branches folded away
    case SWV_TYPE_Q4_0: count == 4 ? dot_rows(SWV_TYPE_Q4_0, n, row, a, a_row_bytes, 4, out) : dot_rows(SWV_TYPE_Q4_0, n, row, a, a_row_bytes, 1, out); break;
    case SWV_TYPE_Q4_1: count == 4 ? dot_rows(SWV_TYPE_Q4_1, n, row, a, a_row_bytes, 4, out) : dot_rows(SWV_TYPE_Q4_1, n, row, a, a_row_bytes, 1, out); break;
    case SWV_TYPE_Q5_0: count == 4 ? dot_rows(SWV_TYPE_Q5_0, n, row, a, a_row_bytes, 4, out) : dot_rows(SWV_TYPE_Q5_0, n, row, a, a_row_bytes, 1, out); break;
    case SWV_TYPE_Q8_0: count == 4 ? dot_rows(SWV_TYPE_Q8_0, n, row, a, a_row_bytes, 4, out) : dot_rows(SWV_TYPE_Q8_0, n, row, a, a_row_bytes, 1, out); break;
    default:
        for (int i = 0; i < count; ++i) out[i] = vec_dot(type, n, row, a + (size_t)i * a_row_bytes);
    }
}

/// One token (decode): 4 weight rows at a time against the activation row. Several tokens (prefill): token
/// chunks keep their activations in L1/L2 while every row of the range passes over them, and each weight
/// block is unpacked once for 4 tokens.
AVX2 static void matmul(int type, int64_t n, const void *w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
                        const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride) {
    if (float_product(type, n, w, w_row_bytes, row_begin, row_end, a, a_row_bytes, tokens, out, out_stride)) return;
    int block32_type = type == SWV_TYPE_Q4_0 || type == SWV_TYPE_Q4_1 || type == SWV_TYPE_Q5_0 || type == SWV_TYPE_Q8_0;
    if (tokens == 1 && block32_type) {
        int64_t r = row_begin;
        for (; r + 4 <= row_end; r += 4) {
            const char *rows = (const char *)w + (size_t)r * w_row_bytes;
            switch (type) {
            case SWV_TYPE_Q4_0: gemv4(SWV_TYPE_Q4_0, n, rows, w_row_bytes, a, out + r); break;
            case SWV_TYPE_Q4_1: gemv4(SWV_TYPE_Q4_1, n, rows, w_row_bytes, a, out + r); break;
            case SWV_TYPE_Q5_0: gemv4(SWV_TYPE_Q5_0, n, rows, w_row_bytes, a, out + r); break;
            default: gemv4(SWV_TYPE_Q8_0, n, rows, w_row_bytes, a, out + r); break;
            }
        }
        for (; r < row_end; ++r) out[r] = vec_dot(type, n, (const char *)w + (size_t)r * w_row_bytes, a);
        return;
    }
    const int64_t chunk = 32;
    for (int64_t t0 = 0; t0 < tokens; t0 += chunk) {
        int64_t t1 = t0 + chunk < tokens ? t0 + chunk : tokens;
        for (int64_t r = row_begin; r < row_end; ++r) {
            const char *row = (const char *)w + (size_t)r * w_row_bytes;
            for (int64_t t = t0; t < t1;) {
                int count = t + 4 <= t1 ? 4 : 1;
                float results[4];
                dots(type, n, row, (const char *)a + (size_t)t * a_row_bytes, a_row_bytes, count, results);
                for (int i = 0; i < count; ++i) out[(t + i) * out_stride + r] = results[i];
                t += count;
            }
        }
    }
}


// MARK: - Tiled GEMM over packed weights

/// 8 rows (half `h` of a packed group) against `count` (1...4) tokens: per block, each weight vector is
/// loaded once for all tokens; integer sums per block as in swv_scalar_gemm, then the same two FMAs.
AVX2_INLINE void gemm_tile(int type, int count, int64_t nb, const uint8_t *group, int h, const char *a,
                           size_t a_row_bytes, float *out, int64_t out_stride, int64_t valid, int prefetch) {
    const int qbytes = swv_pack_quant_bytes(type), sbytes = swv_pack_scale_bytes(type);
    const int offset = type == SWV_TYPE_Q8_0 ? 0 : swv_pack_offset(type);  // Q8_0 runs signed, below
    const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1), bias = _mm256_set1_epi8((char)0x80);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t *block = group + (size_t)b * (size_t)(qbytes + sbytes);
        const uint8_t *q = block + 32 * h;
        const uint16_t *s = (const uint16_t *)(block + qbytes);
        if (prefetch) swv_prefetch_block(block, qbytes + sbytes);
        const swv_block_q8s *x[4];
        __m256i isum[4];
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
                    // Quants 0...63 times bytes: maddubs' 16-bit pairs stay within 2 * 63 * 128.
                    int32_t a_lo, a_hi;
                    memcpy(&a_lo, x[t]->qs + 4 * v, 4);
                    memcpy(&a_hi, x[t]->qs + 16 + 4 * v, 4);
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(lo, _mm256_set1_epi32(a_lo)), ones));
                    hsum[t] = _mm256_add_epi32(hsum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(hi, _mm256_set1_epi32(a_hi)), ones));
                }
            }
            swv_q6_K_accumulate8(count, block, h, isum, hsum, x, acc);
            continue;
        }
        if (qbytes == 256) {
            // 4-bit quants (0...15) times bytes (-127...127, as swv_quantize_row makes them): each 16-bit lane
            // sums 16 products of the block, at most 16 * 15 * 127 = 30480, so the block's products stay in
            // 16 bits and one VPMADDWD per token and block widens them (not one per 4 values).
            __m256i p[4];
            for (int v = 0; v < 4; ++v) {
                __m256i packed = _mm256_loadu_si256((const __m256i *)(q + 64 * v));
                __m256i lo = _mm256_and_si256(packed, low), hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
                for (int t = 0; t < count; ++t) {
                    int32_t a_lo, a_hi;
                    memcpy(&a_lo, x[t]->qs + 4 * v, 4);
                    memcpy(&a_hi, x[t]->qs + 16 + 4 * v, 4);
                    __m256i pair = _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_set1_epi32(a_lo)),
                                                    _mm256_maddubs_epi16(hi, _mm256_set1_epi32(a_hi)));
                    p[t] = v == 0 ? pair : _mm256_add_epi16(p[t], pair);
                }
            }
            for (int t = 0; t < count; ++t) isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p[t], ones));
        } else {
            for (int v = 0; v < 8; ++v) {
                __m256i u = _mm256_loadu_si256((const __m256i *)(q + 64 * v));
                // Q5_0's quants (0...31) multiply as they are; Q8_0's (u = w + 128) would overflow maddubs'
                // 16-bit pairs, so they run as |w| times a with w's sign (exactly w * a).
                __m256i w = type == SWV_TYPE_Q8_0 ? _mm256_xor_si256(u, bias) : u;
                __m256i wu = type == SWV_TYPE_Q8_0 ? _mm256_sign_epi8(w, w) : u;
                for (int t = 0; t < count; ++t) {
                    int32_t a4;
                    memcpy(&a4, x[t]->qs + 4 * v, 4);
                    __m256i y = _mm256_set1_epi32(a4);
                    if (type == SWV_TYPE_Q8_0) y = _mm256_sign_epi8(y, w);
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(wu, y), ones));
                }
            }
        }
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
/// group and half, tiles of 4 tokens (then the rest one at a time).
AVX2_INLINE void gemm_type(int type, int64_t n, const void *packed, int64_t group_begin, int64_t group_end,
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
                int64_t t = t0;
                for (; t + 4 <= t1; t += 4) {
                    gemm_tile(type, 4, nb, group, h, (const char *)a + (size_t)t * a_row_bytes, a_row_bytes,
                              out + t * out_stride + r0, out_stride, rows - r0, h == 0 && t == t0);
                }
                for (; t < t1; ++t) {
                    gemm_tile(type, 1, nb, group, h, (const char *)a + (size_t)t * a_row_bytes, a_row_bytes,
                              out + t * out_stride + r0, out_stride, rows - r0, h == 0 && t == t0);
                }
            }
        }
    }
}

/// 12 independent chains of the AVX2 GEMM's int8 step (32 multiply-adds each).
AVX2 static uint64_t int8_peak(int64_t iterations) {
    __m256i acc[12], ones = _mm256_set1_epi16(1), s = _mm256_set1_epi8(-5);
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_epi32(i);
    for (int64_t it = 0; it < iterations; ++it) {
        // Each chain multiplies its own accumulator's bytes, so no two products are the same expression.
        for (int i = 0; i < 12; ++i) acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(acc[i], s), ones));
        __asm__ volatile("" : "+x"(s));
    }
    __m256i total = acc[0];
    for (int i = 1; i < 12; ++i) total = _mm256_add_epi32(total, acc[i]);
    __asm__ volatile("" ::"x"(total));
    return (uint64_t)iterations * 12 * 32;
}

AVX2 static void gemm(int type, int64_t n, const void *packed, int64_t group_begin, int64_t group_end, int64_t rows,
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

// MARK: - Float kernels

AVX2 static void half_to_float_row(const uint16_t *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; ++i) y[i] = half(x[i]);
}

AVX2 static void float_to_half_row(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; ++i) y[i] = _cvtss_sh(x[i], 0);
}

AVX2 static void rms_norm(const float *x, const float *w, float *y, int64_t n, float eps) {
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        acc = _mm256_fmadd_ps(v, v, acc);
    }
    float sum = hsum(acc);
    for (; i < n; ++i) sum += x[i] * x[i];
    float scale = 1.0f / sqrtf(sum / (float)n + eps);
    __m256 s = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), s);
        _mm256_storeu_ps(y + i, w ? _mm256_mul_ps(v, _mm256_loadu_ps(w + i)) : v);
    }
    for (; i < n; ++i) y[i] = x[i] * scale * (w ? w[i] : 1.0f);
}

AVX2 static void glu(const float *g, const float *u, float *y, int64_t n, int gelu) {
    int64_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 a;
        if (gelu) {  // 0.5 x (1 + tanh(z)) = x * sigmoid(2z)
            __m256 z = _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.7978845608f)),
                                     _mm256_fmadd_ps(_mm256_mul_ps(x, x), _mm256_set1_ps(0.044715f), one));
            __m256 e = exp256(_mm256_mul_ps(z, _mm256_set1_ps(-2.0f)));
            a = _mm256_div_ps(x, _mm256_add_ps(one, e));
        } else {
            a = _mm256_div_ps(x, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
        }
        _mm256_storeu_ps(y + i, _mm256_mul_ps(a, _mm256_loadu_ps(u + i)));
    }
    if (i < n) swv_scalar_glu(g + i, u + i, y + i, n - i, gelu);
}

/// Eight dot products (one per accumulator) reduced into one vector of 8 sums.
AVX2_INLINE __m256 reduce8(const __m256 s[8]) {
    __m256 s01 = _mm256_hadd_ps(s[0], s[1]), s23 = _mm256_hadd_ps(s[2], s[3]);
    __m256 s45 = _mm256_hadd_ps(s[4], s[5]), s67 = _mm256_hadd_ps(s[6], s[7]);
    __m256 s0123 = _mm256_hadd_ps(s01, s23), s4567 = _mm256_hadd_ps(s45, s67);
    return _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
}

/// Keys in blocks of 8: scores by 8 dot products, one rescale of the running sum per block.
/// Eight KV values d...d+7 of a row in `type` (F16 or Q8_0).
AVX2_INLINE __m256 load_kv8(const uint8_t *row, int type, int64_t d) {
    if (type == SWV_TYPE_Q8_0) {
        const swv_block_q8_0 *b = (const swv_block_q8_0 *)row + d / SWV_QK;
        __m256 values = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b->qs + d % SWV_QK))));
        return _mm256_mul_ps(_mm256_set1_ps(half(b->d)), values);
    }
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + d * 2)));
}


/// The scaled scores of one query vector against `count` keys stored as rows (kf[j * head_dim + d], rows up
/// to a multiple of 8 zero): eight independent chains, one per key, reduced together per 8 keys.
AVX2_INLINE void row_scores(const float *qi, int64_t head_dim, const float *kf, int count, float scale, float *scores) {
    for (int j0 = 0; j0 < count; j0 += 8) {
        __m256 partial[8];
        for (int j = 0; j < 8; ++j) partial[j] = _mm256_setzero_ps();
        const float *kj = kf + j0 * head_dim;
        for (int64_t d = 0; d < head_dim; d += 8) {
            __m256 qd = _mm256_load_ps(qi + d);
            for (int j = 0; j < 8; ++j) partial[j] = _mm256_fmadd_ps(qd, _mm256_load_ps(kj + j * head_dim + d), partial[j]);
        }
        _mm256_store_ps(scores + j0, _mm256_mul_ps(reduce8(partial), _mm256_set1_ps(scale)));
    }
}

/// acc[v] += sum over keys j in [begin, end) of weights[v][j] * value row j, for `nv` (1 or 2) vectors that
/// share each value load: 8 * wide values of each row give wide * nv independent chains.
AVX2_INLINE void values_chunk(int nv, int wide, const float *const *weights, const float *vf, int64_t head_dim,
                              int begin, int end, float *const *acc, int64_t d) {
    __m256 a[2][4];
    for (int v = 0; v < nv; ++v) {
        for (int c = 0; c < wide; ++c) a[v][c] = _mm256_load_ps(acc[v] + d + 8 * c);
    }
    for (int j = begin; j < end; ++j) {
        const float *vj = vf + j * head_dim + d;
        __m256 x[4];
        for (int c = 0; c < wide; ++c) x[c] = _mm256_load_ps(vj + 8 * c);
        for (int v = 0; v < nv; ++v) {
            __m256 w = _mm256_set1_ps(weights[v][j]);
            for (int c = 0; c < wide; ++c) a[v][c] = _mm256_fmadd_ps(w, x[c], a[v][c]);
        }
    }
    for (int v = 0; v < nv; ++v) {
        for (int c = 0; c < wide; ++c) _mm256_store_ps(acc[v] + d + 8 * c, a[v][c]);
    }
}

AVX2_INLINE void block_values(int nv, const float *const *weights, const float *vf, int64_t head_dim, int begin,
                              int end, float *const *acc) {
    for (int64_t d = 0; d < head_dim; d += 32 <= head_dim - d ? 32 : 8) {
        if (head_dim - d >= 32) {
            values_chunk(nv, 4, weights, vf, head_dim, begin, end, acc, d);
        } else {
            values_chunk(nv, 1, weights, vf, head_dim, begin, end, acc, d);
        }
    }
}

/// Tiled for every step: the query rows and heads of one KV group share each block of 32 keys and values,
/// converted to f32 once into L1 scratch; per query vector, the block's scores come from 8 dot products at
/// a time reduced together (no per-key horizontal sum), one online-softmax rescale per block, and the
/// values are summed into accumulators that stay in L1, two vectors sharing each value load. Queries meet
/// keys in f16, as in the scalar reference.
AVX2 static void attention(const float *q, int64_t q_stride, const swv_kv_pages *kv, float *out, int64_t out_stride,
                           int64_t n_queries, int64_t first_position, int64_t n_heads, int64_t n_kv_heads,
                           int64_t head_dim, int64_t head_begin, int64_t head_end, int64_t window, float scale) {
    int64_t group = n_heads / n_kv_heads;
    if (head_dim % 8 != 0 || head_dim > 256) {
        swv_scalar_attention(q, q_stride, kv, out, out_stride, n_queries, first_position, n_heads, n_kv_heads, head_dim,
                             head_begin, head_end, window, scale);
        return;
    }
    float kf[ATTN_KEYS * 256] __attribute__((aligned(32)));
    float vf[ATTN_KEYS * 256] __attribute__((aligned(32)));
    float qh[ATTN_QUERIES * 256] __attribute__((aligned(32)));
    float acc[ATTN_QUERIES * 256] __attribute__((aligned(32)));
    float scores[ATTN_QUERIES * ATTN_KEYS] __attribute__((aligned(32)));
    // Each vector's running sum of exp(score - max) kept per lane, summed across lanes once at the end.
    float maxes[ATTN_QUERIES], totals[ATTN_QUERIES * 8] __attribute__((aligned(32)));
    int begins[ATTN_QUERIES], ends[ATTN_QUERIES];
    int type = kv->type;
    for (int64_t g = head_begin / group; g * group < head_end; ++g) {
        int64_t h0 = g * group > head_begin ? g * group : head_begin;
        int64_t h1 = (g + 1) * group < head_end ? (g + 1) * group : head_end;
        int64_t heads = h1 - h0;
        int64_t rows_per_tile = ATTN_QUERIES / heads > 0 ? ATTN_QUERIES / heads : 1;
        for (int64_t t0 = 0; t0 < n_queries; t0 += rows_per_tile) {
            int64_t t1 = t0 + rows_per_tile < n_queries ? t0 + rows_per_tile : n_queries;
            int64_t vectors = (t1 - t0) * heads;
            for (int64_t i = 0; i < vectors; ++i) {
                const float *qt = q + (t0 + i / heads) * q_stride + (h0 + i % heads) * head_dim;
                for (int64_t d = 0; d < head_dim; d += 8) {
                    __m128i rounded = _mm256_cvtps_ph(_mm256_loadu_ps(qt + d), _MM_FROUND_TO_NEAREST_INT);
                    _mm256_store_ps(qh + i * head_dim + d, _mm256_cvtph_ps(rounded));
                    _mm256_store_ps(acc + i * head_dim + d, _mm256_setzero_ps());
                }
                maxes[i] = -INFINITY;
                _mm256_store_ps(totals + 8 * i, _mm256_setzero_ps());
            }
            // Keys any row of the tile sees: from the first row's window start to the last row's position.
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
                    for (int64_t d = 0; d < head_dim; d += 8) {
                        _mm256_store_ps(kf + j * head_dim + d, load_kv8(kp, type, d));
                        _mm256_store_ps(vf + j * head_dim + d, load_kv8(vp, type, d));
                    }
                }
                for (int j = count; j < ((count + 7) & ~7); ++j) memset(kf + j * head_dim, 0, (size_t)head_dim * sizeof(float));
                for (int64_t i = 0; i < vectors; ++i) {
                    row_scores(qh + i * head_dim, head_dim, kf, count, scale, scores + i * ATTN_KEYS);
                    if (kv->softcap > 0) {  // Gemma 2: as the scalar reference, score by score
                        float *si = scores + i * ATTN_KEYS;
                        for (int j = 0; j < count; ++j) si[j] = kv->softcap * tanhf(si[j] / kv->softcap);
                    }
                }
                // Each vector's softmax update; its scores become its weights (0 outside its keys).
                for (int64_t i = 0; i < vectors; ++i) {
                    int64_t position = first_position + t0 + i / heads;
                    int64_t lo, hi;
                    swv_kv_visible(kv, position, window, &lo, &hi);
                    // Keys of this block the row sees: [lo, position].
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
                    __m256 live[ATTN_KEYS / 8], highest = _mm256_set1_ps(-INFINITY);
                    for (int v = 0; v < ATTN_KEYS / 8; ++v) {
                        __m256i index = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(8 * v));
                        __m256i in = _mm256_and_si256(_mm256_cmpgt_epi32(index, _mm256_set1_epi32(begin - 1)),
                                                      _mm256_cmpgt_epi32(_mm256_set1_epi32(end), index));
                        live[v] = _mm256_castsi256_ps(in);
                        highest = _mm256_max_ps(highest, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_load_ps(si + 8 * v), live[v]));
                    }
                    float block_max = hmax(highest);
                    __m256 sum = _mm256_load_ps(totals + 8 * i);
                    if (block_max > maxes[i]) {
                        float c = expf(maxes[i] - block_max);
                        __m256 cv = _mm256_set1_ps(c);
                        float *a = acc + i * head_dim;
                        for (int64_t d = 0; d < head_dim; d += 8) _mm256_store_ps(a + d, _mm256_mul_ps(_mm256_load_ps(a + d), cv));
                        sum = _mm256_mul_ps(sum, cv);
                        maxes[i] = block_max;
                    }
                    __m256 m = _mm256_set1_ps(maxes[i]);
                    for (int v = 0; v < ATTN_KEYS / 8; ++v) {
                        __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(_mm256_load_ps(si + 8 * v), m)), live[v]);
                        _mm256_store_ps(si + 8 * v, e);
                        sum = _mm256_add_ps(sum, e);
                    }
                    _mm256_store_ps(totals + 8 * i, sum);
                }
                // Values, two vectors at a time over the union of their keys (weights 0 outside each one's
                // own); a vector that sees none of this block's keys is left out.
                for (int64_t i = 0; i < vectors; i += 2) {
                    const float *w[2];
                    float *a[2];
                    int nv = 0, begin = ATTN_KEYS, end = 0;
                    for (int64_t v = i; v < i + 2 && v < vectors; ++v) {
                        if (begins[v] >= ends[v]) continue;
                        w[nv] = scores + v * ATTN_KEYS;
                        a[nv++] = acc + v * head_dim;
                        begin = begins[v] < begin ? begins[v] : begin;
                        end = ends[v] > end ? ends[v] : end;
                    }
                    if (nv == 2) {
                        block_values(2, w, vf, head_dim, begin, end, a);
                    } else if (nv == 1) {
                        block_values(1, w, vf, head_dim, begin, end, a);
                    }
                }
                count = next;
            }
            for (int64_t i = 0; i < vectors; ++i) {
                float *o = out + (t0 + i / heads) * out_stride + (h0 + i % heads) * head_dim;
                float total = hsum(_mm256_load_ps(totals + 8 * i));
                __m256 inv = _mm256_set1_ps(total > 0 ? 1.0f / total : 0.0f);
                swv_kv_store_stats(kv, (t0 + i / heads) * n_heads + h0 + i % heads, maxes[i], total);
                for (int64_t d = 0; d < head_dim; d += 8) {
                    _mm256_storeu_ps(o + d, _mm256_mul_ps(_mm256_load_ps(acc + i * head_dim + d), inv));
                }
            }
        }
    }
}

const swv_kernel_table swv_avx2_table = {
    .quantize_row = quantize_row,
    .vec_dot = vec_dot,
    .matmul = matmul,
    .attention = attention,
    .glu = glu,
    .rms_norm = rms_norm,
    .half_to_float_row = half_to_float_row,
    .float_to_half_row = float_to_half_row,
    .gemm = gemm,
    .int8_peak = int8_peak,
};

#else
const swv_kernel_table swv_avx2_table = {0};
#endif
