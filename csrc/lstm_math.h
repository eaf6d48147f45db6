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

/* exp(v) for v in [-87.3, 88] (clamped outside, enough for sigmoid and tanh): v = n ln2 + r
 * with |r| <= ln2/2 (ln2 split in two so n*ln2_hi is exact), exp(r) by its degree-7 Taylor
 * polynomial (truncation < 1e-8 relative), and 2^n put straight into the exponent bits. */
LSTM_INLINE float lstm_exp_f32(float v)
{
    v = v < -87.3f ? -87.3f : v;
    v = v > 88.0f ? 88.0f : v;
    /* round(v / ln2) with the 1.5 * 2^23 trick: exact under the default rounding mode and,
     * unlike rintf/floorf, inlined without SSE4.1. */
    const float shifter = 12582912.0f;
    float n = (v * 1.44269504088896341f + shifter) - shifter;
    float r = v - n * 0.693145751953125f;  /* ln2_hi: 12 bits, so n * ln2_hi is exact */
    r = r - n * 1.42860682030941723e-6f;   /* ln2_lo */
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23; /* n in [-126, 127]: a normal power of two */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* Below -88 the true sigmoid is under 2^-126 (denormal), where lstm_exp_f32's clamp would leave
 * 1/(1 + e^88) = 6e-39: return 0 instead, as IEEE exp's overflow to Inf would, so that
 * sigmoid(-Inf) is exactly 0 and 0 * Inf in the gradients is NaN, not Inf. The comparison is
 * false for NaN, which flows through. */
LSTM_INLINE float lstm_sigmoid_f32(float v)
{
    float s = 1.0f / (1.0f + lstm_exp_f32(-v));
    return v < -88.0f ? 0.0f : s;
}

/* tanh: near zero 1 - 2/(e^{2v}+1) would cancel, so |v| < 0.625 uses an odd polynomial
 * (a weighted least-squares fit of tanh(v)/v in v^2, about 1 ulp); beyond it the exp form,
 * which saturates to +-1 for large |v|. Both are computed and one selected: no branch. */
LSTM_INLINE float lstm_tanh_f32(float v)
{
    float a = v < 0 ? -v : v;
    float big = 1.0f - 2.0f / (lstm_exp_f32(2.0f * a) + 1.0f);
    big = v < 0 ? -big : big;
    float s = v * v;
    float p = -0.005672460313458119f;
    p = p * s + 0.020603188624519854f;
    p = p * s - 0.05372524777397032f;
    p = p * s + 0.1333118604212429f;
    p = p * s - 0.33333263399253454f;
    p = p * s + 0.9999999963030171f;
    float small = v * p;
    return a < 0.625f ? small : big; /* NaN: a < 0.625 is false, and big is NaN */
}

LSTM_INLINE double lstm_sigmoid_f64(double v) { return 1.0 / (1.0 + exp(-v)); }
LSTM_INLINE double lstm_tanh_f64(double v) { return tanh(v); }

#endif /* LSTMCORE_LSTM_MATH_H */
