# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The binding to the C core (csrc/lstm.h): one layer, one direction per call.

Arguments are checked here with the GIL held and turned into exceptions that name them; the C
call itself runs inside ``with nogil``. BLAS comes from ``scipy.linalg.cython_blas`` (SciPy's
bundled OpenBLAS), handed to C as a table of function pointers.

Shapes use the C legend: N packed rows, I input, H hidden, P projection (0: none), Ph = P or H,
G = 4H. Sequence arrays are packed time-major (N, width) as PyTorch's PackedSequence.
"""
cimport cython
cimport numpy as cnp
import numpy as np
from libc.limits cimport INT_MAX
from libc.math cimport sqrt, sqrtf
from libc.stdlib cimport free, malloc
from cpython.buffer cimport PyBUF_FORMAT, PyBUF_ND
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport sgemm, dgemm

cnp.import_array()

cdef extern from "lstm.h" nogil:
    ctypedef void lstm_sgemm_fn(char *, char *, int *, int *, int *, float *, float *, int *,
                                float *, int *, float *, float *, int *)
    ctypedef void lstm_dgemm_fn(char *, char *, int *, int *, int *, double *, double *, int *,
                                double *, int *, double *, double *, int *)
    ctypedef struct lstm_blas:
        lstm_sgemm_fn *sgemm
        lstm_dgemm_fn *dgemm
        int single_threaded
    ctypedef struct lstm_dims:
        int time_steps, batch, input_size, hidden_size, proj_size, reverse
        const int *batch_sizes
    ctypedef struct lstm_weights_f32:
        const float *w_ih
        const float *w_hh
        const float *b_ih
        const float *b_hh
        const float *w_hr
    ctypedef struct lstm_weights_f64:
        const double *w_ih
        const double *w_hh
        const double *b_ih
        const double *b_hh
        const double *w_hr
    ctypedef struct lstm_grads_f32:
        float *dw_ih
        float *dw_hh
        float *db_ih
        float *db_hh
        float *dw_hr
    ctypedef struct lstm_grads_f64:
        double *dw_ih
        double *dw_hh
        double *db_ih
        double *db_hh
        double *dw_hr
    const char *lstm_strerror(int status)
    int lstm_check_dims(const lstm_dims *d)
    int lstm_set_num_threads(int n)
    int lstm_get_num_threads()
    int lstm_set_adaptive_threads(int on)
    size_t lstm_rows(const lstm_dims *d)
    size_t lstm_cache_size(const lstm_dims *d)
    size_t lstm_forward_workspace_size(const lstm_dims *d, int training)
    size_t lstm_backward_workspace_size(const lstm_dims *d)
    int lstm_backward_splits_blas(const lstm_dims *d)
    int lstm_forward_splits_blas(const lstm_dims *d)
    int lstm_forward_f32(const lstm_blas *blas, float *y, int ldy, float *h_n, float *c_n,
                         float *cache, float *work, const float *x, const float *h0,
                         const float *c0, const lstm_weights_f32 *w, const lstm_dims *d)
    int lstm_forward_f64(const lstm_blas *blas, double *y, int ldy, double *h_n, double *c_n,
                         double *cache, double *work, const double *x, const double *h0,
                         const double *c0, const lstm_weights_f64 *w, const lstm_dims *d)
    int lstm_backward_f32(const lstm_blas *blas, float *dx, int accumulate_dx, float *dh0,
                          float *dc0, const lstm_grads_f32 *g, float *work, const float *dy,
                          int lddy, const float *dh_n, const float *dc_n, float *cache,
                          const float *y, int ldy, const float *x, const float *h0,
                          const float *c0, const lstm_weights_f32 *w, const lstm_dims *d)
    int lstm_backward_f64(const lstm_blas *blas, double *dx, int accumulate_dx, double *dh0,
                          double *dc0, const lstm_grads_f64 *g, double *work,
                          const double *dy, int lddy, const double *dh_n, const double *dc_n,
                          double *cache, const double *y, int ldy, const double *x,
                          const double *h0, const double *c0, const lstm_weights_f64 *w,
                          const lstm_dims *d)

ctypedef fused real:
    float
    double

cdef lstm_blas _blas
_blas.sgemm = <lstm_sgemm_fn *>sgemm
_blas.dgemm = <lstm_dgemm_fn *>dgemm
_blas.single_threaded = 0


# SciPy's OpenBLAS at 1 thread while backward calls that split their BLAS products over the
# core's threads run (lstm_backward_splits_blas; see _scipy_blas.py). Calls may overlap from
# several Python threads: the first to start saves the count and sets 1, the last to finish
# puts it back (both with the GIL held). False until looked up; None where SciPy's BLAS is not
# its bundled OpenBLAS, and then BLAS keeps its threads and the core calls it one at a time.
_scipy_blas = False
cdef int _blas_limit_depth = 0
cdef int _blas_saved_threads = 1


cdef bint _limit_blas_threads() except -1:
    global _scipy_blas, _blas_limit_depth, _blas_saved_threads
    if _scipy_blas is False:
        from ._scipy_blas import scipy_openblas_controller
        _scipy_blas = scipy_openblas_controller()
    if _scipy_blas is None:
        return False
    if _blas_limit_depth == 0:
        _blas_saved_threads = _scipy_blas.get_num_threads()
        if _blas_saved_threads != 1:
            _scipy_blas.set_num_threads(1)
    _blas_limit_depth += 1
    return True


cdef int _release_blas_threads() except -1:
    global _blas_limit_depth
    _blas_limit_depth -= 1
    if _blas_limit_depth == 0 and _blas_saved_threads != 1:
        _scipy_blas.set_num_threads(_blas_saved_threads)
    return 0


class CoreError(RuntimeError):
    """The C core refused a call that the binding's checks let through (a bug: report it)."""


cdef int _raise_status(int status) except -1:
    raise CoreError(lstm_strerror(status).decode())


def set_core_threads(int n):
    """Threads the C core may split a call over (its own, not BLAS's): 1 to 64."""
    if lstm_set_num_threads(n) != 0:
        raise ValueError(f"n must be from 1 to 64, got {n}")


def get_core_threads():
    """The C core's own thread count."""
    return lstm_get_num_threads()


def set_adaptive_threads(bint on):
    """Whether row-group calls choose between splitting and one thread by their times (lstm.h)."""
    lstm_set_adaptive_threads(on)


# ---- memory: large buffers kept for reuse --------------------------------------------------
# Every large buffer of a call (the packed copies, each layer's outputs, the saved gates, the
# C workspace, the arrays returned) comes from blocks that the process keeps when they are
# freed, and the next call of a similar size reuses them. Fresh memory costs a page fault for
# every 4 KB page at first touch, and glibc's malloc hands large blocks back to the kernel
# (munmap, or a heap trim once the free top of the heap passes a threshold that it adjusts as
# it goes), so a training step whose arrays were freed took every page fault again at the next
# step: 2,000 a step at (50, 64, 128, 128) with lengths, a third of its time. ONNX Runtime's
# arena keeps memory for the same reason.
#
# Blocks of at least POOL_MIN_BYTES only; up to POOL_SLOTS blocks and POOL_MAX_BYTES are kept
# (the oldest kept block is freed to make room); a request takes the smallest kept block that
# holds it, if that block is at most twice the request. release_memory() frees them all. The
# pool is touched only with the GIL held (a block's __dealloc__, the binding's calls), which
# serialises it.
DEF POOL_SLOTS = 32
# Every block starts on a 64-byte boundary (a cache line). The core's threads write rows of
# one array side by side (y, the cache, the states); where one thread's last row and the
# other's first shared a line, that line moved between the cores at every step, and malloc
# aligns to 16 bytes only: at the seed shape a 2-thread training step took 93 us with its
# arrays 16, 32 or 48 bytes past a line against 83 on lines (same process, alternating).
DEF ALIGN = 64
cdef size_t POOL_MIN_BYTES = 1 << 18
KEEP_MIN_BYTES = POOL_MIN_BYTES  # for Python: smaller arrays are NumPy's own
cdef size_t POOL_MAX_BYTES = 1 << 30
cdef void *_pool_ptr[POOL_SLOTS]
cdef size_t _pool_size[POOL_SLOTS]
cdef int _pool_count = 0
cdef size_t _pool_bytes = 0


cdef void *_aligned_malloc(size_t nbytes) noexcept nogil:
    """malloc on a 64-byte boundary (NULL when out of memory); free with _aligned_free. The
    offset to malloc's pointer, 1 to ALIGN bytes, is kept in the byte before the block."""
    if nbytes > (<size_t>-1) - ALIGN:
        return NULL
    cdef unsigned char *raw = <unsigned char *>malloc(nbytes + ALIGN)
    if raw == NULL:
        return NULL
    cdef size_t shift = ALIGN - (<size_t>raw) % ALIGN
    raw[shift - 1] = <unsigned char>shift
    return raw + shift


cdef void _aligned_free(void *p) noexcept nogil:
    if p != NULL:
        free(<unsigned char *>p - (<unsigned char *>p - 1)[0])


cdef void *_pool_take(size_t nbytes, size_t *capacity) noexcept:
    """A block of at least nbytes (its size in *capacity), kept or new; NULL when out of
    memory."""
    global _pool_count, _pool_bytes
    cdef int k, best = -1
    for k in range(_pool_count):
        if nbytes <= _pool_size[k] <= 2 * nbytes and (best < 0 or _pool_size[k] < _pool_size[best]):
            best = k
    cdef void *p = NULL
    if best >= 0:
        p = _pool_ptr[best]
        capacity[0] = _pool_size[best]
        _pool_bytes -= _pool_size[best]
        _pool_count -= 1
        for k in range(best, _pool_count):
            _pool_ptr[k] = _pool_ptr[k + 1]
            _pool_size[k] = _pool_size[k + 1]
        return p
    p = _aligned_malloc(nbytes if nbytes > 0 else 1)
    capacity[0] = nbytes
    return p


cdef void _pool_give(void *p, size_t capacity) noexcept:
    """Keeps block p of ``capacity`` bytes for reuse, freeing the oldest kept ones to make
    room, or frees it when it is small or larger than the pool."""
    global _pool_count, _pool_bytes
    cdef int k
    if p == NULL:
        return
    if capacity < POOL_MIN_BYTES or capacity > POOL_MAX_BYTES:
        _aligned_free(p)
        return
    while _pool_count > 0 and (_pool_count == POOL_SLOTS
                               or _pool_bytes + capacity > POOL_MAX_BYTES):
        _aligned_free(_pool_ptr[0])
        _pool_bytes -= _pool_size[0]
        _pool_count -= 1
        for k in range(_pool_count):
            _pool_ptr[k] = _pool_ptr[k + 1]
            _pool_size[k] = _pool_size[k + 1]
    _pool_ptr[_pool_count] = p
    _pool_size[_pool_count] = capacity
    _pool_count += 1
    _pool_bytes += capacity


def release_memory():
    """Frees the blocks kept for reuse (see lstmcore.release_memory)."""
    global _pool_count, _pool_bytes
    cdef int k
    for k in range(_pool_count):
        _aligned_free(_pool_ptr[k])
    _pool_count = 0
    _pool_bytes = 0


def kept_memory():
    """(blocks, bytes) kept for reuse."""
    return _pool_count, _pool_bytes


cdef class _Block:
    """A pool block seen as a writable buffer of bytes; back to the pool when the last array
    on it goes."""
    cdef void *ptr
    cdef size_t capacity
    cdef Py_ssize_t nbytes

    def __cinit__(self, Py_ssize_t nbytes):
        if nbytes < 0:
            raise ValueError(f"nbytes must be >= 0, got {nbytes}")
        self.ptr = _pool_take(<size_t>nbytes, &self.capacity)
        if self.ptr == NULL:
            raise MemoryError(f"cannot allocate {nbytes} bytes")
        self.nbytes = nbytes

    def __dealloc__(self):
        _pool_give(self.ptr, self.capacity)
        self.ptr = NULL

    def __getbuffer__(self, Py_buffer *buf, int flags):
        buf.buf = self.ptr
        buf.obj = self
        buf.len = self.nbytes
        buf.readonly = 0
        buf.itemsize = 1
        buf.format = NULL
        if flags & PyBUF_FORMAT:
            buf.format = b"B"
        buf.ndim = 1
        buf.shape = &self.nbytes if flags & PyBUF_ND else NULL
        buf.strides = NULL
        buf.suboffsets = NULL
        buf.internal = NULL

    def __releasebuffer__(self, Py_buffer *buf):
        pass


cdef object _array_on(_Block block, int nd, cnp.npy_intp *dims, int typenum):
    """A C-order array of typenum (a native dtype) over block's memory, which it keeps."""
    cdef cnp.ndarray arr = cnp.PyArray_SimpleNewFromData(nd, dims, typenum, block.ptr)
    cnp.set_array_base(arr, block)
    return arr


# empty()'s dtypes: the argument as given -> (dtype, itemsize, type number, native byte
# order). np.dtype() costs as much as the rest of empty(), which every call makes 7 times.
cdef dict _dtype_info = {}


cdef tuple _dtype_of(object dtype):
    cdef tuple info
    try:
        info = _dtype_info.get(dtype)
    except TypeError:  # an unhashable spelling (a structured dtype's list)
        info = None
    if info is not None:
        return info
    dt = np.dtype(dtype)
    info = (dt, dt.itemsize, dt.num, dt.isnative)
    try:
        if len(_dtype_info) < 64:
            _dtype_info[dtype] = info
    except TypeError:
        pass
    return info


def empty(shape, dtype):
    """np.empty(shape, dtype), C order, on a 64-byte boundary (see ALIGN); large arrays on a
    kept block (see above)."""
    dt, itemsize, typenum, native = _dtype_of(dtype)
    if isinstance(shape, int):
        shape = (shape,)
    cdef cnp.npy_intp dims[cnp.NPY_MAXDIMS]
    cdef Py_ssize_t nd = len(shape), axis
    if nd > cnp.NPY_MAXDIMS:
        raise ValueError(f"shape must have at most {cnp.NPY_MAXDIMS} axes, got {shape}")
    # Bytes in C, each product checked against PY_SSIZE_T_MAX: a shape past it (2**80
    # elements) is refused, never wrapped; a zero axis makes any other size fine.
    cdef size_t nbytes = <size_t>itemsize, limit = <size_t>PY_SSIZE_T_MAX
    cdef bint too_large = False
    for axis in range(nd):
        n = shape[axis]
        if n < 0:
            raise ValueError(f"shape must not be negative, got {shape}")
        if n > PY_SSIZE_T_MAX:
            too_large = True
            continue
        dims[axis] = n
        if dims[axis] == 0:
            nbytes = 0
        elif nbytes > limit // <size_t>dims[axis]:
            too_large = True
        else:
            nbytes *= <size_t>dims[axis]
    if too_large and nbytes != 0:
        raise MemoryError(f"cannot allocate an array of shape {shape} and dtype {dt}")
    if too_large:  # a zero axis beside a huge one: NumPy says what it makes of that
        return np.empty(shape, dt)
    block = _Block(<Py_ssize_t>nbytes)
    if not native:
        return np.frombuffer(block, dt, nbytes // itemsize if itemsize else 0).reshape(shape)
    return _array_on(block, <int>nd, dims, typenum)


cdef void *_workspace(size_t count, size_t itemsize, size_t *capacity) except NULL:
    """Scratch for one C call, given back by the caller with _pool_give: a raw block, since an
    array would cost a memoryview to reach its data on every call."""
    if count == 0:
        count = 1
    cdef void *p = NULL
    if count <= (<size_t>-1) // itemsize:
        p = _pool_take(count * itemsize, capacity)
    if p == NULL:
        raise MemoryError(f"cannot allocate {count} * {itemsize} bytes of workspace")
    return p


# ---- packing: the rows of a padded batch with lengths, in the core's packed order ---------
# A padded batch is (T, B, X) time-major or (B, T, X) batch-major, seen here as 2-D rows: the
# row of (time t, sequence b) is t * step_stride + b * seq_stride. Packed, the rows of step t
# are the batch_sizes[t] longest sequences in ``order`` (lstm.h). One pass with a row copy each
# replaces NumPy's take and scatter and the index arrays they need: at (50, 64, 128, 128) the
# packing's NumPy calls cost a tenth of a variable-length inference call.

def packing_order(const long long[::1] lengths, int T):
    """For lengths (B,) in [1, T]: None when every length is T, else (order, batch_sizes, N):
    order (B,) intp, the sequences by decreasing length, ties in batch order (a stable sort);
    batch_sizes (T,) int32, the sequences longer than t at step t; N their sum, the packed
    rows."""
    cdef Py_ssize_t B = lengths.shape[0], b
    cdef int t, n
    cdef bint full = True
    if T < 1:
        raise ValueError(f"T must be at least 1, got {T}")
    for b in range(B):
        if not 1 <= lengths[b] <= T:
            raise ValueError(f"lengths must lie in [1, {T}], got {lengths[b]} at {b}")
        full = full and lengths[b] == T
    if full:
        return None
    order_arr = np.empty(B, np.intp)
    sizes_arr = np.zeros(T, np.int32)
    cdef Py_ssize_t[::1] order = order_arr
    cdef int[::1] sizes = sizes_arr
    cdef Py_ssize_t[::1] next_slot = np.empty(T + 1, np.intp)
    cdef Py_ssize_t rows = 0
    # A counting sort: count each length, then place each sequence after all longer ones.
    for b in range(B):
        sizes[lengths[b] - 1] += 1
        rows += lengths[b]
    n = 0
    for t in range(T - 1, -1, -1):  # sizes[t]: sequences of length t + 1 -> longer than t
        n += sizes[t]
        sizes[t] = n
    next_slot[T] = 0  # the first of length T goes first
    for t in range(T):  # length t: after all of length > t, i.e. after sizes[t] of them
        next_slot[t] = sizes[t]
    for b in range(B):
        order[next_slot[lengths[b]]] = b
        next_slot[lengths[b]] += 1
    return order_arr, sizes_arr, rows


cdef Py_ssize_t _packing_steps(const Py_ssize_t[::1] order, const int[::1] batch_sizes,
                               Py_ssize_t padded_rows, Py_ssize_t packed_rows,
                               Py_ssize_t step_stride, Py_ssize_t seq_stride) except -1:
    """T, after a ValueError unless order and batch_sizes (None: every step has all B
    sequences) describe packed_rows rows of a padded array of T * B rows with these strides."""
    cdef Py_ssize_t B = order.shape[0], n = 0, b, t
    if B == 0:
        raise ValueError("order must hold at least one sequence")
    cdef Py_ssize_t T = padded_rows // B if batch_sizes is None else batch_sizes.shape[0]
    if T * B != padded_rows or (step_stride, seq_stride) not in ((B, 1), (1, T)):
        raise ValueError(f"padded must hold T * B = {T} * {B} rows, time- or batch-major, "
                         f"got {padded_rows} rows with strides ({step_stride}, {seq_stride})")
    for b in range(B):
        if not 0 <= order[b] < B:
            raise ValueError(f"order must hold batch indices in [0, {B}), got {order[b]}")
    if batch_sizes is None:
        n = T * B
    for t in range(T if batch_sizes is not None else 0):
        if not 0 <= batch_sizes[t] <= B:
            raise ValueError(f"batch_sizes must lie in [0, {B}], got {batch_sizes[t]}")
        n += batch_sizes[t]
    if n != packed_rows:
        raise ValueError(f"packed must have sum(batch_sizes) = {n} rows, got {packed_rows}")
    return T


cdef extern from "lstm_threads.h" nogil:
    ctypedef void (*lstm_part_fn)(void *ctx, int part) noexcept nogil
    void lstm_parallel_for(int parts, lstm_part_fn fn, void *ctx)


ctypedef struct _RowCopy:
    char *padded
    char *packed
    size_t row_bytes
    Py_ssize_t T, B, step_stride, seq_stride  # in rows
    const Py_ssize_t *order
    const int *batch_sizes  # NULL: every step whole
    bint unpack             # packed -> padded, zeros past each length; else padded -> packed
    int parts


cdef inline Py_ssize_t _step_rows(const _RowCopy *c, Py_ssize_t t) noexcept nogil:
    return c.B if c.batch_sizes == NULL else c.batch_sizes[t]


@cython.cdivision(True)  # the divisions below have positive operands
cdef void _copy_part(void *ctx, int part) noexcept nogil:
    """Steps [t0, t1) of a row copy: the part's share of the rows it writes (a step's valid
    rows when packing, all B when unpacking)."""
    cdef const _RowCopy *c = <const _RowCopy *>ctx
    cdef Py_ssize_t t, j, n = 0, total = 0, done = 0, t0 = -1, t1 = c.T
    for t in range(c.T):
        total += c.B if c.unpack else _step_rows(c, t)
    cdef Py_ssize_t lo = total * part // c.parts, hi = total * (part + 1) // c.parts
    for t in range(c.T):  # the part's steps, and n: the packed row where step t0 starts
        if t0 < 0 and done >= lo:
            t0 = t
        if done >= hi:
            t1 = t
            break
        done += c.B if c.unpack else _step_rows(c, t)
        if t0 < 0:
            n += _step_rows(c, t)
    if t0 < 0:
        return
    cdef char *row
    for t in range(t0, t1):
        for j in range(c.B if c.unpack else _step_rows(c, t)):
            row = c.padded + (t * c.step_stride + c.order[j] * c.seq_stride) * c.row_bytes
            if not c.unpack:
                memcpy(c.packed + n * c.row_bytes, row, c.row_bytes)
                n += 1
            elif j < _step_rows(c, t):
                memcpy(row, c.packed + n * c.row_bytes, c.row_bytes)
                n += 1
            else:  # all-bits-zero is 0.0 in IEEE 754
                memset(row, 0, c.row_bytes)


# Rows a copy must have for each part it is split into: below this the hand-off costs more.
DEF COPY_ROWS_PER_PART = 256


cdef int _copy_rows(char *padded, char *packed, size_t row_bytes, Py_ssize_t T,
                    const Py_ssize_t[::1] order, const int[::1] batch_sizes,
                    Py_ssize_t step_stride, Py_ssize_t seq_stride, bint unpack) except -1:
    """The row copy, split over the core's threads when it is large: out of cache, one core
    copied 0.8 MB in 170 us, a sixth of its speed on cached rows."""
    cdef _RowCopy c
    c.padded, c.packed, c.row_bytes = padded, packed, row_bytes
    c.T, c.B, c.step_stride, c.seq_stride = T, order.shape[0], step_stride, seq_stride
    c.order = &order[0]
    c.batch_sizes = NULL  # not a conditional expression: Cython's temporary for it drops const
    if batch_sizes is not None:
        c.batch_sizes = &batch_sizes[0]
    c.unpack = unpack
    cdef Py_ssize_t rows = T * c.B
    c.parts = lstm_get_num_threads()
    if c.parts > rows // COPY_ROWS_PER_PART:
        c.parts = <int>(rows // COPY_ROWS_PER_PART)
    if c.parts < 1:
        c.parts = 1
    if row_bytes == 0:
        return 0
    with nogil:
        if c.parts == 1:
            _copy_part(&c, 0)
        else:
            lstm_parallel_for(c.parts, _copy_part, &c)
    return 0


def pack_rows(const real[:, ::1] padded, real[:, ::1] packed, Py_ssize_t step_stride,
              Py_ssize_t seq_stride, const Py_ssize_t[::1] order, const int[::1] batch_sizes):
    """packed (N, X) <- the valid rows of padded (T*B, X), step by step in ``order``;
    batch_sizes None: every step whole (a state's rows put in order)."""
    cdef Py_ssize_t T = _packing_steps(order, batch_sizes, padded.shape[0], packed.shape[0],
                                       step_stride, seq_stride)
    if padded.shape[1] != packed.shape[1]:
        raise ValueError(f"packed must have padded's {padded.shape[1]} columns, "
                         f"got {packed.shape[1]}")
    if packed.shape[0] == 0 or packed.shape[1] == 0:
        return
    _copy_rows(<char *>&padded[0, 0], <char *>&packed[0, 0], padded.shape[1] * sizeof(real),
               T, order, batch_sizes, step_stride, seq_stride, False)


def unpack_rows(const real[:, ::1] packed, real[:, ::1] padded, Py_ssize_t step_stride,
                Py_ssize_t seq_stride, const Py_ssize_t[::1] order, const int[::1] batch_sizes):
    """padded (T*B, X) <- packed (N, X) at its rows, zeros at every row past a length: each
    padded row written once. batch_sizes None: every step whole."""
    cdef Py_ssize_t T = _packing_steps(order, batch_sizes, padded.shape[0], packed.shape[0],
                                       step_stride, seq_stride)
    if padded.shape[1] != packed.shape[1]:
        raise ValueError(f"padded must have packed's {packed.shape[1]} columns, "
                         f"got {padded.shape[1]}")
    if padded.shape[1] == 0:
        return
    _copy_rows(<char *>&padded[0, 0], NULL if packed.shape[0] == 0 else <char *>&packed[0, 0],
               padded.shape[1] * sizeof(real), T, order, batch_sizes, step_stride, seq_stride,
               True)


# ---- the layer calls' arrays --------------------------------------------------------------
# layer_forward and layer_backward take up to 22 arrays a call and read them through NumPy's
# C API. A typed memoryview per argument cost about 0.15 us to acquire: 3.5 of the 5.5 us that
# a tiny forward and backward spent in the binding. Every array of a call has x's dtype.

cdef int _call_dtype(object x) except -1:
    """The call's NumPy type number, x's: float32 or float64."""
    if not cnp.PyArray_Check(x):
        raise TypeError(f"x must be a NumPy array, got {type(x).__name__}")
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>x)
    if typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64:
        raise TypeError(f"x must have dtype float32 or float64, got {x.dtype}")
    return typenum


cdef char *_data(str name, object a, int typenum, int ndim, bint writable,
                 bint required) except? NULL:
    """a's data, NULL for None when not required: a NumPy array of typenum with ndim axes,
    C-contiguous and aligned, writable when asked. Errors name the argument."""
    if a is None:
        if required:
            raise TypeError(f"{name} must be an array, got None")
        return NULL
    if not cnp.PyArray_Check(a):
        raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if cnp.PyArray_TYPE(arr) != typenum:
        raise TypeError(f"{name} must have dtype {cnp.PyArray_DescrFromType(typenum)}, "
                        f"got {a.dtype}")
    if cnp.PyArray_NDIM(arr) != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr) or not cnp.PyArray_ISALIGNED(arr):
        raise ValueError(f"{name} must be C-contiguous and aligned")
    if writable and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{name} must be writable, got a read-only array")
    return <char *>cnp.PyArray_DATA(arr)


cdef int _size(str name, object a, int axis) except -1:
    """Axis `axis` of array a (checked by _data), which sets a size of the call: an int."""
    cdef cnp.npy_intp n = cnp.PyArray_DIM(<cnp.ndarray>a, axis)
    if n > INT_MAX:
        raise ValueError(f"{name} has {n} elements along axis {axis}, more than the {INT_MAX} "
                         f"that BLAS's 32-bit sizes can index")
    return <int>n


# The shape checks compare C integers and build a message only on failure.
cdef int _expect_2d(str name, object a, Py_ssize_t rows, Py_ssize_t cols) except -1:
    if a is None:
        return 0
    cdef cnp.npy_intp *shape = cnp.PyArray_DIMS(<cnp.ndarray>a)
    if shape[0] != rows or shape[1] != cols:
        raise ValueError(f"{name} must have shape {(rows, cols)}, got {(shape[0], shape[1])}")
    return 0


cdef int _expect_1d(str name, object a, Py_ssize_t size) except -1:
    if a is None:
        return 0
    cdef cnp.npy_intp n = cnp.PyArray_DIM(<cnp.ndarray>a, 0)
    if n != size:
        raise ValueError(f"{name} must have shape {(size,)}, got {(n,)}")
    return 0


cdef int _expect_layer(bint grads, object w_ih, object w_hh, object b_ih, object b_hh, int H,
                       int I, int Ph) except -1:
    """The shapes of a layer's weights and biases, (4H, I), (4H, Ph), (4H,), (4H,), or with
    ``grads`` of their gradients (named dw_ih ... db_hh); None skips one."""
    _expect_2d("dw_ih" if grads else "w_ih", w_ih, 4 * H, I)
    _expect_2d("dw_hh" if grads else "w_hh", w_hh, 4 * H, Ph)
    _expect_1d("db_ih" if grads else "b_ih", b_ih, 4 * H)
    _expect_1d("db_hh" if grads else "b_hh", b_hh, 4 * H)
    return 0


# y and dy may hold other layers' columns: the call reads or writes Ph of them from col on.
cdef int _expect_rows(str name, object a, size_t rows, Py_ssize_t col, int Ph) except -1:
    if a is None:
        return 0
    cdef cnp.npy_intp *shape = cnp.PyArray_DIMS(<cnp.ndarray>a)
    if shape[0] != <cnp.npy_intp>rows or col < 0 or col + Ph > shape[1]:
        raise ValueError(f"{name} must have {rows} rows and room for {Ph} columns at {col}, "
                         f"got shape {(shape[0], shape[1])}")
    return 0


cdef lstm_dims _dims(int T, int B, int I, int H, int P, bint reverse,
                     object batch_sizes) except *:
    cdef lstm_dims d
    d.time_steps = T
    d.batch = B
    d.input_size = I
    d.hidden_size = H
    d.proj_size = P
    d.reverse = reverse
    d.batch_sizes = <const int *>_data("batch_sizes", batch_sizes, cnp.NPY_INT32, 1, False,
                                       False)
    if batch_sizes is not None and cnp.PyArray_DIM(<cnp.ndarray>batch_sizes, 0) != T:
        raise ValueError(f"batch_sizes must have length T={T}, got {len(batch_sizes)}")
    cdef int status = lstm_check_dims(&d)
    if status != 0:
        raise ValueError(f"invalid layer sizes (T={T}, B={B}, I={I}, H={H}, P={P}): "
                         + lstm_strerror(status).decode())
    return d


cdef inline size_t _itemsize(int typenum) noexcept:
    """Bytes of an element of the call's dtype (_call_dtype: float32 or float64)."""
    return 4 if typenum == cnp.NPY_FLOAT32 else 8


cdef object _empty_1d(size_t count, int typenum):
    """An empty 1-D array of count elements, as empty() gives it."""
    cdef cnp.npy_intp n = <cnp.npy_intp>count
    if count > <size_t>PY_SSIZE_T_MAX // _itemsize(typenum):
        raise MemoryError(f"cannot allocate {count} elements")
    return _array_on(_Block(<Py_ssize_t>(count * _itemsize(typenum))), 1, &n, typenum)


def layer_forward(x, y, Py_ssize_t y_col, h_n, c_n, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0,
                  batch_sizes, int T, bint reverse, bint training):
    """Forward of one layer and direction.

    x (N, I) float32 or float64, and every other array of x's dtype, C-contiguous; y (N, width)
    receives h in columns [y_col, y_col + Ph); h_n (B, Ph), c_n (B, H) receive the final
    states; weights as PyTorch (w_ih (G, I), w_hh (G, Ph), biases (G,) or None, w_hr (P, H) or
    None); h0 (B, Ph), c0 (B, H) or None for zeros; batch_sizes (T,) int32 or None. Returns the
    cache (1-D array, consumed by ``layer_backward``) when training, else None.
    """
    cdef int typenum = _call_dtype(x)
    cdef char *x_p = _data("x", x, typenum, 2, False, True)
    cdef char *y_p = _data("y", y, typenum, 2, True, True)
    cdef char *h_n_p = _data("h_n", h_n, typenum, 2, True, True)
    cdef char *c_n_p = _data("c_n", c_n, typenum, 2, True, True)
    cdef char *w_ih_p = _data("w_ih", w_ih, typenum, 2, False, True)
    cdef char *w_hh_p = _data("w_hh", w_hh, typenum, 2, False, True)
    cdef char *b_ih_p = _data("b_ih", b_ih, typenum, 1, False, False)
    cdef char *b_hh_p = _data("b_hh", b_hh, typenum, 1, False, False)
    cdef char *w_hr_p = _data("w_hr", w_hr, typenum, 2, False, False)
    cdef char *h0_p = _data("h0", h0, typenum, 2, False, False)
    cdef char *c0_p = _data("c0", c0, typenum, 2, False, False)

    cdef int B = _size("h_n", h_n, 0), I = _size("x", x, 1), H = _size("c_n", c_n, 1)
    cdef int P = 0 if w_hr is None else _size("w_hr", w_hr, 0)
    cdef int Ph = P if P > 0 else H
    cdef lstm_dims d = _dims(T, B, I, H, P, reverse, batch_sizes)
    cdef size_t N = lstm_rows(&d)
    _expect_2d("x", x, N, I)
    _expect_rows("y", y, N, y_col, Ph)
    _expect_2d("h_n", h_n, B, Ph)
    _expect_2d("c_n", c_n, B, H)
    _expect_layer(False, w_ih, w_hh, b_ih, b_hh, H, I, Ph)
    _expect_2d("h0", h0, B, Ph)
    _expect_2d("c0", c0, B, H)
    _expect_2d("w_hr", w_hr, P, H)

    y_p += y_col * _itemsize(typenum)
    return _forward_call(&d, typenum, x_p, y_p, _size("y", y, 1), h_n_p, c_n_p, w_ih_p, w_hh_p,
                         b_ih_p, b_hh_p, w_hr_p, h0_p, c0_p, training)


cdef object _forward_call(const lstm_dims *dims, int typenum, char *x_p, char *y_p, int ldy,
                          char *h_n_p, char *c_n_p, char *w_ih_p, char *w_hh_p, char *b_ih_p,
                          char *b_hh_p, char *w_hr_p, char *h0_p, char *c0_p, bint training):
    """The C forward on checked arrays (layer_forward, single_forward): returns the cache
    (training) or None."""
    cdef lstm_dims d = dims[0]
    cache = _empty_1d(lstm_cache_size(&d), typenum) if training else None
    cdef char *cache_p = NULL
    if training:
        cache_p = <char *>cnp.PyArray_DATA(<cnp.ndarray>cache)
    cdef size_t itemsize = _itemsize(typenum)
    cdef int status
    cdef lstm_weights_f32 w32
    cdef lstm_weights_f64 w64
    cdef size_t work_bytes
    cdef void *work = _workspace(lstm_forward_workspace_size(&d, training), itemsize,
                                 &work_bytes)
    cdef lstm_blas blas = _blas
    cdef bint blas_limited = False
    try:
        if lstm_forward_splits_blas(&d):
            blas_limited = _limit_blas_threads()
            blas.single_threaded = blas_limited
        if typenum == cnp.NPY_FLOAT32:
            w32.w_ih, w32.w_hh = <float *>w_ih_p, <float *>w_hh_p
            w32.b_ih, w32.b_hh, w32.w_hr = <float *>b_ih_p, <float *>b_hh_p, <float *>w_hr_p
            with nogil:
                status = lstm_forward_f32(&blas, <float *>y_p, ldy, <float *>h_n_p,
                                          <float *>c_n_p, <float *>cache_p, <float *>work,
                                          <float *>x_p, <float *>h0_p, <float *>c0_p, &w32, &d)
        else:
            w64.w_ih, w64.w_hh = <double *>w_ih_p, <double *>w_hh_p
            w64.b_ih, w64.b_hh, w64.w_hr = <double *>b_ih_p, <double *>b_hh_p, <double *>w_hr_p
            with nogil:
                status = lstm_forward_f64(&blas, <double *>y_p, ldy, <double *>h_n_p,
                                          <double *>c_n_p, <double *>cache_p, <double *>work,
                                          <double *>x_p, <double *>h0_p, <double *>c0_p, &w64,
                                          &d)
    finally:
        _pool_give(work, work_bytes)
        if blas_limited:
            _release_blas_threads()
    if status != 0:
        _raise_status(status)
    return cache


def layer_backward(dx, bint accumulate_dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr,
                   dy, Py_ssize_t dy_col, dh_n, dc_n, cache, y, Py_ssize_t y_col, x, h0, c0,
                   w_ih, w_hh, w_hr, batch_sizes, int T, bint reverse):
    """Backward of one layer and direction, consuming ``cache`` from ``layer_forward``.

    Every array of x's dtype, C-contiguous. dx (N, I) receives (or, with accumulate_dx, adds)
    the input gradient, None to skip it; dh0 (B, Ph), dc0 (B, H) receive the initial-state
    gradients; dw_* / db_* are added into (None skips one); dy (N, width) read from column
    dy_col, or None; dh_n, dc_n or None; y the forward's output (N, width) at column y_col; the
    rest as given to the forward.
    """
    cdef int typenum = _call_dtype(x)
    cdef char *dx_p = _data("dx", dx, typenum, 2, True, False)
    cdef char *dh0_p = _data("dh0", dh0, typenum, 2, True, True)
    cdef char *dc0_p = _data("dc0", dc0, typenum, 2, True, True)
    cdef char *dw_ih_p = _data("dw_ih", dw_ih, typenum, 2, True, False)
    cdef char *dw_hh_p = _data("dw_hh", dw_hh, typenum, 2, True, False)
    cdef char *db_ih_p = _data("db_ih", db_ih, typenum, 1, True, False)
    cdef char *db_hh_p = _data("db_hh", db_hh, typenum, 1, True, False)
    cdef char *dw_hr_p = _data("dw_hr", dw_hr, typenum, 2, True, False)
    cdef char *dy_p = _data("dy", dy, typenum, 2, False, False)
    cdef char *dh_n_p = _data("dh_n", dh_n, typenum, 2, False, False)
    cdef char *dc_n_p = _data("dc_n", dc_n, typenum, 2, False, False)
    cdef char *cache_p = _data("cache", cache, typenum, 1, True, True)
    cdef char *y_p = _data("y", y, typenum, 2, False, True)
    cdef char *x_p = _data("x", x, typenum, 2, False, True)
    cdef char *h0_p = _data("h0", h0, typenum, 2, False, False)
    cdef char *c0_p = _data("c0", c0, typenum, 2, False, False)
    cdef char *w_ih_p = _data("w_ih", w_ih, typenum, 2, False, True)
    cdef char *w_hh_p = _data("w_hh", w_hh, typenum, 2, False, True)
    cdef char *w_hr_p = _data("w_hr", w_hr, typenum, 2, False, False)

    cdef int B = _size("dh0", dh0, 0), I = _size("x", x, 1), H = _size("dc0", dc0, 1)
    cdef int P = 0 if w_hr is None else _size("w_hr", w_hr, 0)
    cdef int Ph = P if P > 0 else H
    cdef lstm_dims d = _dims(T, B, I, H, P, reverse, batch_sizes)
    cdef size_t N = lstm_rows(&d)
    _expect_2d("x", x, N, I)
    _expect_2d("dx", dx, N, I)
    _expect_2d("dh0", dh0, B, Ph)
    _expect_2d("dc0", dc0, B, H)
    _expect_2d("dh_n", dh_n, B, Ph)
    _expect_2d("dc_n", dc_n, B, H)
    _expect_2d("h0", h0, B, Ph)
    _expect_2d("c0", c0, B, H)
    _expect_layer(False, w_ih, w_hh, None, None, H, I, Ph)
    _expect_layer(True, dw_ih, dw_hh, db_ih, db_hh, H, I, Ph)
    if w_hr is not None:
        _expect_2d("w_hr", w_hr, P, H)
        _expect_2d("dw_hr", dw_hr, P, H)
    _expect_1d("cache", cache, lstm_cache_size(&d))
    _expect_rows("y", y, N, y_col, Ph)
    _expect_rows("dy", dy, N, dy_col, Ph)

    cdef size_t itemsize = _itemsize(typenum)
    cdef int ldy = _size("y", y, 1)
    cdef int lddy = 0 if dy is None else _size("dy", dy, 1)
    y_p += y_col * itemsize
    if dy_p != NULL:
        dy_p += dy_col * itemsize
    _backward_call(&d, typenum, dx_p, accumulate_dx, dh0_p, dc0_p, dw_ih_p, dw_hh_p, db_ih_p,
                   db_hh_p, dw_hr_p, dy_p, lddy, dh_n_p, dc_n_p, cache_p, y_p, ldy, x_p, h0_p,
                   c0_p, w_ih_p, w_hh_p, w_hr_p)


cdef int _backward_call(const lstm_dims *dims, int typenum, char *dx_p, bint accumulate_dx,
                        char *dh0_p, char *dc0_p, char *dw_ih_p, char *dw_hh_p, char *db_ih_p,
                        char *db_hh_p, char *dw_hr_p, char *dy_p, int lddy, char *dh_n_p,
                        char *dc_n_p, char *cache_p, char *y_p, int ldy, char *x_p,
                        char *h0_p, char *c0_p, char *w_ih_p, char *w_hh_p,
                        char *w_hr_p) except -1:
    """The C backward on checked arrays (layer_backward, single_backward)."""
    cdef lstm_dims d = dims[0]
    cdef size_t itemsize = _itemsize(typenum)
    cdef int status
    cdef lstm_weights_f32 w32
    cdef lstm_weights_f64 w64
    cdef lstm_grads_f32 g32
    cdef lstm_grads_f64 g64
    cdef lstm_blas blas = _blas
    cdef size_t work_bytes
    cdef void *work = _workspace(lstm_backward_workspace_size(&d), itemsize, &work_bytes)
    cdef bint blas_limited = False
    try:
        if lstm_backward_splits_blas(&d):
            blas_limited = _limit_blas_threads()
            blas.single_threaded = blas_limited
        if typenum == cnp.NPY_FLOAT32:
            w32.w_ih, w32.w_hh, w32.w_hr = <float *>w_ih_p, <float *>w_hh_p, <float *>w_hr_p
            w32.b_ih = w32.b_hh = NULL
            g32.dw_ih, g32.dw_hh = <float *>dw_ih_p, <float *>dw_hh_p
            g32.db_ih, g32.db_hh, g32.dw_hr = <float *>db_ih_p, <float *>db_hh_p, <float *>dw_hr_p
            with nogil:
                status = lstm_backward_f32(&blas, <float *>dx_p, accumulate_dx, <float *>dh0_p,
                                           <float *>dc0_p, &g32, <float *>work, <float *>dy_p,
                                           lddy, <float *>dh_n_p, <float *>dc_n_p,
                                           <float *>cache_p, <float *>y_p, ldy, <float *>x_p,
                                           <float *>h0_p, <float *>c0_p, &w32, &d)
        else:
            w64.w_ih, w64.w_hh, w64.w_hr = <double *>w_ih_p, <double *>w_hh_p, <double *>w_hr_p
            w64.b_ih = w64.b_hh = NULL
            g64.dw_ih, g64.dw_hh = <double *>dw_ih_p, <double *>dw_hh_p
            g64.db_ih, g64.db_hh = <double *>db_ih_p, <double *>db_hh_p
            g64.dw_hr = <double *>dw_hr_p
            with nogil:
                status = lstm_backward_f64(&blas, <double *>dx_p, accumulate_dx,
                                           <double *>dh0_p, <double *>dc0_p, &g64,
                                           <double *>work, <double *>dy_p, lddy,
                                           <double *>dh_n_p, <double *>dc_n_p,
                                           <double *>cache_p, <double *>y_p, ldy,
                                           <double *>x_p, <double *>h0_p, <double *>c0_p,
                                           &w64, &d)
    finally:
        _pool_give(work, work_bytes)
        if blas_limited:
            _release_blas_threads()
    if status != 0:
        _raise_status(status)
    return 0


# ---- the usual call of a one-layer model, in one function each way ------------------------
# A model of one layer and one direction without projection, called on a batched, time-major,
# C-contiguous x of its dtype, with no lengths and no initial state: the usual call. Around
# layer_forward and layer_backward the general path (lstm.py) spends about 5 us of a seed
# training step in Python, a sixteenth of it; these check, allocate and call C in one go. A
# call they do not cover returns None before anything is allocated or written, and the
# caller takes the general path, whose checks and conversions then apply.

cdef object _new_array(int nd, cnp.npy_intp *dims, int typenum):
    """An uninitialised C-order array on a 64-byte boundary, as empty() makes it."""
    cdef size_t nbytes = _itemsize(typenum)
    cdef int axis
    for axis in range(nd):
        nbytes *= <size_t>dims[axis]
    return _array_on(_Block(<Py_ssize_t>nbytes), nd, dims, typenum)


def single_forward(x, w_ih, w_hh, b_ih, b_hh, size_t row_bytes, memory, bint training):
    """Forward of a one-layer, one-direction model without projection on x (T, B, I),
    C-contiguous, of w_hh's dtype: returns (y (T, B, H), h_n (1, B, H), c_n (1, B, H), cache),
    the cache (for single_backward or layer_backward) None unless training. None when x is
    not such an array, its sizes are out of range, or the call needs more than ``memory``
    bytes (``row_bytes`` a row of x; memory None: unknown)."""
    if not cnp.PyArray_Check(x) or not cnp.PyArray_Check(w_hh) or not cnp.PyArray_Check(w_ih):
        return None
    cdef cnp.ndarray xa = <cnp.ndarray>x
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>w_hh)
    if ((typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64)
            or cnp.PyArray_TYPE(xa) != typenum or cnp.PyArray_NDIM(xa) != 3
            or not cnp.PyArray_IS_C_CONTIGUOUS(xa) or not cnp.PyArray_ISALIGNED(xa)
            or cnp.PyArray_NDIM(<cnp.ndarray>w_ih) != 2):
        return None
    cdef cnp.npy_intp *shape = cnp.PyArray_DIMS(xa)
    cdef cnp.npy_intp T = shape[0], B = shape[1], I = shape[2]
    if (T < 1 or B < 1 or T * B > INT_MAX or I > INT_MAX
            or I != cnp.PyArray_DIM(<cnp.ndarray>w_ih, 1)
            or (memory is not None and <double>T * B * row_bytes > memory)):
        return None
    cdef char *w_ih_p = _data("w_ih", w_ih, typenum, 2, False, True)
    cdef char *w_hh_p = _data("w_hh", w_hh, typenum, 2, False, True)
    cdef char *b_ih_p = _data("b_ih", b_ih, typenum, 1, False, False)
    cdef char *b_hh_p = _data("b_hh", b_hh, typenum, 1, False, False)
    cdef int H = _size("w_hh", w_hh, 1)
    cdef lstm_dims d = _dims(<int>T, <int>B, <int>I, H, 0, False, None)
    _expect_layer(False, w_ih, w_hh, b_ih, b_hh, H, I, H)
    cdef cnp.npy_intp dims[3]
    dims[0], dims[1], dims[2] = T, B, H
    y = _new_array(3, dims, typenum)
    dims[0] = 1
    h_n = _new_array(3, dims, typenum)
    c_n = _new_array(3, dims, typenum)
    cache = _forward_call(&d, typenum, <char *>cnp.PyArray_DATA(xa),
                          <char *>cnp.PyArray_DATA(<cnp.ndarray>y), H,
                          <char *>cnp.PyArray_DATA(<cnp.ndarray>h_n),
                          <char *>cnp.PyArray_DATA(<cnp.ndarray>c_n), w_ih_p, w_hh_p, b_ih_p,
                          b_hh_p, NULL, NULL, NULL, training)
    return y, h_n, c_n, cache


def single_backward(dy, x, y, cache, dw_ih, dw_hh, db_ih, db_hh, w_ih, w_hh, owner):
    """Backward of single_forward's call from dy (T, B, H), C-contiguous, of x's dtype:
    returns (dx (T, B, I), dh0 (1, B, H), dc0 (1, B, H)), adding into the weight gradients
    (None skips one). x (T*B, I) and y (T*B, H) are the forward's, as its LSTMCache keeps
    them. None, with nothing written, when dy is not such an array; otherwise sets
    ``owner.consumed`` (the LSTMCache) before the C call overwrites the cache."""
    if not cnp.PyArray_Check(dy) or not cnp.PyArray_Check(x) or not cnp.PyArray_Check(y):
        return None
    cdef cnp.ndarray dya = <cnp.ndarray>dy
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>x)
    if (cnp.PyArray_TYPE(dya) != typenum or cnp.PyArray_NDIM(dya) != 3
            or not cnp.PyArray_IS_C_CONTIGUOUS(dya) or not cnp.PyArray_ISALIGNED(dya)
            or cnp.PyArray_NDIM(<cnp.ndarray>x) != 2 or cnp.PyArray_NDIM(<cnp.ndarray>y) != 2):
        return None
    cdef cnp.npy_intp *shape = cnp.PyArray_DIMS(dya)
    cdef cnp.npy_intp T = shape[0], B = shape[1], H = shape[2]
    cdef cnp.npy_intp I = cnp.PyArray_DIM(<cnp.ndarray>x, 1)
    if (T * B != cnp.PyArray_DIM(<cnp.ndarray>x, 0) or T * B != cnp.PyArray_DIM(<cnp.ndarray>y, 0)
            or H != cnp.PyArray_DIM(<cnp.ndarray>y, 1) or H > INT_MAX or I > INT_MAX):
        return None
    cdef char *x_p = _data("x", x, typenum, 2, False, True)
    cdef char *y_p = _data("y", y, typenum, 2, False, True)
    cdef char *cache_p = _data("cache", cache, typenum, 1, True, True)
    cdef char *dw_ih_p = _data("dw_ih", dw_ih, typenum, 2, True, False)
    cdef char *dw_hh_p = _data("dw_hh", dw_hh, typenum, 2, True, False)
    cdef char *db_ih_p = _data("db_ih", db_ih, typenum, 1, True, False)
    cdef char *db_hh_p = _data("db_hh", db_hh, typenum, 1, True, False)
    cdef char *w_ih_p = _data("w_ih", w_ih, typenum, 2, False, True)
    cdef char *w_hh_p = _data("w_hh", w_hh, typenum, 2, False, True)
    cdef lstm_dims d = _dims(<int>T, <int>B, <int>I, <int>H, 0, False, None)
    _expect_layer(False, w_ih, w_hh, None, None, <int>H, <int>I, <int>H)
    _expect_layer(True, dw_ih, dw_hh, db_ih, db_hh, <int>H, <int>I, <int>H)
    _expect_1d("cache", cache, lstm_cache_size(&d))
    cdef cnp.npy_intp dims[3]
    dims[0], dims[1], dims[2] = T, B, I
    dx = _new_array(3, dims, typenum)
    dims[0], dims[2] = 1, H
    dh0 = _new_array(3, dims, typenum)
    dc0 = _new_array(3, dims, typenum)
    owner.consumed = True  # the C core overwrites the saved gates from here on
    _backward_call(&d, typenum, <char *>cnp.PyArray_DATA(<cnp.ndarray>dx), False,
                   <char *>cnp.PyArray_DATA(<cnp.ndarray>dh0),
                   <char *>cnp.PyArray_DATA(<cnp.ndarray>dc0), dw_ih_p, dw_hh_p, db_ih_p,
                   db_hh_p, NULL, <char *>cnp.PyArray_DATA(dya), <int>H, NULL, NULL, cache_p,
                   y_p, <int>H, x_p, NULL, NULL, w_ih_p, w_hh_p, NULL)
    return dx, dh0, dc0


cdef extern from "lstm_math.h" nogil:
    float lstm_sigmoid_f32(float v)
    float lstm_tanh_f32(float v)


def gate_math_f32(const float[::1] v, str name):
    """The C core's float32 sigmoid or tanh over ``v`` (1-D): exposed to test their accuracy."""
    out = np.empty(v.shape[0], np.float32)
    cdef float[::1] o = out
    cdef Py_ssize_t k
    if name == "sigmoid":
        for k in range(v.shape[0]):
            o[k] = lstm_sigmoid_f32(v[k])
    elif name == "tanh":
        for k in range(v.shape[0]):
            o[k] = lstm_tanh_f32(v[k])
    else:
        raise ValueError(f"name must be 'sigmoid' or 'tanh', got {name!r}")
    return out


# IEEE division, as NumPy's: 0/0 (no initial accumulator, eps=0, a zero gradient) is NaN, not a
# ZeroDivisionError half-way through p. Without Cython's zero test in the loop GCC vectorises it:
# 3,600 float32 elements (the seed shape's W_hh) in 2.7 us instead of 10.1.
@cython.cdivision(True)
def adagrad_update(real[::1] p, const real[::1] grad, real[::1] acc, double clr, double eps,
                   double weight_decay, bint maximize):
    """One Adagrad step on a parameter, in place, fused in one pass (optim.Adagrad._update).

    p, grad, acc (n,) of one dtype, contiguous. Element by element the arithmetic of the NumPy
    expressions it replaces, in the array's dtype and in their order (no FMA: -std=c11), so
    the results are the same bits: g = -grad if maximize; g += weight_decay * p;
    acc += g * g; p += (-clr * g) / (sqrt(acc) + eps). A fused loop: six NumPy calls per
    parameter were most of the optimizer's time at the seed shape.
    """
    cdef Py_ssize_t n = p.shape[0], k
    if grad.shape[0] != n or acc.shape[0] != n:
        raise ValueError(f"grad and acc must have p's {n} elements, "
                         f"got {grad.shape[0]} and {acc.shape[0]}")
    cdef real g, s
    cdef real neg_clr = <real>(-clr), eps_r = <real>eps, wd = <real>weight_decay
    cdef bint decay = weight_decay != 0
    with nogil:
        for k in range(n):
            g = -grad[k] if maximize else grad[k]
            if decay:
                g = g + wd * p[k]
            acc[k] = acc[k] + g * g
            if real is float:
                s = sqrtf(acc[k])
            else:
                s = sqrt(acc[k])
            p[k] = p[k] + (neg_clr * g) / (s + eps_r)
