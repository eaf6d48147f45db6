"""``python -m lstmcore bench``: lstmcore, the NumPy reference and installed peers side by side.

Each peer runs in a worker process of its own (:mod:`lstmcore.bench.worker`), all with the
same thread count. For every shape and work the workers are set up one after another, then
take turns round by round (the starting peer rotating), so slow drift in the machine's speed
falls on every peer alike, and each waits until the previous one's threads have gone idle
(:func:`wait_until_idle`); each round runs enough calls to last about ROUND_SECONDS and the
median over rounds is reported. The ceiling is NumPy's float32 GEMM rate on CEILING_N² matrices
at the same thread count, measured the same way at the start of the run.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace

from . import peers as peer_table
from . import report
from .shapes import DEFAULT, SHAPES, WORKS, minimum_training_bytes, parse_shapes

ROUND_SECONDS = 0.05
CEILING_N = 2048
# The name of lstmcore on a variable-length shape's padded batch, timed beside it (_entries).
PADDED_TWIN = "lstmcore-padded"
# The reference is skipped where one call takes longer than this: it would dominate the run.
REFERENCE_MAX_SECONDS = 2.0
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _cpu_ticks(pid):
    """User plus system CPU time of process ``pid`` so far, in clock ticks."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_until_idle(pid, timeout=1.0):
    """Returns once process ``pid`` has used no CPU for 30 ms (or after ``timeout`` s).

    After a call returns, BLAS and OpenMP threads keep spinning for a while (OpenBLAS about
    0.1 s) before they sleep; a peer timed meanwhile would share its cores with them.
    Where /proc is unavailable it waits a fixed 0.2 s instead.
    """
    deadline = time.monotonic() + timeout
    try:
        last, quiet = _cpu_ticks(pid), 0
        while quiet < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
            now = _cpu_ticks(pid)
            quiet = quiet + 1 if now == last else 0
            last = now
    except OSError:
        time.sleep(0.2)


class WorkerError(RuntimeError):
    """A worker process died or could not do what it was asked."""


class _Worker:
    """The parent's end of one worker process."""

    def __init__(self, peer, threads):
        env = dict(os.environ)
        env.update({name: str(threads) for name in _THREAD_VARIABLES})
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "lstmcore.bench.worker", peer], env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)

    def ask(self, **request):
        try:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            self._process.wait()
            self._stderr.seek(0)
            tail = self._stderr.read().strip().splitlines()[-3:]
            raise WorkerError(f"worker exited with status {self._process.returncode}: "
                              + " / ".join(tail))
        reply = json.loads(line)
        wait_until_idle(self._process.pid)
        if "error" in reply:
            raise WorkerError(reply["error"])
        return reply

    def close(self):
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._stderr.close()


def _median_ms(seconds):
    return 1e3 * statistics.median(seconds)


def measure_ceiling(threads, rounds):
    """GFLOP/s of float32 A @ B on (CEILING_N, CEILING_N) matrices: 2·n³ flops a call."""
    worker = _Worker("gemm", threads)
    try:
        worker.ask(op="setup", peer="gemm", n=CEILING_N, threads=threads,
                   round_seconds=ROUND_SECONDS)
        seconds = [worker.ask(op="run_round")["seconds"] for _ in range(rounds)]
    finally:
        worker.close()
    ms = _median_ms(seconds)
    return {"n": CEILING_N, "median_ms": ms, "gflops": 2 * CEILING_N**3 / (ms * 1e6)}


def _entries(shape, peers):
    """What one measure() times: {name: (peer, shape)}, each peer on the shape, and for a
    variable-length shape also lstmcore on its padded batch (PADDED_TWIN), in the same rounds:
    the two are then timed under the same load, which the machine's drift between runs of
    different shapes would not give (their ratio is what the core's skipping of the padding
    is judged by)."""
    entries = {peer: (peer, shape) for peer in peers}
    if shape.varlen and "lstmcore" in peers:
        entries[PADDED_TWIN] = ("lstmcore", replace(shape, varlen=False))
    return entries


def measure(shape, work, peers, threads, rounds, ceiling_gflops, log):
    """Times ``peers`` on one shape and work; returns (results, skipped) as JSON-ready dicts."""
    entries = _entries(shape, peers)
    workers = {name: _Worker(peer, threads) for name, (peer, _) in entries.items()}
    skipped, setups = [], {}

    def skip(peer, reason):
        skipped.append({"shape": shape.name, "work": work, "peer": peer, "reason": reason})
        log(f"{shape.name:>12} {work:<9} {peer:<11} skipped: {reason}")

    try:
        for name, worker in workers.items():
            peer, timed_shape = entries[name]
            limit = {"max_seconds": REFERENCE_MAX_SECONDS} if peer == "reference" else {}
            try:
                setups[name] = worker.ask(op="setup", peer=peer, shape=asdict(timed_shape),
                                          work=work, threads=threads,
                                          round_seconds=ROUND_SECONDS, **limit)
            except WorkerError as err:
                skip(name, str(err))
        seconds = {name: [] for name in setups}
        faults = {name: [] for name in setups}
        for r in range(rounds):
            turn = list(seconds)
            for name in turn[r % len(turn):] + turn[:r % len(turn)] if turn else []:
                try:
                    reply = workers[name].ask(op="run_round")
                except WorkerError as err:
                    del seconds[name]
                    skip(name, str(err))
                    continue
                seconds[name].append(reply["seconds"])
                faults[name].append(reply.get("faults"))
    finally:
        for worker in workers.values():
            worker.close()

    results = [_result(entries[name][1], work, name, times, faults[name], setups[name],
                       ceiling_gflops) for name, times in seconds.items()]
    base = next((r["median_ms"] for r in results if r["peer"] == "lstmcore"), None)
    for r in results:
        r["time_vs_lstmcore"] = r["median_ms"] / base if base else None
        log(f"{shape.name:>12} {work:<9} {r['peer']:<11} {r['median_ms']:10.3f} ms")
    return results, skipped


def _result(shape, work, peer, seconds, faults, setup, ceiling_gflops):
    ms = _median_ms(seconds)
    known = [f for f in faults if f is not None]
    gflops = shape.flops(work) / (ms * 1e6)
    return {
        "shape": shape.name, "size": shape.describe(), "T": shape.T, "B": shape.B,
        "I": shape.I, "H": shape.H, "num_layers": shape.num_layers,
        "bidirectional": shape.bidirectional, "varlen": shape.varlen,
        "valid_steps": shape.valid_steps(), "work": work, "peer": peer,
        "flops": shape.flops(work), "median_ms": ms, "times_ms": [1e3 * s for s in seconds],
        "calls_per_round": setup["number"], "gflops": gflops,
        "faults_per_call": statistics.median(known) if known else None,
        "ceiling_pct": 100 * gflops / ceiling_gflops,
        "peak_rss_bytes": setup["peak_rss_bytes"],
        "minimum_bytes": minimum_training_bytes(shape) if work == "training" else None,
        "libraries": setup["libraries"],
    }


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m lstmcore bench",
        description="Time lstmcore, the NumPy reference and installed peers side by side, "
                    "each in its own process, and report ms, GFLOP/s, share of the GEMM "
                    "ceiling and ratios.")
    parser.add_argument("--shapes", nargs="+", default=list(DEFAULT), metavar="SHAPE",
                        help="names (%s), 'all', 'default' or T,B,I,H tuples; default: %s"
                             % (", ".join(SHAPES), " ".join(DEFAULT)))
    parser.add_argument("--work", choices=("inference", "training", "both"), default="both")
    parser.add_argument("--threads", type=int, default=2, help="threads for every peer (2)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per peer (5)")
    parser.add_argument("--peers", nargs="+", metavar="PEER",
                        help="some of %s (comma- or space-separated); default: every one "
                             "installed" % ", ".join(peer_table.PEERS))
    parser.add_argument("--json", metavar="PATH", help="write results and machine info here")
    parser.add_argument("--markdown", metavar="PATH",
                        help="write the machine and the tables as Markdown (for BENCHMARKS.md)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.epilog = (
        "Columns: median ms over rounds; GFLOP/s from 2*T*B*(I+H)*4H flops a layer and "
        "direction forward, 3x for a training step; % ceiling of NumPy's float32 GEMM rate; "
        "x lstmcore = peer time / lstmcore time (above 1: lstmcore is faster). Peak RSS: "
        "the high-water mark of a fresh worker process over building the model and one "
        "training step, against weights + grads + saved activations + inputs/outputs.")
    return parser


def _chosen_peers(parser, items):
    if items is None:
        chosen = [p for p in peer_table.PEERS if peer_table.missing_reason(p) is None]
        for peer in peer_table.PEERS:
            if peer not in chosen:
                print(f"note: peer {peer} left out: {peer_table.missing_reason(peer)}",
                      file=sys.stderr)
        return chosen
    chosen = list(dict.fromkeys(w for item in items for w in item.replace(",", " ").split()))
    for peer in chosen:
        reason = peer_table.missing_reason(peer)
        if reason is not None:
            parser.error(f"--peers: {reason}")
    return chosen


def main(argv=None):
    """Runs the benchmark; returns the exit status (0, or 1 when nothing could be timed).
    Bad options print a message and raise SystemExit(2), as argparse does."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        shapes = parse_shapes(args.shapes)
    except ValueError as err:
        parser.error(f"--shapes: {err}")
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    for option, path in (("--json", args.json), ("--markdown", args.markdown)):
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            parser.error(f"{option}: no directory for {path!r}")
    peers = _chosen_peers(parser, args.peers)
    if not peers:
        parser.error("--peers: none of the peers is installed")
    works = WORKS if args.work == "both" else (args.work,)

    def log(message):
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    # Taken before the run, so the date and the load average describe the machine as found.
    machine = report.machine_info()
    if machine["load_average"] and machine["load_average"][0] > 0.5:
        # OpenMP peers (torch) slow down by orders of magnitude when a core is taken.
        print(f"warning: the machine is busy (load average {machine['load_average'][0]:.1f});"
              " timings may be noisy", file=sys.stderr)
    ceiling = measure_ceiling(args.threads, args.rounds)
    log(f"ceiling: float32 GEMM {CEILING_N}x{CEILING_N}, {args.threads} threads: "
        f"{ceiling['gflops']:.1f} GFLOP/s")
    results, skipped = [], []
    for shape in shapes:
        for work in works:
            chosen = [p for p in peers if work == "inference" or p in peer_table.TRAINING_PEERS]
            if chosen:
                done, missed = measure(shape, work, chosen, args.threads, args.rounds,
                                       ceiling["gflops"], log)
                results += done
                skipped += missed

    document = {
        "machine": machine,
        "settings": {"argv": list(sys.argv[1:] if argv is None else argv),
                     "threads": args.threads, "rounds": args.rounds, "peers": peers,
                     "works": list(works), "round_seconds": ROUND_SECONDS,
                     "reference_max_seconds": REFERENCE_MAX_SECONDS},
        "ceiling": ceiling, "results": results, "skipped": skipped}
    print(report.text(document))
    if args.json:
        report.write_json(args.json, document)
    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write(report.markdown(document))
    return 0 if results else 1
