"""What a bench run prints and writes: the machine description, the tables, the JSON file."""
import datetime
import importlib.metadata
import json
import os
import platform

_PACKAGES = ("numpy", "scipy", "threadpoolctl", "torch", "onnxruntime", "onnx")


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info():
    """CPU, cores, platform, package versions and the BLAS libraries NumPy and SciPy load."""
    import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's BLAS, which lstmcore calls)
    from threadpoolctl import threadpool_info

    import lstmcore

    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {"lstmcore": lstmcore.__version__,
                     **{package: _version(package) for package in _PACKAGES}},
        "blas": [{key: lib.get(key) for key in
                  ("internal_api", "version", "architecture", "num_threads", "filepath")}
                 for lib in threadpool_info()],
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _format(value, spec):
    return "-" if value is None else format(value, spec)


def results_table(results):
    """One line per (shape, work, peer): median ms, GFLOP/s, % of ceiling, time / lstmcore."""
    header = ("shape", "size", "work", "peer", "median ms", "GFLOP/s", "% ceiling",
              "x lstmcore")
    rows = [(r["shape"], r["size"], r["work"], r["peer"], _format(r["median_ms"], ".3f"),
             _format(r["gflops"], ".2f"), _format(r["ceiling_pct"], ".1f"),
             _format(r["time_vs_lstmcore"], ".2f")) for r in results]
    return _table(header, rows, right_from=4)


def memory_table(results):
    """Peak RSS of a training step against the minimum it could use, per peer."""
    header = ("shape", "peer", "peak RSS MB", "minimum MB", "peak / minimum")
    rows = [(r["shape"], r["peer"], _format(_mb(r["peak_rss_bytes"]), ".1f"),
             _format(_mb(r["minimum_bytes"]), ".1f"),
             _format(r["peak_rss_bytes"] / r["minimum_bytes"]
                     if r["peak_rss_bytes"] is not None else None, ".2f"))
            for r in results if r["work"] == "training"]
    return _table(header, rows, right_from=2) if rows else ""


def _mb(size):
    return None if size is None else size / 2**20


def _table(header, rows, right_from):
    widths = [max(len(str(row[k])) for row in [header, *rows]) for k in range(len(header))]

    def line(row):
        return "  ".join(str(cell).rjust(w) if k >= right_from else str(cell).ljust(w)
                         for k, (cell, w) in enumerate(zip(row, widths))).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def write_json(path, document):
    with open(path, "w") as out:
        json.dump(document, out, indent=2)
        out.write("\n")
