/*
 * run_model: inference with an LSTM exported from Python by lstmcore.cexport.save_c_model,
 * through the C core alone (csrc/lstm.h).
 *
 *   run_model MODEL [INPUT] [--batch B] [--sequence]
 *
 * Reads whitespace-separated numbers from INPUT, or stdin when it is absent or "-". Every B*I
 * of them are one time step: B sequences (default 1) of I inputs each. Prints one line per
 * step: the B*Ph outputs of the last layer (sequence after sequence), "%.9g" each, so the
 * printed float32 values are exact.
 *
 * By default it streams: each step runs as soon as it is read, one lstm_forward_f32 call per
 * layer with T = 1 and h_n/c_n aliasing h0/c0, so the state advances in place (lstm.h allows
 * the aliasing) and the output is printed and flushed before the next step is read. With
 * --sequence it reads every step first and runs each layer once over the whole sequence; the
 * outputs are the same.
 *
 * L layers, T time steps, B batch, I input size, H hidden size, P projection (0: none),
 * Ph = P or H (a layer's output size), G = 4H, I_k = I for layer 0 and Ph after it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lstm.h"

/* The BLAS's Fortran GEMM: the naive one of csrc/tests by default, or any BLAS's (Makefile). */
extern lstm_sgemm_fn sgemm_;

#define MODEL_MAGIC "lstmcore"
enum { MODEL_VERSION = 1, MODEL_HEADER_BYTES = 32, MODEL_FLAG_BIAS = 1 };

typedef struct model {
    int L, I, H, P, has_bias;
    float *params;                 /* every weight, in file order; the views below point in */
    lstm_weights_f32 *layers;      /* (L) the weights of each layer */
} model;

/* A little-endian uint32 or float32 from 4 bytes, whatever the host's byte order. */
static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static float le_float(const unsigned char *b)
{
    uint32_t bits = le32(b);
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static int layer_input_size(const model *m, int k)
{
    return k == 0 ? m->I : (m->P ? m->P : m->H);
}

/* Floats of layer k in the file: w_ih (G, I_k), w_hh (G, Ph), b_ih, b_hh (G), w_hr (P, H). */
static size_t layer_floats(const model *m, int k)
{
    const size_t G = 4 * (size_t)m->H, Ph = m->P ? m->P : m->H;
    return G * layer_input_size(m, k) + G * Ph + (m->has_bias ? 2 * G : 0)
           + (size_t)m->P * m->H;
}

/* Loads a model file into m; on error prints why and returns 0. */
static int load_model(const char *path, model *m)
{
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 0;
    }
    unsigned char header[MODEL_HEADER_BYTES];
    int ok = fread(header, 1, sizeof header, f) == sizeof header
             && memcmp(header, MODEL_MAGIC, 8) == 0;
    if (!ok) fprintf(stderr, "%s: not an lstmcore C model (save_c_model writes one)\n", path);
    if (ok && le32(header + 8) != MODEL_VERSION) {
        fprintf(stderr, "%s: format version %u, this program reads %d\n", path,
                (unsigned)le32(header + 8), MODEL_VERSION);
        ok = 0;
    }
    const uint32_t L = le32(header + 12), I = le32(header + 16), H = le32(header + 20),
                   P = le32(header + 24), flags = le32(header + 28);
    /* Sizes the core takes (it checks the rest) and that cannot overflow the counts below. */
    if (ok && (L < 1 || L > 1024 || I < 1 || I > (1u << 24) || H < 1 || H > (1u << 24)
               || P > (1u << 24) || (flags & ~(uint32_t)MODEL_FLAG_BIAS))) {
        fprintf(stderr, "%s: bad header (L=%u I=%u H=%u P=%u flags=%u)\n", path, (unsigned)L,
                (unsigned)I, (unsigned)H, (unsigned)P, (unsigned)flags);
        ok = 0;
    }
    size_t total = 0;
    unsigned char *bytes = NULL;
    if (ok) {
        *m = (model){(int)L, (int)I, (int)H, (int)P, (flags & MODEL_FLAG_BIAS) != 0, NULL, NULL};
        for (int k = 0; k < m->L; k++) total += layer_floats(m, k);
        bytes = malloc(total * 4);
        m->params = malloc(total * sizeof(float));
        m->layers = malloc((size_t)L * sizeof *m->layers);
        ok = bytes && m->params && m->layers;
        if (!ok) fprintf(stderr, "%s: out of memory for %zu weights\n", path, total);
    }
    if (ok && (fread(bytes, 4, total, f) != total || fgetc(f) != EOF)) {
        fprintf(stderr, "%s: expected %zu weights after the header, the file size differs\n",
                path, total);
        ok = 0;
    }
    fclose(f);
    if (ok) {
        for (size_t i = 0; i < total; i++) m->params[i] = le_float(bytes + 4 * i);
        const size_t G = 4 * (size_t)m->H, Ph = m->P ? m->P : m->H;
        float *p = m->params;
        for (int k = 0; k < m->L; k++) {
            lstm_weights_f32 *w = &m->layers[k];
            w->w_ih = p, p += G * layer_input_size(m, k);
            w->w_hh = p, p += G * Ph;
            w->b_ih = m->has_bias ? p : NULL, p += m->has_bias ? G : 0;
            w->b_hh = m->has_bias ? p : NULL, p += m->has_bias ? G : 0;
            w->w_hr = m->P ? p : NULL, p += (size_t)m->P * m->H;
        }
    }
    free(bytes);
    if (!ok) {
        free(m->params);
        free(m->layers);
        memset(m, 0, sizeof *m);
    }
    return ok;
}

/* Reads count numbers into dst. Returns 1 if it did, 0 at the end of the input before the
 * first, -1 (after saying why) on a bad number or an input that stops inside a step. */
static int read_step(FILE *in, float *dst, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        int r = fscanf(in, "%f", &dst[i]);
        if (r == EOF && i == 0) return 0;
        if (r != 1) {
            fprintf(stderr, r == EOF ? "input ends inside a time step (%zu of %zu numbers)\n"
                                     : "input: number %zu of a step is not a number\n",
                    i, count);
            return -1;
        }
    }
    return 1;
}

static void print_rows(const float *y, size_t steps, size_t width)
{
    for (size_t t = 0; t < steps; t++)
        for (size_t j = 0; j < width; j++)
            printf("%.9g%c", y[t * width + j], j + 1 == width ? '\n' : ' ');
}

/* Runs the layers over T steps of x (T*B, I): the core's inference forward (no cache), from
 * each layer's state in h (L, B, Ph) and c (L, B, H), which it updates in place. Layer k's
 * output is layer k+1's input; the last one's lands in y (T*B, Ph). buf is (T*B, Ph) scratch,
 * work lstm_forward_workspace_size elements for T, B (the same for every layer). Returns the
 * core's status. */
static int run_layers(const model *m, float *y, float *buf, float *work, float *h, float *c,
                      const float *x, int T, int B)
{
    const lstm_blas blas = {sgemm_, NULL, 0};
    const int Ph = m->P ? m->P : m->H;
    int status = LSTM_OK;
    for (int k = 0; k < m->L && status == LSTM_OK; k++) {
        const lstm_dims d = {T, B, layer_input_size(m, k), m->H, m->P, 0, NULL};
        /* Layers alternate between y and buf, so that the last writes y and none overwrites
         * its own input. */
        float *out = (m->L - 1 - k) % 2 ? buf : y;
        const float *in = k == 0 ? x : (m->L - k) % 2 ? buf : y;
        float *hk = h + (size_t)k * B * Ph, *ck = c + (size_t)k * B * m->H;
        status = lstm_forward_f32(&blas, out, Ph, hk, ck, NULL, work, in, hk, ck,
                                  &m->layers[k], &d);
    }
    return status;
}

/* Workspace elements of a run over T steps (lstm.h: it does not depend on the input size). */
static size_t workspace_size(const model *m, int T, int B)
{
    const lstm_dims d = {T, B, m->I, m->H, m->P, 0, NULL};
    return lstm_forward_workspace_size(&d, 0);
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *input_path = NULL;
    int B = 1, whole_sequence = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sequence") == 0) whole_sequence = 1;
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) B = atoi(argv[++i]);
        else if (!model_path) model_path = argv[i];
        else if (!input_path) input_path = argv[i];
        else model_path = NULL, i = argc; /* too many arguments */
    }
    if (!model_path || B < 1) {
        fprintf(stderr, "usage: %s MODEL [INPUT] [--batch B] [--sequence]\n", argv[0]);
        return 2;
    }
    model m;
    if (!load_model(model_path, &m)) return 1;
    FILE *in = !input_path || strcmp(input_path, "-") == 0 ? stdin : fopen(input_path, "r");
    if (!in) {
        perror(input_path);
        free(m.params);
        free(m.layers);
        return 1;
    }

    const int Ph = m.P ? m.P : m.H;
    const size_t step_in = (size_t)B * m.I, step_out = (size_t)B * Ph;
    float *h = calloc((size_t)m.L * B * Ph, sizeof(float));  /* (L, B, Ph) zeros */
    float *c = calloc((size_t)m.L * B * m.H, sizeof(float)); /* (L, B, H) zeros */
    float *x = NULL, *y = NULL, *buf = NULL, *work = NULL;
    int T = 0, status = LSTM_OK, read = 1, ok = h && c;

    if (ok && !whole_sequence) {
        /* Streaming: one step in, one step through every layer, one line out. */
        x = malloc(step_in * sizeof(float));
        y = malloc(step_out * sizeof(float));
        buf = malloc(step_out * sizeof(float));
        work = malloc(workspace_size(&m, 1, B) * sizeof(float));
        ok = x && y && buf && work;
        while (ok && status == LSTM_OK && (read = read_step(in, x, step_in)) == 1) {
            status = run_layers(&m, y, buf, work, h, c, x, 1, B);
            if (status == LSTM_OK) print_rows(y, 1, step_out);
            fflush(stdout);
        }
    } else if (ok) {
        /* Whole sequence: read every step, then one call per layer. */
        size_t capacity = 0;
        for (;;) {
            if ((size_t)T == capacity) {
                capacity = capacity ? 2 * capacity : 64;
                float *grown = realloc(x, capacity * step_in * sizeof(float));
                if (!grown) {
                    ok = 0;
                    break;
                }
                x = grown;
            }
            if ((read = read_step(in, x + (size_t)T * step_in, step_in)) != 1) break;
            T++;
        }
        if (ok && read == 0 && T > 0) {
            y = malloc((size_t)T * step_out * sizeof(float));
            buf = malloc((size_t)T * step_out * sizeof(float));
            work = malloc(workspace_size(&m, T, B) * sizeof(float));
            ok = y && buf && work;
            if (ok) status = run_layers(&m, y, buf, work, h, c, x, T, B);
            if (ok && status == LSTM_OK) print_rows(y, (size_t)T, step_out);
        }
    }
    if (!ok) fprintf(stderr, "out of memory\n");
    if (status != LSTM_OK) fprintf(stderr, "lstm_forward_f32: %s\n", lstm_strerror(status));
    if (in != stdin) fclose(in);
    free(x), free(y), free(buf), free(work), free(h), free(c), free(m.params), free(m.layers);
    return ok && status == LSTM_OK && read == 0 ? 0 : 1;
}
