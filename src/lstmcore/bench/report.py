"""What a bench run prints and writes: the machine description, the tables, the JSON file."""
import datetime
import importlib.metadata
import json
import os
import platform
import statistics

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
        # malloc's settings change how often the per-call arrays fault their pages in (README)
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES"),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _format(value, spec):
    return "-" if value is None else format(value, spec)


def results_table(results, markdown=False):
    """One line per (shape, work, peer): median ms, GFLOP/s, % of ceiling, time / lstmcore,
    and the median over rounds of the page faults a call took."""
    header = ("shape", "size", "work", "peer", "median ms", "GFLOP/s", "% ceiling",
              "x lstmcore", "faults/call")
    rows = [(r["shape"], r["size"], r["work"], r["peer"], _format(r["median_ms"], ".3f"),
             _format(r["gflops"], ".2f"), _format(r["ceiling_pct"], ".1f"),
             _format(r["time_vs_lstmcore"], ".2f"), _format(r.get("faults_per_call"), ".0f"))
            for r in results]
    return _table(header, rows, 4, markdown)


def memory_table(results, markdown=False):
    """Peak RSS of a training step against the minimum it could use, per peer; "" if none."""
    header = ("shape", "peer", "peak RSS MB", "minimum MB", "peak / minimum")
    rows = [(r["shape"], r["peer"], _format(_mb(r["peak_rss_bytes"]), ".1f"),
             _format(_mb(r["minimum_bytes"]), ".1f"),
             _format(r["peak_rss_bytes"] / r["minimum_bytes"]
                     if r["peak_rss_bytes"] is not None else None, ".2f"))
            for r in results if r["work"] == "training"]
    return _table(header, rows, 2, markdown) if rows else ""


_MEMORY_NOTE = ("peak RSS of one training step in a fresh process (VmHWM above the baseline "
                "after imports); minimum = weights + grads + saved gates and cells + x, y, dy, dx")

_PADDING_NOTE = ("lstmcore-padded is lstmcore on a variable-length batch's padded equivalent "
                 "(every sequence T long), timed in the same rounds; the variable-length batch "
                 "took")


def padding_lines(results):
    """For each variable-length shape and work timed beside its padded batch (run.PADDED_TWIN):
    the share of the padded batch's time it took, as the median over rounds of the two's
    ratio in each round (timed back to back, so under the same load), beside the share of the
    batch's steps that are valid."""
    lines = []
    for twin in (r for r in results if r["peer"] == "lstmcore-padded"):
        own = next((r for r in results if r["peer"] == "lstmcore" and r["work"] == twin["work"]
                    and r["shape"] == twin["shape"]), None)
        if own is None or len(own["times_ms"]) != len(twin["times_ms"]):
            continue
        share = statistics.median(a / b for a, b in zip(own["times_ms"], twin["times_ms"]))
        valid = own["valid_steps"] / (twin["T"] * twin["B"])
        lines.append(f"{own['shape']} {own['work']}: {share:.2f} of the padded batch's time "
                     f"(median of per-round ratios), for {valid:.2f} of its steps valid")
    return lines


def text(document):
    """What the bench command prints: a summary line, the tables, the skipped peers."""
    machine, ceiling, settings = document["machine"], document["ceiling"], document["settings"]
    lines = [f"{machine['cpu']}, {machine['usable_cores']} cores, {settings['threads']} threads, "
             f"{settings['rounds']} rounds; ceiling {ceiling['gflops']:.1f} GFLOP/s (float32 "
             f"GEMM {ceiling['n']}x{ceiling['n']}); x lstmcore = peer time / lstmcore time",
             results_table(document["results"])]
    padding = padding_lines(document["results"])
    if padding:
        lines += ["", _PADDING_NOTE] + padding
    memory = memory_table(document["results"])
    if memory:
        lines += ["", _MEMORY_NOTE, memory]
    lines += [f"skipped: {s['shape']} {s['work']} {s['peer']}: {s['reason']}"
              for s in document["skipped"]]
    return "\n".join(lines)


def markdown(document):
    """The machine, the settings and the tables as a Markdown section for BENCHMARKS.md."""
    machine, ceiling, settings = document["machine"], document["ceiling"], document["settings"]
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items()
                         if version)
    blas = "; ".join(f"{lib['internal_api']} {lib['version']} ({lib['architecture']}) "
                     f"{lib['filepath'].rsplit('/', 1)[-1]}" for lib in machine["blas"])
    lines = [
        f"Run {machine['date']}: `python -m lstmcore bench {' '.join(settings['argv'])}`".rstrip(),
        "",
        f"- Machine: {machine['cpu']}, {machine['usable_cores']} usable cores "
        f"({machine['logical_cores']} logical), {machine['platform']}, Python {machine['python']}",
        f"- Packages: {versions}",
        f"- BLAS: {blas}",
        f"- {settings['threads']} threads for every peer; medians over {settings['rounds']} "
        f"rounds, peers taking turns, each in its own process",
        f"- Ceiling: float32 GEMM {ceiling['n']}x{ceiling['n']} through NumPy, "
        f"{ceiling['gflops']:.1f} GFLOP/s",
    ]
    if machine.get("glibc_tunables"):
        lines.append(f"- GLIBC_TUNABLES={machine['glibc_tunables']}")
    lines += [
        "",
        "x lstmcore = peer time / lstmcore time (above 1: lstmcore is faster).",
        "",
        results_table(document["results"], markdown=True),
    ]
    padding = padding_lines(document["results"])
    if padding:
        lines += ["", _PADDING_NOTE[0].upper() + _PADDING_NOTE[1:] + ":", ""]
        lines += [f"- {line}" for line in padding]
    memory = memory_table(document["results"], markdown=True)
    if memory:
        lines += ["", _MEMORY_NOTE[0].upper() + _MEMORY_NOTE[1:] + ".", "", memory]
    if document["skipped"]:
        lines += [""] + [f"- skipped: {s['shape']} {s['work']} {s['peer']}: {s['reason']}"
                         for s in document["skipped"]]
    return "\n".join(lines) + "\n"


def _mb(size):
    return None if size is None else size / 2**20


def _table(header, rows, right_from, markdown):
    """Aligned plain text, or a Markdown table; columns from ``right_from`` on are numbers."""
    if markdown:
        rule = ["---:" if k >= right_from else "---" for k in range(len(header))]
        return "\n".join("| " + " | ".join(map(str, row)) + " |" for row in [header, rule, *rows])
    widths = [max(len(str(row[k])) for row in [header, *rows]) for k in range(len(header))]

    def line(row):
        return "  ".join(str(cell).rjust(w) if k >= right_from else str(cell).ljust(w)
                         for k, (cell, w) in enumerate(zip(row, widths))).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def write_json(path, document):
    with open(path, "w") as out:
        json.dump(document, out, indent=2)
        out.write("\n")
