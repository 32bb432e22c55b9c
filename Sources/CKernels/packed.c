// Packed weights for the tiled GEMM (layout in swerve_kernels.h): repacking, Q8_S activations, and the
// scalar reference product every SIMD level reproduces bit for bit.
#include <math.h>
#include <string.h>

#include "kernels_internal.h"

int swv_packable(int type) {
    return type == SWV_TYPE_Q4_0 || type == SWV_TYPE_Q4_1 || type == SWV_TYPE_Q5_0 || type == SWV_TYPE_Q8_0;
}

size_t swv_packed_group_bytes(int type, int64_t n) {
    if (!swv_packable(type)) return 0;
    return (size_t)(n / SWV_QK) * (size_t)(swv_pack_quant_bytes(type) + swv_pack_scale_bytes(type));
}

/// One block of a file row as unsigned quants (value + offset), with its f16 scale and (Q4_1) min.
static void unpack_block(int type, const uint8_t *block, uint8_t u[32], uint16_t *d, uint16_t *m) {
    memcpy(d, block, 2);
    *m = 0;
    switch (type) {
    case SWV_TYPE_Q4_0:
    case SWV_TYPE_Q4_1: {
        const uint8_t *qs = block + (type == SWV_TYPE_Q4_1 ? 4 : 2);
        if (type == SWV_TYPE_Q4_1) memcpy(m, block + 2, 2);
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

static size_t file_block_bytes(int type) {
    switch (type) {
    case SWV_TYPE_Q4_0: return sizeof(swv_block_q4_0);
    case SWV_TYPE_Q4_1: return sizeof(swv_block_q4_1);
    case SWV_TYPE_Q5_0: return sizeof(swv_block_q5_0);
    default: return sizeof(swv_block_q8_0);
    }
}

void swv_pack(int type, int64_t n, const void *w, size_t w_row_bytes, int64_t rows, void *packed) {
    int64_t nb = n / SWV_QK;
    int qbytes = swv_pack_quant_bytes(type), sbytes = swv_pack_scale_bytes(type);
    int four_bit = qbytes == 256;
    size_t group_bytes = swv_packed_group_bytes(type, n);
    int64_t groups = (rows + SWV_PACK_ROWS - 1) / SWV_PACK_ROWS;
    memset(packed, 0, (size_t)groups * group_bytes);
    for (int64_t g = 0; g < groups; ++g) {
        uint8_t *blocks = (uint8_t *)packed + (size_t)g * group_bytes;
        for (int r = 0; r < SWV_PACK_ROWS && g * SWV_PACK_ROWS + r < rows; ++r) {
            const uint8_t *row = (const uint8_t *)w + (size_t)(g * SWV_PACK_ROWS + r) * w_row_bytes;
            for (int64_t b = 0; b < nb; ++b) {
                uint8_t u[32];
                uint16_t d, m;
                unpack_block(type, row + (size_t)b * file_block_bytes(type), u, &d, &m);
                uint8_t *q = blocks + (size_t)b * (size_t)(qbytes + sbytes);
                for (int v = 0; v < 8; ++v) {
                    for (int j = 0; j < 4; ++j) {
                        uint8_t value = u[4 * v + j];
                        if (!four_bit) {
                            q[v * 64 + r * 4 + j] = value;
                        } else if (v < 4) {
                            q[v * 64 + r * 4 + j] |= value;
                        } else {
                            q[(v - 4) * 64 + r * 4 + j] |= (uint8_t)(value << 4);
                        }
                    }
                }
                uint16_t *s = (uint16_t *)(q + qbytes);
                s[r] = d;
                if (type == SWV_TYPE_Q4_1) s[SWV_PACK_ROWS + r] = m;
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
        int sum = 0;
        for (int j = 0; j < SWV_QK; ++j) {
            block->qs[j] = (int8_t)nearbyintf(v[j] * id);
            sum += block->qs[j];
        }
        block->d = swv_half_to_float(swv_float_to_half(d));
        block->sum = sum;
        block->s = swv_half_to_float(swv_float_to_half(d * (float)sum));
    }
}

/// Quant k (0...31) of row r in one packed block.
static inline int packed_quant(const uint8_t *q, int four_bit, int r, int k) {
    int v = k / 4, j = k % 4;
    if (!four_bit) return q[v * 64 + r * 4 + j];
    return v < 4 ? q[v * 64 + r * 4 + j] & 0xF : q[(v - 4) * 64 + r * 4 + j] >> 4;
}

void swv_scalar_gemm(int type, int64_t n, const void *packed, int64_t group_begin, int64_t group_end, int64_t rows,
                     const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride) {
    int64_t nb = n / SWV_QK;
    int qbytes = swv_pack_quant_bytes(type), sbytes = swv_pack_scale_bytes(type);
    int offset = swv_pack_offset(type), four_bit = qbytes == 256;
    size_t group_bytes = swv_packed_group_bytes(type, n);
    for (int64_t g = group_begin; g < group_end; ++g) {
        const uint8_t *blocks = (const uint8_t *)packed + (size_t)g * group_bytes;
        for (int64_t t = 0; t < tokens; ++t) {
            const swv_block_q8s *x = (const swv_block_q8s *)((const char *)a + (size_t)t * a_row_bytes);
            for (int r = 0; r < SWV_PACK_ROWS && g * SWV_PACK_ROWS + r < rows; ++r) {
                float acc = 0;
                for (int64_t b = 0; b < nb; ++b) {
                    const uint8_t *q = blocks + (size_t)b * (size_t)(qbytes + sbytes);
                    const uint16_t *s = (const uint16_t *)(q + qbytes);
                    int32_t isum = -offset * x[b].sum;
                    for (int k = 0; k < SWV_QK; ++k) isum += packed_quant(q, four_bit, r, k) * x[b].qs[k];
                    acc = fmaf((float)isum, swv_half_to_float(s[r]) * x[b].d, acc);
                    if (type == SWV_TYPE_Q4_1) acc = fmaf(swv_half_to_float(s[SWV_PACK_ROWS + r]), x[b].s, acc);
                }
                out[t * out_stride + g * SWV_PACK_ROWS + r] = acc;
            }
        }
    }
}
