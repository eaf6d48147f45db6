/*
 * lstmcore: the gate nonlinearities, one pair per dtype.
 */
#ifndef LSTMCORE_LSTM_MATH_H
#define LSTMCORE_LSTM_MATH_H

#include <math.h>

static inline float lstm_sigmoid_f32(float v) { return 1.0f / (1.0f + expf(-v)); }
static inline float lstm_tanh_f32(float v) { return tanhf(v); }
static inline double lstm_sigmoid_f64(double v) { return 1.0 / (1.0 + exp(-v)); }
static inline double lstm_tanh_f64(double v) { return tanh(v); }

#endif /* LSTMCORE_LSTM_MATH_H */
