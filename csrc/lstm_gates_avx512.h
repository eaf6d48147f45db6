/*
 * lstmcore: the float32 forward gate block on AVX-512F intrinsics, 16 hidden units (one zmm
 * register, LSTM_BLOCK) at a time.
 *
 * The arithmetic is that of lstm_math.h and forward_block (lstm_impl.h) operation for
 * operation, with the roundings GCC gives the generic code under fp-contract=fast, so the
 * results are the same bits (csrc/tests/test_kernels.c checks it over random and special
 * values); the generic code stays the reference, and the only source for float64. What
 * changes is the instructions: GCC vectorises the generic code's NaN-preserving clamps as a
 * compare and a masked move each and builds 2^n from integer operations, where AVX-512 has
 * vmaxps/vminps, whose NaN rule is that of the clamps (the second operand is returned), and
 * vscalefps. At the seed shape the forward ran 7% faster on one thread (54.3 -> 50.4 us;
 * the gate pass from 21% to 18% of a training step).
 *
 * Included by lstm_impl.h once, before the dtype instances; defines LSTM_GATES_AVX512 to 1
 * where it applies (x86-64 with GCC, whose target attribute lets one function use AVX-512 in
 * a build for the baseline), else to 0.
 */
#ifndef LSTMCORE_LSTM_GATES_AVX512_H
#define LSTMCORE_LSTM_GATES_AVX512_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) \
    && !defined(LSTM_NO_TARGET_CLONES)
#define LSTM_GATES_AVX512 1
#include <immintrin.h>

#define LSTM_AVX512_INLINE \
    static inline __attribute__((always_inline, target("avx512f,avx2,fma")))

/* e^r - 1 = r + r^2 P(r) for the reduced argument r, P as in lstm_exp_parts_f32. */
LSTM_AVX512_INLINE __m512 lstm_expm1_poly_avx512(__m512 r)
{
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(0.0013814613f), r, _mm512_set1_ps(0.0083687099f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.041668387f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.16666521f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.49999993f));
    return _mm512_fmadd_ps(_mm512_mul_ps(r, r), p, r);
}

/* lstm_exp_parts_f32 for v >= 0 (or NaN), tanh's 2|v|: q = e^r - 1 returned, 2^n in *scale.
 * Only the upper clamp applies there. */
LSTM_AVX512_INLINE __m512 lstm_exp_parts_avx512(__m512 v, __m512 *scale)
{
    v = _mm512_min_ps(_mm512_set1_ps(88.0f), v); /* v > 88 ? 88 : v, NaN kept */
    const __m512 shifter = _mm512_set1_ps(12582912.0f);
    __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(v, _mm512_set1_ps(1.44269504088896341f), shifter),
                             shifter);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), v);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682030941723e-6f), r);
    *scale = _mm512_scalef_ps(_mm512_set1_ps(1.0f), n); /* 2^n, n an integer in [-126, 127] */
    return lstm_expm1_poly_avx512(r);
}

/* lstm_sigmoid_f32: 1 / (1 + e^-v), 0 below -88. e^-v as lstm_exp_parts_avx512(-v) with its
 * lower clamp, written on v: min(87.3, v) is -max(-87.3, -v), and the negations go into the
 * FMAs (-(a * b + c) = -a * b - c exactly), so no lane computes -v. The division is masked:
 * lanes below -88 get 0 without it, whatever e^-v gave there. */
LSTM_AVX512_INLINE __m512 lstm_sigmoid_avx512(__m512 v)
{
    const __m512 shifter = _mm512_set1_ps(12582912.0f), one = _mm512_set1_ps(1.0f);
    const __m512 w = _mm512_min_ps(_mm512_set1_ps(87.3f), v); /* -(clamped -v) */
    __m512 n = _mm512_sub_ps(_mm512_fnmadd_ps(w, _mm512_set1_ps(1.44269504088896341f), shifter),
                             shifter);
    __m512 r = _mm512_fnmsub_ps(n, _mm512_set1_ps(0.693145751953125f), w);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682030941723e-6f), r);
    const __m512 q = lstm_expm1_poly_avx512(r);
    __m512 scale = _mm512_scalef_ps(one, n);
    const __mmask16 open = _mm512_cmp_ps_mask(v, _mm512_set1_ps(-88.0f), _CMP_NLT_UQ);
    return _mm512_maskz_div_ps(open, one, _mm512_add_ps(one, _mm512_fmadd_ps(scale, q, scale)));
}

/* lstm_tanh_f32: m / (m + 2) with m = e^{2|v|} - 1, given v's sign. */
LSTM_AVX512_INLINE __m512 lstm_tanh_avx512(__m512 v)
{
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    const __m512 abs_v = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(v)));
    __m512 scale, q = lstm_exp_parts_avx512(_mm512_add_ps(abs_v, abs_v), &scale);
    __m512 m = _mm512_fmadd_ps(scale, q, _mm512_sub_ps(scale, _mm512_set1_ps(1.0f)));
    __m512 t = _mm512_div_ps(m, _mm512_add_ps(m, _mm512_set1_ps(2.0f)));
    /* copysign(t, v): t's magnitude bits, v's sign bit (0xCA: sign ? v : t, bit by bit) */
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(sign, _mm512_castps_si512(v),
                                                         _mm512_castps_si512(t), 0xCA));
}

/* forward_block (lstm_impl.h) for float32: a holds the pre-activations without bias and
 * receives the activated i, f, g, o, gate q at a[q * s]; bias has its gates sb apart; c holds
 * c_{t-1} and receives c_t, as does c_save unless NULL; out receives o * tanh(c_t). */
LSTM_AVX512_INLINE void lstm_forward_block_avx512(float *a, size_t s, const float *bias,
                                                  size_t sb, float *c, float *c_save, float *out)
{
    __m512 i = lstm_sigmoid_avx512(_mm512_add_ps(_mm512_loadu_ps(a), _mm512_loadu_ps(bias)));
    __m512 f = lstm_sigmoid_avx512(_mm512_add_ps(_mm512_loadu_ps(a + s),
                                                 _mm512_loadu_ps(bias + sb)));
    __m512 g = lstm_tanh_avx512(_mm512_add_ps(_mm512_loadu_ps(a + 2 * s),
                                              _mm512_loadu_ps(bias + 2 * sb)));
    __m512 o = lstm_sigmoid_avx512(_mm512_add_ps(_mm512_loadu_ps(a + 3 * s),
                                                 _mm512_loadu_ps(bias + 3 * sb)));
    __m512 cn = _mm512_fmadd_ps(f, _mm512_loadu_ps(c), _mm512_mul_ps(i, g));
    _mm512_storeu_ps(a, i);
    _mm512_storeu_ps(a + s, f);
    _mm512_storeu_ps(a + 2 * s, g);
    _mm512_storeu_ps(a + 3 * s, o);
    _mm512_storeu_ps(c, cn);
    if (c_save) _mm512_storeu_ps(c_save, cn);
    _mm512_storeu_ps(out, _mm512_mul_ps(o, lstm_tanh_avx512(cn)));
}

#else
#define LSTM_GATES_AVX512 0
#endif

#endif /* LSTMCORE_LSTM_GATES_AVX512_H */
