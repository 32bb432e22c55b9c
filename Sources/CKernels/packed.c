// Packed weights for the tiled GEMM (layout in swerve_kernels.h): repacking, Q8_S activations, and the
// scalar reference product every SIMD level reproduces bit for bit.
#include <math.h>
#include <string.h>

#include "kernels_internal.h"

int swv_packable(int type) {
    return type == SWV_TYPE_Q4_0 || type == SWV_TYPE_Q4_1 || type == SWV_TYPE_Q5_0 || type == SWV_TYPE_Q8_0
        || type == SWV_TYPE_Q4_K || type == SWV_TYPE_Q6_K;
}

size_t swv_packed_group_bytes(int type, int64_t n) {
    if (!swv_packable(type)) return 0;
    return (size_t)(n / SWV_QK) * (size_t)(swv_pack_quant_bytes(type) + swv_pack_scale_bytes(type));
}

/// One 32-value block's scales as the packed layout stores them: f16 bits (d, and Q4_1's m; Q6_K's d with its
/// two sub-block scales) or, for Q4_K, f32 values (d * sc, -dmin * m).
typedef struct {
    uint16_t d16, m16;
    float d32, m32;
    int8_t sc_lo, sc_hi;
} packed_scales;

/// 32-value block `b` of a file row as unsigned quants (value + offset), with its scales.
static void unpack_block(int type, const uint8_t *row, int64_t b, uint8_t u[32], packed_scales *scales) {
    memset(scales, 0, sizeof *scales);
    if (type == SWV_TYPE_Q6_K) {
        // Value i of a 256-value block: ql's low (i % 128 < 64) or high nibble at 64 * (i / 128) + i % 64, two
        // bits of qh[32 * (i / 128) + i % 32] at 2 * (i % 128 / 32); its scale is scales[i / 16].
        const swv_block_q6_K *block = (const swv_block_q6_K *)row + b / 8;
        for (int l = 0; l < 32; ++l) {
            int i = (int)(b % 8) * 32 + l, n = i / 128, r = i % 128;
            uint8_t ql = block->ql[64 * n + r % 64], qh = block->qh[32 * n + r % 32];
            u[l] = (uint8_t)((r < 64 ? ql & 0xF : ql >> 4) | (((qh >> (2 * (r / 32))) & 3) << 4));
        }
        scales->d16 = block->d;
        scales->sc_lo = block->scales[2 * (b % 8)];
        scales->sc_hi = block->scales[2 * (b % 8) + 1];
        return;
    }
    if (type == SWV_TYPE_Q4_K) {
        // Sub-block j of a 256-value block: the low (j even) or high nibbles of its 32 bytes j / 2.
        const swv_block_q4_K *block = (const swv_block_q4_K *)row + b / 8;
        int j = (int)(b % 8);
        uint8_t sc[8], mins[8];
        swv_q4_K_scales(block->scales, sc, mins);
        const uint8_t *qs = block->qs + 32 * (j / 2);
        for (int l = 0; l < 32; ++l) u[l] = j % 2 == 0 ? qs[l] & 0xF : qs[l] >> 4;
        scales->d32 = swv_half_to_float(block->d) * (float)sc[j];
        scales->m32 = -swv_half_to_float(block->dmin) * (float)mins[j];
        return;
    }
    size_t block_bytes = type == SWV_TYPE_Q4_0 ? sizeof(swv_block_q4_0)
        : type == SWV_TYPE_Q4_1                ? sizeof(swv_block_q4_1)
        : type == SWV_TYPE_Q5_0                ? sizeof(swv_block_q5_0)
                                               : sizeof(swv_block_q8_0);
    const uint8_t *block = row + (size_t)b * block_bytes;
    memcpy(&scales->d16, block, 2);
    switch (type) {
    case SWV_TYPE_Q4_0:
    case SWV_TYPE_Q4_1: {
        const uint8_t *qs = block + (type == SWV_TYPE_Q4_1 ? 4 : 2);
        if (type == SWV_TYPE_Q4_1) memcpy(&scales->m16, block + 2, 2);
        for (int j = 0; j < 16; ++j) {
            u[j] = qs[j] & 0xF;
            u[j + 16] = qs[j] >> 4;
        }
        break;
    }
    case SWV_TYPE_Q5_0: {
        uint32_t qh;
        memcpy(&qh, block + 2, 4);
        const uint8_t *qs = block + 6;
        for (int j = 0; j < 16; ++j) {
            u[j] = (uint8_t)((qs[j] & 0xF) | (((qh >> j) & 1) << 4));
            u[j + 16] = (uint8_t)((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
        }
        break;
    }
    default: {  // Q8_0
        const int8_t *qs = (const int8_t *)(block + 2);
        for (int j = 0; j < 32; ++j) u[j] = (uint8_t)(qs[j] + 128);
        break;
    }
    }
}

void swv_pack(int type, int64_t n, const void *w, size_t w_row_bytes, int64_t rows, void *packed) {
    int64_t nb = n / SWV_QK;
    int qbytes = swv_pack_quant_bytes(type), sbytes = swv_pack_scale_bytes(type);
    int four_bit = swv_pack_nibbles(type);
    size_t group_bytes = swv_packed_group_bytes(type, n);
    int64_t groups = (rows + SWV_PACK_ROWS - 1) / SWV_PACK_ROWS;
    memset(packed, 0, (size_t)groups * group_bytes);
    for (int64_t g = 0; g < groups; ++g) {
        uint8_t *blocks = (uint8_t *)packed + (size_t)g * group_bytes;
        for (int r = 0; r < SWV_PACK_ROWS && g * SWV_PACK_ROWS + r < rows; ++r) {
            const uint8_t *row = (const uint8_t *)w + (size_t)(g * SWV_PACK_ROWS + r) * w_row_bytes;
            for (int64_t b = 0; b < nb; ++b) {
                uint8_t u[32];
                packed_scales scales;
                unpack_block(type, row, b, u, &scales);
                uint8_t *q = blocks + (size_t)b * (size_t)(qbytes + sbytes);
                for (int v = 0; v < 8; ++v) {
                    for (int j = 0; j < 4; ++j) {
                        uint8_t value = u[4 * v + j];
                        if (type == SWV_TYPE_Q6_K) {  // high bits to plane v / 4, bits 2 * (v % 4)
                            q[256 + (v / 4) * 64 + r * 4 + j] |= (uint8_t)((value >> 4) << (2 * (v % 4)));
                            value &= 0xF;
                        }
                        if (!four_bit) {
                            q[v * 64 + r * 4 + j] = value;
                        } else if (v < 4) {
                            q[v * 64 + r * 4 + j] |= value;
                        } else {
                            q[(v - 4) * 64 + r * 4 + j] |= (uint8_t)(value << 4);
                        }
                    }
                }
                if (type == SWV_TYPE_Q6_K) {
                    memcpy(q + qbytes + 2 * r, &scales.d16, 2);
                    q[qbytes + 32 + r] = (uint8_t)scales.sc_lo;
                    q[qbytes + 48 + r] = (uint8_t)scales.sc_hi;
                } else if (swv_pack_f32_scales(type)) {
                    float *s = (float *)(q + qbytes);
                    s[r] = scales.d32;
                    s[SWV_PACK_ROWS + r] = scales.m32;
                } else {
                    uint16_t *s = (uint16_t *)(q + qbytes);
                    s[r] = scales.d16;
                    if (type == SWV_TYPE_Q4_1) s[SWV_PACK_ROWS + r] = scales.m16;
                }
            }
        }
    }
}

/// Q8_S: per 32 values d = max|x| / 127, q = round-half-even(x / d) (as Q8_0); d and s = d * sum(q) are
/// stored rounded through f16, as ggml's Q8_0 and Q8_1 store them, so the products equal the file-layout
/// path's block for block.
void swv_scalar_quantize_q8s(const float *x, void *y, int64_t n) {
    for (int64_t b = 0; b < n / SWV_QK; ++b) {
        const float *v = x + b * SWV_QK;
        swv_block_q8s *block = (swv_block_q8s *)y + b;
        float amax = 0;
        for (int j = 0; j < SWV_QK; ++j) amax = fmaxf(amax, fabsf(v[j]));
        float d = amax / 127;
        float id = d != 0 ? 1 / d : 0;
        int sum = 0, sum_lo = 0;
        for (int j = 0; j < SWV_QK; ++j) {
            block->qs[j] = (int8_t)nearbyintf(v[j] * id);
            sum += block->qs[j];
            if (j == 15) sum_lo = sum;
        }
        block->d = swv_half_to_float(swv_float_to_half(d));
        block->sum = sum;
        block->sum_lo = sum_lo;
        block->s = swv_half_to_float(swv_float_to_half(d * (float)sum));
    }
}

/// Quant k (0...31) of row r in one packed block.
static inline int packed_quant(int type, const uint8_t *q, int r, int k) {
    int v = k / 4, j = k % 4;
    if (!swv_pack_nibbles(type)) return q[v * 64 + r * 4 + j];
    int nibble = v < 4 ? q[v * 64 + r * 4 + j] & 0xF : q[(v - 4) * 64 + r * 4 + j] >> 4;
    if (type != SWV_TYPE_Q6_K) return nibble;
    return nibble | (((q[256 + (v / 4) * 64 + r * 4 + j] >> (2 * (v % 4))) & 3) << 4);
}

void swv_scalar_gemm(int type, int64_t n, const void *packed, int64_t group_begin, int64_t group_end, int64_t rows,
                     const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride) {
    int64_t nb = n / SWV_QK;
    int qbytes = swv_pack_quant_bytes(type), sbytes = swv_pack_scale_bytes(type);
    int offset = swv_pack_offset(type);
    size_t group_bytes = swv_packed_group_bytes(type, n);
    for (int64_t g = group_begin; g < group_end; ++g) {
        const uint8_t *blocks = (const uint8_t *)packed + (size_t)g * group_bytes;
        for (int64_t t = 0; t < tokens; ++t) {
            const swv_block_q8s *x = (const swv_block_q8s *)((const char *)a + (size_t)t * a_row_bytes);
            for (int r = 0; r < SWV_PACK_ROWS && g * SWV_PACK_ROWS + r < rows; ++r) {
                float acc = 0;
                for (int64_t b = 0; b < nb; ++b) {
                    const uint8_t *q = blocks + (size_t)b * (size_t)(qbytes + sbytes);
                    if (type == SWV_TYPE_Q6_K) {
                        uint16_t d16;
                        memcpy(&d16, q + qbytes + 2 * r, 2);
                        float d = swv_half_to_float(d16);
                        float d_lo = d * (float)(int8_t)q[qbytes + 32 + r], d_hi = d * (float)(int8_t)q[qbytes + 48 + r];
                        int32_t lo = -offset * x[b].sum_lo, hi = -offset * (x[b].sum - x[b].sum_lo);
                        for (int k = 0; k < 16; ++k) lo += packed_quant(type, q, r, k) * x[b].qs[k];
                        for (int k = 16; k < SWV_QK; ++k) hi += packed_quant(type, q, r, k) * x[b].qs[k];
                        acc = fmaf((float)lo, d_lo * x[b].d, acc);
                        acc = fmaf((float)hi, d_hi * x[b].d, acc);
                        continue;
                    }
                    float d, m;
                    if (swv_pack_f32_scales(type)) {
                        const float *s = (const float *)(q + qbytes);
                        d = s[r];
                        m = s[SWV_PACK_ROWS + r];
                    } else {
                        const uint16_t *s = (const uint16_t *)(q + qbytes);
                        d = swv_half_to_float(s[r]);
                        m = type == SWV_TYPE_Q4_1 ? swv_half_to_float(s[SWV_PACK_ROWS + r]) : 0;
                    }
                    int32_t isum = -offset * x[b].sum;
                    for (int k = 0; k < SWV_QK; ++k) isum += packed_quant(type, q, r, k) * x[b].qs[k];
                    acc = fmaf((float)isum, d * x[b].d, acc);
                    if (swv_pack_has_min(type)) acc = fmaf(m, swv_pack_min_factor(type, &x[b]), acc);
                }
                out[t * out_stride + g * SWV_PACK_ROWS + r] = acc;
            }
        }
    }
}
