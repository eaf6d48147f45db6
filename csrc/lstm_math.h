/*
 * lstmcore: the gate nonlinearities, one pair per dtype.
 *
 * float32 uses its own exp and tanh, written without branches or calls so that the gate loops
 * vectorise (libm's expf/tanhf do not without -ffast-math, which we refuse: NaN and Inf must
 * propagate). Their error stays within a few ulp of the correctly rounded result, checked in
 * tests/test_math.py against float64 over the whole useful range. float64 uses libm.
 *
 * NaN propagates: every clamp is written as a comparison that is false for NaN, so NaN flows
 * through the arithmetic. +-Inf saturates to the limits of sigmoid and tanh.
 */
#ifndef LSTMCORE_LSTM_MATH_H
#define LSTMCORE_LSTM_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Forced inline: the gate kernels are compiled per instruction set (target_clones), and GCC
 * will not inline a plain function into them on its own, which would stop vectorisation. */
#if defined(__GNUC__)
#define LSTM_INLINE static inline __attribute__((always_inline))
#else
#define LSTM_INLINE static inline
#endif

/* e^v for v in [-87.3, 88] (clamped outside, enough for sigmoid and tanh), in two parts:
 * v = n ln2 + r with |r| <= ln2/2 (ln2 split in two so n*ln2_hi is exact), 2^n put straight
 * into the exponent bits of *scale, and q = e^r - 1 = r + r^2 P(r) returned, so that
 * e^v = scale + scale * q and e^v - 1 = scale * q + (scale - 1). The second form keeps full
 * relative accuracy near v = 0, where e^v - 1 computed as e^v minus 1 would cancel: tanh needs
 * it. P is a degree-4 fit of (e^r - 1 - r) / r^2 on [-ln2/2, ln2/2] (near-minimax by
 * iteratively reweighted least squares; e^r within 3e-9 relative, a twentieth of an ulp). */
LSTM_INLINE float lstm_exp_parts_f32(float v, float *scale)
{
    v = v < -87.3f ? -87.3f : v;
    v = v > 88.0f ? 88.0f : v;
    /* round(v / ln2) with the 1.5 * 2^23 trick: exact under the default rounding mode and,
     * unlike rintf/floorf, inlined without SSE4.1. */
    const float shifter = 12582912.0f;
    const float shifted = v * 1.44269504088896341f + shifter; /* shifter + n, exactly */
    float n = shifted - shifter;
    float r = v - n * 0.693145751953125f;  /* ln2_hi: 12 bits, so n * ln2_hi is exact */
    r = r - n * 1.42860682030941723e-6f;   /* ln2_lo */
    float p = 0.0013814613f;
    p = p * r + 0.0083687099f;
    p = p * r + 0.041668387f;
    p = p * r + 0.16666521f;
    p = p * r + 0.49999993f;
    /* 2^n from shifted's bits: in [2^23, 2^24) a float's bits count up by one per unit, so
     * they hold n above shifter's (0x4B400000). n in [-126, 127] gives a normal power of two.
     * Unsigned arithmetic, defined for every input: a NaN v (where converting n to an int, as
     * this once did, is undefined) gives some scale, and NaN through q all the same. */
    uint32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    bits = (bits - 0x4B400000u + 127u) << 23;
    memcpy(scale, &bits, sizeof *scale);
    return (r * r) * p + r;
}

/* Below -88 the true sigmoid is under 2^-126 (denormal), where the clamp of e^-v would leave
 * 1/(1 + e^88) = 6e-39: return 0 instead, as IEEE exp's overflow to Inf would, so that
 * sigmoid(-Inf) is exactly 0 and 0 * Inf in the gradients is NaN, not Inf. The comparison is
 * false for NaN, which flows through. */
LSTM_INLINE float lstm_sigmoid_f32(float v)
{
    float scale, q = lstm_exp_parts_f32(-v, &scale);
    float s = 1.0f / (1.0f + (scale * q + scale));
    return v < -88.0f ? 0.0f : s;
}

/* tanh(a) = (e^{2a} - 1) / (e^{2a} + 1) = m / (m + 2) with m = e^{2a} - 1 from the
 * cancellation-free form above: accurate near zero without a second polynomial (the form
 * 1 - 2/(e^{2a} + 1) cancels there), about 2.6 ulp at worst (tests/test_math.py). Computed
 * for a = |v| and given v's sign by copysignf (bit operations: tanh(-0) is -0), since an error
 * in m moves m / (m + 2) least for m >= 0; m + 2 rounds to m for large a, so the result
 * saturates to exactly +-1. The tanh of every gate and cell goes through here: one exp and
 * one divide, instead of those and an odd polynomial for small |v| selected after both were
 * computed, made the seed shape's inference 8% faster. */
LSTM_INLINE float lstm_tanh_f32(float v)
{
    float scale, q = lstm_exp_parts_f32(2.0f * fabsf(v), &scale);
    float m = scale * q + (scale - 1.0f);
    float t = m / (m + 2.0f);
    return copysignf(t, v); /* NaN: t is NaN */
}

LSTM_INLINE double lstm_sigmoid_f64(double v) { return 1.0 / (1.0 + exp(-v)); }
LSTM_INLINE double lstm_tanh_f64(double v) { return tanh(v); }

#endif /* LSTMCORE_LSTM_MATH_H */
