// Portable scalar reference kernels: the arithmetic every SIMD variant must reproduce.
#include <math.h>
#include <string.h>

#include "kernels_internal.h"

float swv_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1F;
    uint32_t mantissa = h & 0x3FF;
    uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {  // subnormal: normalize
            int e = -1;
            do {
                e++;
                mantissa <<= 1;
            } while ((mantissa & 0x400) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mantissa & 0x3FF) << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7F800000 | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t swv_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t abs = x & 0x7FFFFFFF;
    if (abs >= 0x7F800000) {  // inf or nan
        return (uint16_t)(sign | 0x7C00 | (abs > 0x7F800000 ? 0x200 : 0));
    }
    if (abs >= 0x477FF000) {  // rounds to >= 65520: overflow to inf
        return (uint16_t)(sign | 0x7C00);
    }
    if (abs < 0x38800000) {  // below the smallest normal half: subnormal, round to nearest even
        float magnitude;
        memcpy(&magnitude, &abs, 4);
        float scaled = magnitude * 16777216.0f;  // 2^24: units of the smallest subnormal
        uint32_t q = (uint32_t)nearbyintf(scaled);
        return (uint16_t)(sign | q);
    }
    uint32_t mantissa = abs & 0x7FFFFF;
    uint32_t exponent = (abs >> 23) - 127 + 15;
    uint32_t half = (exponent << 10) | (mantissa >> 13);
    uint32_t rest = mantissa & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++;
    return (uint16_t)(sign | half);
}

void swv_scalar_half_to_float_row(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = swv_half_to_float(x[i]);
}

void swv_scalar_float_to_half_row(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = swv_float_to_half(x[i]);
}

int swv_activation_type(int weight_type, int packed) {
    if (packed) return swv_packable(weight_type) ? SWV_TYPE_Q8_S : -1;
    switch (weight_type) {
    case SWV_TYPE_Q4_0:
    case SWV_TYPE_Q5_0:
    case SWV_TYPE_Q8_0: return SWV_TYPE_Q8_0;
    case SWV_TYPE_Q4_1: return SWV_TYPE_Q8_1;
    case SWV_TYPE_Q4_K:
    case SWV_TYPE_Q6_K: return SWV_TYPE_Q8_K;
    case SWV_TYPE_F32:
    case SWV_TYPE_F16:
    case SWV_TYPE_BF16: return SWV_TYPE_F32;
    default: return -1;
    }
}

size_t swv_row_bytes(int type, int64_t n) {
    switch (type) {
    case SWV_TYPE_F32: return (size_t)n * 4;
    case SWV_TYPE_F16:
    case SWV_TYPE_BF16: return (size_t)n * 2;
    case SWV_TYPE_Q4_0: return (size_t)(n / SWV_QK) * sizeof(swv_block_q4_0);
    case SWV_TYPE_Q4_1: return (size_t)(n / SWV_QK) * sizeof(swv_block_q4_1);
    case SWV_TYPE_Q5_0: return (size_t)(n / SWV_QK) * sizeof(swv_block_q5_0);
    case SWV_TYPE_Q8_0: return (size_t)(n / SWV_QK) * sizeof(swv_block_q8_0);
    case SWV_TYPE_Q8_1: return (size_t)(n / SWV_QK) * sizeof(swv_block_q8_1);
    case SWV_TYPE_Q4_K: return (size_t)(n / SWV_QK_K) * sizeof(swv_block_q4_K);
    case SWV_TYPE_Q6_K: return (size_t)(n / SWV_QK_K) * sizeof(swv_block_q6_K);
    case SWV_TYPE_Q8_K: return (size_t)(n / SWV_QK_K) * sizeof(swv_block_q8_K);
    case SWV_TYPE_Q8_S: return (size_t)(n / SWV_QK) * sizeof(swv_block_q8s);
    default: return 0;
    }
}

// MARK: - Activation quantization

/// Q8_0 / Q8_1: per 32 values, d = max|x| / 127, q = round-half-even(x / d) (the rounding of llama.cpp's
/// x86 path); Q8_1 also stores s = d * sum(q).
static void quantize_q8_0_1(const float *x, void *y, int64_t n, int with_sum) {
    for (int64_t b = 0; b < n / SWV_QK; ++b) {
        const float *v = x + b * SWV_QK;
        float amax = 0;
        for (int j = 0; j < SWV_QK; ++j) amax = fmaxf(amax, fabsf(v[j]));
        float d = amax / 127;
        float id = d != 0 ? 1 / d : 0;
        int8_t *qs;
        if (with_sum) {
            swv_block_q8_1 *block = (swv_block_q8_1 *)y + b;
            block->d = swv_float_to_half(d);
            qs = block->qs;
        } else {
            swv_block_q8_0 *block = (swv_block_q8_0 *)y + b;
            block->d = swv_float_to_half(d);
            qs = block->qs;
        }
        int sum = 0;
        for (int j = 0; j < SWV_QK; ++j) {
            qs[j] = (int8_t)nearbyintf(v[j] * id);
            sum += qs[j];
        }
        if (with_sum) ((swv_block_q8_1 *)y + b)->s = swv_float_to_half((float)sum * d);
    }
}

/// Q8_K: per 256 values, scale -127 / (the value of largest magnitude), as ggml's `quantize_row_q8_K_ref`,
/// plus sums of each 16 quants.
static void quantize_q8_K(const float *x, void *y, int64_t n) {
    for (int64_t b = 0; b < n / SWV_QK_K; ++b) {
        const float *v = x + b * SWV_QK_K;
        swv_block_q8_K *block = (swv_block_q8_K *)y + b;
        float max = 0, amax = 0;
        for (int j = 0; j < SWV_QK_K; ++j) {
            float ax = fabsf(v[j]);
            if (ax > amax) {
                amax = ax;
                max = v[j];
            }
        }
        if (amax == 0) {
            memset(block, 0, sizeof(*block));
            continue;
        }
        float iscale = -127.0f / max;
        for (int j = 0; j < SWV_QK_K; ++j) {
            int q = (int)nearbyintf(iscale * v[j]);
            block->qs[j] = (int8_t)(q > 127 ? 127 : q);
        }
        for (int j = 0; j < SWV_QK_K / 16; ++j) {
            int sum = 0;
            for (int i = 0; i < 16; ++i) sum += block->qs[j * 16 + i];
            block->bsums[j] = (int16_t)sum;
        }
        block->d = 1 / iscale;
    }
}

void swv_scalar_quantize_row(int type, const float *x, void *y, int64_t n) {
    switch (type) {
    case SWV_TYPE_Q8_0: quantize_q8_0_1(x, y, n, 0); break;
    case SWV_TYPE_Q8_1: quantize_q8_0_1(x, y, n, 1); break;
    case SWV_TYPE_Q8_K: quantize_q8_K(x, y, n); break;
    case SWV_TYPE_Q8_S: swv_scalar_quantize_q8s(x, y, n); break;
    default: break;
    }
}

// MARK: - Dot products

static float dot_q4_0(int64_t n, const swv_block_q4_0 *w, const swv_block_q8_0 *a) {
    float sum = 0;
    for (int64_t b = 0; b < n / SWV_QK; ++b) {
        int sumi = 0;
        for (int j = 0; j < 16; ++j) {
            sumi += ((w[b].qs[j] & 0xF) - 8) * a[b].qs[j] + ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + 16];
        }
        sum += (float)sumi * (swv_half_to_float(w[b].d) * swv_half_to_float(a[b].d));
    }
    return sum;
}

static float dot_q4_1(int64_t n, const swv_block_q4_1 *w, const swv_block_q8_1 *a) {
    float sum = 0;
    for (int64_t b = 0; b < n / SWV_QK; ++b) {
        int sumi = 0;
        for (int j = 0; j < 16; ++j) sumi += (w[b].qs[j] & 0xF) * a[b].qs[j] + (w[b].qs[j] >> 4) * a[b].qs[j + 16];
        sum += (swv_half_to_float(w[b].d) * swv_half_to_float(a[b].d)) * (float)sumi
            + swv_half_to_float(w[b].m) * swv_half_to_float(a[b].s);
    }
    return sum;
}

static float dot_q5_0(int64_t n, const swv_block_q5_0 *w, const swv_block_q8_0 *a) {
    float sum = 0;
    for (int64_t b = 0; b < n / SWV_QK; ++b) {
        uint32_t qh;
        memcpy(&qh, w[b].qh, 4);
        int sumi = 0;
        for (int j = 0; j < 16; ++j) {
            int lo = (w[b].qs[j] & 0xF) | (int)(((qh >> j) << 4) & 0x10);
            int hi = (w[b].qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
            sumi += (lo - 16) * a[b].qs[j] + (hi - 16) * a[b].qs[j + 16];
        }
        sum += (float)sumi * (swv_half_to_float(w[b].d) * swv_half_to_float(a[b].d));
    }
    return sum;
}

static float dot_q8_0(int64_t n, const swv_block_q8_0 *w, const swv_block_q8_0 *a) {
    float sum = 0;
    for (int64_t b = 0; b < n / SWV_QK; ++b) {
        int sumi = 0;
        for (int j = 0; j < SWV_QK; ++j) sumi += w[b].qs[j] * a[b].qs[j];
        sum += (float)sumi * (swv_half_to_float(w[b].d) * swv_half_to_float(a[b].d));
    }
    return sum;
}

static float dot_q4_K(int64_t n, const swv_block_q4_K *w, const swv_block_q8_K *a) {
    float sum = 0;
    for (int64_t b = 0; b < n / SWV_QK_K; ++b) {
        uint8_t scales[8], mins[8];
        swv_q4_K_scales(w[b].scales, scales, mins);
        int summ = 0;
        for (int j = 0; j < 16; ++j) summ += a[b].bsums[j] * mins[j / 2];
        int sumi = 0;
        for (int j = 0; j < 4; ++j) {
            const uint8_t *q = w[b].qs + 32 * j;
            const int8_t *y = a[b].qs + 64 * j;
            int lo = 0, hi = 0;
            for (int l = 0; l < 32; ++l) {
                lo += (q[l] & 0xF) * y[l];
                hi += (q[l] >> 4) * y[l + 32];
            }
            sumi += scales[2 * j] * lo + scales[2 * j + 1] * hi;
        }
        sum += swv_half_to_float(w[b].d) * a[b].d * (float)sumi - swv_half_to_float(w[b].dmin) * a[b].d * (float)summ;
    }
    return sum;
}

static float dot_q6_K(int64_t n, const swv_block_q6_K *w, const swv_block_q8_K *a) {
    float sum = 0;
    for (int64_t b = 0; b < n / SWV_QK_K; ++b) {
        int sumi = 0;
        for (int half = 0; half < 2; ++half) {
            const uint8_t *ql = w[b].ql + 64 * half;
            const uint8_t *qh = w[b].qh + 32 * half;
            const int8_t *sc = w[b].scales + 8 * half;
            const int8_t *y = a[b].qs + 128 * half;
            for (int l = 0; l < 32; ++l) {
                int is = l / 16;
                int q1 = (int)((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                sumi += sc[is] * q1 * y[l] + sc[is + 2] * q2 * y[l + 32] + sc[is + 4] * q3 * y[l + 64]
                    + sc[is + 6] * q4 * y[l + 96];
            }
        }
        sum += swv_half_to_float(w[b].d) * a[b].d * (float)sumi;
    }
    return sum;
}

/// Dot product of a float weight row (F32, F16 or BF16) with f32 activations, summed in order.
static float dot_float(int type, int64_t n, const void *w, const float *a) {
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += swv_float_weight(type, w, i) * a[i];
    return sum;
}

float swv_scalar_vec_dot(int type, int64_t n, const void *w, const void *a) {
    switch (type) {
    case SWV_TYPE_F32:
    case SWV_TYPE_F16:
    case SWV_TYPE_BF16: return dot_float(type, n, w, a);
    case SWV_TYPE_Q4_0: return dot_q4_0(n, w, a);
    case SWV_TYPE_Q4_1: return dot_q4_1(n, w, a);
    case SWV_TYPE_Q5_0: return dot_q5_0(n, w, a);
    case SWV_TYPE_Q8_0: return dot_q8_0(n, w, a);
    case SWV_TYPE_Q4_K: return dot_q4_K(n, w, a);
    case SWV_TYPE_Q6_K: return dot_q6_K(n, w, a);
    default: return NAN;
    }
}

void swv_scalar_matmul(int type, int64_t n, const void *w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
                       const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride) {
    for (int64_t r = row_begin; r < row_end; ++r) {
        const char *row = (const char *)w + (size_t)r * w_row_bytes;
        for (int64_t t = 0; t < tokens; ++t) {
            out[t * out_stride + r] = swv_scalar_vec_dot(type, n, row, (const char *)a + (size_t)t * a_row_bytes);
        }
    }
}

// MARK: - Float kernels

void swv_scalar_rms_norm(const float *x, const float *w, float *y, int64_t n, float eps) {
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += x[i] * x[i];
    float scale = 1.0f / sqrtf(sum / (float)n + eps);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * (w ? w[i] : 1.0f);
}

void swv_rope_angles_scaled(float *cos_sin, int64_t head_dim, int64_t position, float base, float freq_scale,
                            const float *freq_factors, float mscale) {
    float theta_scale = powf(base, -2.0f / (float)head_dim);
    float theta = (float)position;
    for (int64_t i = 0; i < head_dim / 2; ++i) {
        float angle = freq_factors ? theta / freq_factors[i] : theta;
        if (freq_scale != 1.0f) angle *= freq_scale;
        cos_sin[2 * i] = cosf(angle) * mscale;
        cos_sin[2 * i + 1] = sinf(angle) * mscale;
        theta *= theta_scale;
    }
}

void swv_rope_angles(float *cos_sin, int64_t head_dim, int64_t position, float base) {
    swv_rope_angles_scaled(cos_sin, head_dim, position, base, 1.0f, NULL, 1.0f);
}

void swv_rope_with(float *x, int64_t head_dim, const float *cos_sin, int neox) {
    int64_t half = head_dim / 2;
    for (int64_t i = 0; i < half; ++i) {
        float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
        int64_t i0 = neox ? i : 2 * i;
        int64_t i1 = neox ? i + half : 2 * i + 1;
        float a = x[i0], b = x[i1];
        x[i0] = a * c - b * s;
        x[i1] = a * s + b * c;
    }
}

void swv_rope(float *x, int64_t head_dim, int64_t position, float base, int neox) {
    float cos_sin[1024];
    swv_rope_angles(cos_sin, head_dim, position, base);
    swv_rope_with(x, head_dim, cos_sin, neox);
}

size_t swv_kv_row_bytes(int type, int64_t width) {
    return type == SWV_TYPE_Q8_0 ? (size_t)(width / SWV_QK) * sizeof(swv_block_q8_0) : (size_t)width * 2;
}

void swv_kv_store(int type, const float *x, void *row, int64_t width) {
    if (type == SWV_TYPE_Q8_0) {
        swv_quantize_row(SWV_TYPE_Q8_0, x, row, width);
    } else {
        swv_float_to_half_row(x, row, width);
    }
}

/// One KV head's `head_dim` values of a row, as floats.
static void load_head(const uint8_t *row, int type, int64_t head_dim, float *y) {
    if (type == SWV_TYPE_Q8_0) {
        const swv_block_q8_0 *b = (const swv_block_q8_0 *)row;
        for (int64_t d = 0; d < head_dim; ++d) y[d] = swv_half_to_float(b[d / SWV_QK].d) * (float)b[d / SWV_QK].qs[d % SWV_QK];
    } else {
        const uint16_t *h = (const uint16_t *)row;
        for (int64_t d = 0; d < head_dim; ++d) y[d] = swv_half_to_float(h[d]);
    }
}

void swv_scalar_attention(const float *q, int64_t q_stride, const swv_kv_pages *kv, float *out, int64_t out_stride,
                          int64_t n_queries, int64_t first_position, int64_t n_heads, int64_t n_kv_heads,
                          int64_t head_dim, int64_t head_begin, int64_t head_end, int64_t window, float scale) {
    float qh[512], acc[512], kh[512], vh[512];
    int64_t group = n_heads / n_kv_heads;
    for (int64_t t = 0; t < n_queries; ++t) {
        int64_t position = first_position + t, first, last;
        swv_kv_visible(kv, position, window, &first, &last);
        for (int64_t h = head_begin; h < head_end; ++h) {
            int64_t g = h / group;
            // Queries meet f16 keys in f16, as llama.cpp's f16 KV cache does.
            for (int64_t d = 0; d < head_dim; ++d) {
                qh[d] = swv_half_to_float(swv_float_to_half(q[t * q_stride + h * head_dim + d]));
                acc[d] = 0;
            }
            float max = -INFINITY, total = 0;
            for (int64_t p = first; p <= last; ++p) {
                load_head(swv_kv_row(kv, kv->k, p, g, head_dim), kv->type, head_dim, kh);
                float s = 0;
                for (int64_t d = 0; d < head_dim; ++d) s += qh[d] * kh[d];
                s *= scale;
                if (kv->softcap > 0) s = kv->softcap * tanhf(s / kv->softcap);
                if (s > max) {  // online softmax: rescale what was summed under the old maximum
                    float c = expf(max - s);
                    for (int64_t d = 0; d < head_dim; ++d) acc[d] *= c;
                    total *= c;
                    max = s;
                }
                float weight = expf(s - max);
                total += weight;
                load_head(swv_kv_row(kv, kv->v, p, g, head_dim), kv->type, head_dim, vh);
                for (int64_t d = 0; d < head_dim; ++d) acc[d] += weight * vh[d];
            }
            float *o = out + t * out_stride + h * head_dim;
            for (int64_t d = 0; d < head_dim; ++d) o[d] = total > 0 ? acc[d] / total : 0;
            swv_kv_store_stats(kv, t * n_heads + h, max, total);
        }
    }
}

void swv_attention_merge(const float *parts, int64_t part_stride, const float *stats, int64_t stats_stride,
                         int64_t n_parts, int64_t n_vectors, int64_t head_dim, float *out) {
    for (int64_t i = 0; i < n_vectors; ++i) {
        float max = -INFINITY, total = 0;
        for (int64_t p = 0; p < n_parts; ++p) max = stats[p * stats_stride + 2 * i] > max ? stats[p * stats_stride + 2 * i] : max;
        float *o = out + i * head_dim;
        for (int64_t d = 0; d < head_dim; ++d) o[d] = 0;
        if (max == -INFINITY) continue;
        for (int64_t p = 0; p < n_parts; ++p) {
            // Part p's mean, weighted by its share of the softmax's denominator.
            float weight = stats[p * stats_stride + 2 * i + 1] * expf(stats[p * stats_stride + 2 * i] - max);
            if (weight == 0) continue;
            const float *x = parts + p * part_stride + i * head_dim;
            for (int64_t d = 0; d < head_dim; ++d) o[d] += weight * x[d];
            total += weight;
        }
        for (int64_t d = 0; d < head_dim; ++d) o[d] /= total;
    }
}

void swv_scalar_glu(const float *g, const float *u, float *y, int64_t n, int gelu) {
    for (int64_t i = 0; i < n; ++i) {
        float x = g[i];
        float a = gelu ? 0.5f * x * (1.0f + tanhf(0.7978845608f * x * (1.0f + 0.044715f * x * x)))
                       : x / (1.0f + expf(-x));
        y[i] = a * u[i];
    }
}

void swv_add(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void swv_scale(float *y, int64_t n, float s) {
    for (int64_t i = 0; i < n; ++i) y[i] *= s;
}

const swv_kernel_table swv_scalar_table = {
    .quantize_row = swv_scalar_quantize_row,
    .vec_dot = swv_scalar_vec_dot,
    .matmul = swv_scalar_matmul,
    .attention = swv_scalar_attention,
    .glu = swv_scalar_glu,
    .rms_norm = swv_scalar_rms_norm,
    .half_to_float_row = swv_scalar_half_to_float_row,
    .float_to_half_row = swv_scalar_float_to_half_row,
    .gemm = swv_scalar_gemm,
};

uint64_t swv_read_bytes(const void *p, size_t n) {
    const uint64_t *x = p;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    size_t words = n / 8, i = 0;
    for (; i + 4 <= words; i += 4) {
        a ^= x[i];
        b ^= x[i + 1];
        c ^= x[i + 2];
        d ^= x[i + 3];
    }
    for (; i < words; ++i) a ^= x[i];
    return a ^ b ^ c ^ d;
}
