#!/usr/bin/env python3
"""Side-by-side benchmark: restoring N stored sessions with multisession, with Inrupt's Node
library and with bare refresh requests, against the same provider set-up.

    python3 bench/peer/peer.py [--n 200,2000,20000]
        [--contenders floor,multisession-memory,multisession-sqlite,multisession-file,inrupt]
        [--modes seq,64] [--build-dir build-peer] [--write-docs docs/performance.md]
        [--warmup W] [--json FILE] [--verbose]
    python3 bench/peer/peer.py --render FILE [--write-docs docs/performance.md]

For every N, every mode and every contender (the contenders' order rotates from one block to the
next, so that none always goes first), one measured run:
  1. a fresh tests/interop/provider.mjs on 127.0.0.1 (stopped by its PID afterwards), warmed up by
     refreshing --warmup other sessions once with floor.mjs, so that no contender pays for the
     provider's first, unoptimised requests;
  2. mint.mjs mints N sessions there (accounts peer-<i>, the same session ids for every contender)
     into a records file in Inrupt's layout;
  3. for the sqlite: and file: stores, `peer_client seed` writes them into a fresh store in a
     separate process first: the measured process starts on a store it did not write (a restart);
  4. the provider's request counters are reset, the contender runs as a child process and prints
     one JSON line; os.wait4() gives that process's own CPU time (user + system) and peak RSS;
  5. GET /test/stats gives the HTTP requests the provider served during the run.
Mode `seq` restores one session at a time, a number restores that many at once.

The table goes to stdout (progress to stderr); --write-docs puts it, with a description of the
machine, between the markers <!-- peer:begin --> and <!-- peer:end --> of the given file. --json
saves the whole run, and --render prints (or records) a saved run again without measuring.
Standard library only. Every temporary file (records hold refresh tokens and private keys) lives in
one private directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PROVIDER = REPO / "tests" / "interop" / "provider.mjs"
MINT = HERE / "mint.mjs"
FLOOR = HERE / "floor.mjs"
INRUPT = HERE / "inrupt_client.mjs"

ALL_CONTENDERS = ["floor", "multisession-memory", "multisession-sqlite", "multisession-file", "inrupt"]
DOC_BEGIN = "<!-- peer:begin -->"
DOC_END = "<!-- peer:end -->"
SEED = "peer"  # one seed: every contender restores sessions with the same ids
PROVIDER_START_TIMEOUT_S = 30
MINT_CONCURRENCY = 64


def log(message: str) -> None:
    print(f"peer: {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# Child processes: each one started here is remembered by PID and stopped by that PID, also when the
# run is interrupted.

_live: dict[int, subprocess.Popen] = {}


def _stop_pid(pid: int, timeout_s: float = 5.0) -> None:
    proc = _live.pop(pid, None)
    if proc is None or proc.returncode is not None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        proc.wait()


def stop_all() -> None:
    for pid in list(_live):
        _stop_pid(pid)


class Provider:
    """tests/interop/provider.mjs on a free port of 127.0.0.1, with --watch-stdin: the pipe we hold
    is its lifeline, so it ends with us even if we are killed."""

    def __init__(self, log_file: Path):
        self.log = open(log_file, "wb")
        self.proc = subprocess.Popen(
            ["node", str(PROVIDER), "0", "--watch-stdin"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, cwd=REPO)
        _live[self.proc.pid] = self.proc
        self.port = self._read_port()
        self.issuer = f"http://127.0.0.1:{self.port}"

    def _read_port(self) -> int:
        deadline = time.monotonic() + PROVIDER_START_TIMEOUT_S
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.proc.stdout], [], [], remaining)[0]:
                raise BenchError("the provider did not print READY in time")
            chunk = os.read(self.proc.stdout.fileno(), 64)
            if not chunk:
                raise BenchError("the provider exited before it was ready")
            line += chunk
        words = line.decode().split()
        if len(words) != 2 or words[0] != "READY":
            raise BenchError(f"unexpected first line from the provider: {line!r}")
        return int(words[1])

    def call(self, method: str, path: str) -> dict:
        # http.client, not urllib: nothing here may go through a proxy from the environment.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise BenchError(f"{method} {path} answered {resp.status}")
            return json.loads(body)
        finally:
            conn.close()

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        _stop_pid(self.proc.pid)
        self.proc.stdout.close()
        self.log.close()


@dataclass
class Measured:
    exit_code: int
    cpu_s: float  # user + system of the child alone
    maxrss_mb: float
    wall_s: float
    stdout: str
    stderr: str


def run_measured(cmd: list[str], workdir: Path, timeout_s: float, verbose: bool) -> Measured:
    """Runs cmd as a child, reaps it with os.wait4 for its own rusage; kills it by PID on timeout."""
    out_path, err_path = workdir / "child.out", workdir / "child.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=REPO)
    _live[proc.pid] = proc
    timed_out = threading.Event()
    reaped = threading.Lock()  # held from the reaping on: the PID may then belong to someone else

    def on_timeout() -> None:
        with reaped:
            if proc.returncode is None:
                timed_out.set()
                os.kill(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout_s, on_timeout)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
        with reaped:
            proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        timer.cancel()
    wall = time.monotonic() - started
    _live.pop(proc.pid, None)
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    if verbose and stderr:
        sys.stderr.write(stderr)
    if timed_out.is_set():
        raise BenchError(f"{Path(cmd[0]).name} {Path(cmd[1]).name if len(cmd) > 1 else ''}: "
                         f"no result after {timeout_s:.0f} s, killed")
    # Linux reports ru_maxrss in KiB.
    return Measured(proc.returncode, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, wall,
                    stdout, stderr)


def run_checked(cmd: list[str], timeout_s: float, what: str) -> None:
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=REPO)
    _live[proc.pid] = proc
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _stop_pid(proc.pid)
        raise BenchError(f"{what}: no result after {timeout_s:.0f} s")
    _live.pop(proc.pid, None)
    if proc.returncode != 0:
        raise BenchError(f"{what} failed ({proc.returncode}): {err.decode(errors='replace').strip()[-800:]}")


# ------------------------------------------------------------------------------------------------
# One measured run


@dataclass
class Result:
    contender: str
    store: str
    n: int
    mode: str
    error: str | None = None
    report: dict = field(default_factory=dict)
    cpu_process_s: float = 0.0
    maxrss_mb: float = 0.0
    http: dict = field(default_factory=dict)

    @property
    def wall_s(self) -> float:
        return float(self.report.get("rehydrate_s", 0.0))

    @property
    def cpu_rehydrate_s(self) -> float:
        return float(self.report.get("cpu_s", 0.0))

    @property
    def failed(self) -> int:
        # Sessions not listed count as failed as well.
        return int(self.report.get("failed", 0)) + max(0, self.n - int(self.report.get("listed", self.n)))

    @property
    def http_per_session(self) -> float:
        return self.http.get("total", 0) / self.n

    @property
    def ops_per_session(self) -> float:
        return self.report.get("storage_ops", {}).get("rehydrate", 0) / self.n

    def as_json(self) -> dict:
        return {"contender": self.contender, "store": self.store, "n": self.n, "mode": self.mode,
                "error": self.error, "report": self.report, "cpu_process_s": self.cpu_process_s,
                "maxrss_mb": self.maxrss_mb, "http": self.http}


def concurrency_of(mode: str) -> int:
    return 1 if mode == "seq" else int(mode)


def store_of(contender: str) -> str:
    if contender.startswith("multisession-"):
        return contender.split("-", 1)[1]
    return "memory" if contender == "inrupt" else "-"


def run_one(contender: str, n: int, mode: str, args: argparse.Namespace, workdir: Path) -> Result:
    result = Result(contender.split("-", 1)[0], store_of(contender), n, mode)
    concurrency = str(concurrency_of(mode))
    run_dir = Path(tempfile.mkdtemp(prefix=f"{contender}-{n}-{mode}-", dir=workdir))
    records = run_dir / "records.json"
    provider = Provider(run_dir / "provider.log")
    try:
        if args.warmup > 0:
            # The provider's code paths compiled and warm before anything is measured: other
            # sessions (another seed, other accounts), refreshed once and then left alone.
            warmup = run_dir / "warmup.json"
            run_checked(["node", str(MINT), "--issuer", provider.issuer, "--sessions", str(args.warmup),
                         "--out", str(warmup), "--seed", f"{SEED}-warmup", "--account", "warmup"],
                        timeout_s=120 + args.warmup * 0.05, what="minting the warm-up sessions")
            run_checked(["node", str(FLOOR), "--records", str(warmup), "--concurrency", "64"],
                        timeout_s=120 + args.warmup * 0.05, what="warming the provider up")
            warmup.unlink()
        run_checked(["node", str(MINT), "--issuer", provider.issuer, "--sessions", str(n), "--out", str(records),
                     "--seed", SEED, "--concurrency", str(MINT_CONCURRENCY)],
                    timeout_s=120 + n * 0.05, what="minting")
        peer_client = str(args.build_dir / "bench" / "peer" / "peer_client")
        manager_args = ["--threads", str(args.threads), "--storage-threads", str(args.storage_threads)]
        if contender == "floor":
            cmd = ["node", str(FLOOR), "--records", str(records), "--concurrency", concurrency]
        elif contender == "inrupt":
            cmd = ["node", str(INRUPT), "--records", str(records), "--concurrency", concurrency]
        elif contender == "multisession-memory":
            cmd = [peer_client, "run", "--store", "memory:", "--concurrency", concurrency, "--records", str(records),
                   *manager_args]
        else:
            uri = f"sqlite:{run_dir / 'sessions.db'}" if result.store == "sqlite" else f"file:{run_dir / 'sessions'}"
            run_checked([peer_client, "seed", "--records", str(records), "--store", uri],
                        timeout_s=120 + n * 0.05, what="seeding")
            cmd = [peer_client, "run", "--store", uri, "--concurrency", concurrency, *manager_args]
        provider.call("POST", "/test/stats/reset")
        # Generous: Inrupt's library restores about 150 sessions a second one at a time.
        measured = run_measured(cmd, run_dir, timeout_s=120 + n * 0.1, verbose=args.verbose)
        result.http = provider.call("GET", "/test/stats")
        result.cpu_process_s, result.maxrss_mb = measured.cpu_s, measured.maxrss_mb
        lines = [line for line in measured.stdout.splitlines() if line.strip()]
        try:
            result.report = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            tail = "\n".join(measured.stderr.strip().splitlines()[-5:])
            raise BenchError(f"exit code {measured.exit_code} and no result line; stderr ends with:\n{tail}")
        if measured.exit_code not in (0, 1):
            raise BenchError(f"exit code {measured.exit_code}")
    except BenchError as err:
        result.error = str(err)
    finally:
        provider.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    return result


# ------------------------------------------------------------------------------------------------
# Output

COLUMNS = [
    ("contender", "<", lambda r: r.contender),
    ("store", "<", lambda r: r.store),
    ("N", ">", lambda r: str(r.n)),
    ("mode", "<", lambda r: r.mode),
    ("wall s", ">", lambda r: f"{r.wall_s:.2f}"),
    ("sess/s", ">", lambda r: f"{r.n / r.wall_s:.0f}" if r.wall_s > 0 else "-"),
    ("CPU s", ">", lambda r: f"{r.cpu_process_s:.2f}"),
    ("CPU s rehyd", ">", lambda r: f"{r.cpu_rehydrate_s:.2f}"),
    ("CPU ms/sess", ">", lambda r: f"{1000 * r.cpu_rehydrate_s / r.n:.2f}"),
    ("HTTP/sess", ">", lambda r: f"{r.http_per_session:.2f}"),
    ("ops/sess", ">", lambda r: f"{r.ops_per_session:.1f}"),
    ("RSS MB", ">", lambda r: f"{r.maxrss_mb:.0f}"),
    ("list ms", ">", lambda r: f"{float(r.report.get('list_ms', 0)):.1f}"),
    ("clear ms", ">", lambda r: f"{float(r.report.get('clear_ms', 0)):.1f}"),
    ("failed", ">", lambda r: str(r.failed)),
]


def table(results: list[Result]) -> str:
    ok = [r for r in results if r.error is None]
    rows = [[fmt(r) for _, _, fmt in COLUMNS] for r in ok]
    widths = [max([len(name)] + [len(row[i]) for row in rows]) for i, (name, _, _) in enumerate(COLUMNS)]

    def line(cells: list[str]) -> str:
        return "  ".join(f"{c:{align}{w}}" for c, (_, align, _), w in zip(cells, COLUMNS, widths)).rstrip()

    out = [line([name for name, _, _ in COLUMNS]), line(["-" * w for w in widths])]
    previous = None
    for r, row in zip(ok, rows):
        if previous is not None and (r.n, r.mode) != previous:
            out.append("")
        previous = (r.n, r.mode)
        out.append(line(row))
    for r in results:
        if r.error is not None:
            out.append(f"{r.contender} ({r.store}) N={r.n} {r.mode}: not measured: {r.error}")
    return "\n".join(out)


def label(r: Result) -> str:
    return r.contender if r.store in ("-", "memory") and r.contender != "multisession" else f"{r.contender}-{r.store}"


def summary(results: list[Result], modes: list[str]) -> str:
    ok = [r for r in results if r.error is None]
    out = []
    for n in sorted({r.n for r in ok}):
        out.append(f"N = {n}")
        for mode in modes:
            block = sorted((r for r in ok if r.n == n and r.mode == mode), key=lambda r: ALL_CONTENDERS.index(
                "multisession-" + r.store if r.contender == "multisession" else r.contender))
            if not block:
                continue
            floor = next((r for r in block if r.contender == "floor"), None)
            inrupt = next((r for r in block if r.contender == "inrupt"), None)
            parts = []
            for r in block:
                text = f"{label(r)} {r.wall_s:.2f} s"
                if floor is not None and r is not floor and floor.wall_s > 0:
                    text += f" ({r.wall_s / floor.wall_s:.1f}x floor)"
                parts.append(text)
            out.append(wrap(f"  {mode:>3}  wall: " + ", ".join(parts)))
            if inrupt is not None:
                ratios = [f"{r.store} {inrupt.cpu_process_s / r.cpu_process_s:.1f}x "
                          f"(rehydrate phase {inrupt.cpu_rehydrate_s / r.cpu_rehydrate_s:.1f}x)"
                          for r in block if r.contender == "multisession" and r.cpu_process_s > 0
                          and r.cpu_rehydrate_s > 0]
                if ratios:
                    out.append(wrap("       client CPU Inrupt/multisession: " + ", ".join(ratios)))
            out.append(wrap("       HTTP requests per session: " + ", ".join(
                f"{label(r)} {r.http_per_session:.2f} ({routes(r)})" for r in block)))
    return "\n".join(out)


def wrap(line: str) -> str:
    return textwrap.fill(line, width=110, subsequent_indent=" " * 12, break_on_hyphens=False)


def routes(r: Result) -> str:
    """Requests per session by route, leaving out the once-per-run ones (discovery, JWKS)."""
    by_path = r.http.get("by_path", {})
    return " ".join(f"{name} {count / r.n:.2f}" for name, count in sorted(by_path.items(), key=lambda kv: -kv[1])
                    if count / r.n >= 0.05) or "none"


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpus = f"{os.cpu_count()} CPUs" + (f" ({model})" if model else "")
    # Other work on the machine slows the provider and the clients alike: say how busy it was.
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{when}; {cpus}; Linux {platform.release()}; node {node}; Python {platform.python_version()}; "
            f"load average at the start {load} (1, 5, 15 min)")


def write_docs(path: Path, run: dict, text: str) -> None:
    doc = path.read_text()
    begin, end = doc.find(DOC_BEGIN), doc.find(DOC_END)
    if begin < 0 or end < begin:
        raise BenchError(f"{path} lacks the markers {DOC_BEGIN} ... {DOC_END}")
    body = (f"{DOC_BEGIN}\nMeasured {run['machine']}.\n\n"
            f"```\n{run['command']}\n```\n\n```text\n{text}\n```\n\n{NOTES}\n")
    path.write_text(doc[:begin] + body + doc[end:])


NOTES = """\
One run per row, each on a fresh provider (tests/interop/provider.mjs, on the same machine) with N
freshly minted DPoP-bound sessions. "wall s": the restore phase alone; "CPU s": the whole client
process (user + system, start-up and loading included); "CPU s rehyd": the restore phase alone;
"HTTP/sess": requests the provider served during the run, per session; "ops/sess": storage calls
of the restore phase, per session; "RSS MB": the client process's peak; "list ms"/"clear ms":
listing and clearing all N sessions. Mode "seq" restores one session at a time, "64" 64 at once.
The provider shares the CPUs with the client, so wall times include its work too."""


# ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", default="200,2000,20000", help="session counts, comma-separated")
    parser.add_argument("--contenders", default=",".join(ALL_CONTENDERS),
                        help=f"comma-separated, among {','.join(ALL_CONTENDERS)}")
    parser.add_argument("--modes", default="seq,64", help="`seq` and/or numbers of sessions in flight")
    parser.add_argument("--build-dir", default="build-peer", type=Path,
                        help="meson build directory holding bench/peer/peer_client")
    parser.add_argument("--write-docs", type=Path, metavar="FILE",
                        help=f"replace the text between {DOC_BEGIN} and {DOC_END} in FILE")
    parser.add_argument("--warmup", type=int, default=300, metavar="W",
                        help="sessions refreshed on each fresh provider before the measured run (default 300)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every result as JSON")
    parser.add_argument("--render", type=Path, metavar="FILE",
                        help="measure nothing: print (and with --write-docs record) the results of a --json FILE")
    parser.add_argument("--threads", type=int, default=0, metavar="T",
                        help="this library's I/O threads (session_manager_options::threads, default 0)")
    parser.add_argument("--storage-threads", type=int, default=4, metavar="S",
                        help="this library's store threads (session_manager_options::storage_threads, default 4)")
    parser.add_argument("--verbose", action="store_true", help="pass the clients' progress through")
    args = parser.parse_args(argv)
    try:
        args.n = [int(x) for x in args.n.split(",") if x]
    except ValueError:
        parser.error("--n takes whole numbers")
    if not args.n or min(args.n) < 1:
        parser.error("--n needs positive numbers")
    args.contenders = [c for c in args.contenders.split(",") if c]
    unknown = [c for c in args.contenders if c not in ALL_CONTENDERS]
    if unknown or not args.contenders:
        parser.error(f"unknown contenders {unknown}; known: {ALL_CONTENDERS}")
    args.modes = [m for m in args.modes.split(",") if m]
    if not args.modes or any(m != "seq" and not (m.isdigit() and int(m) >= 1) for m in args.modes):
        parser.error("--modes takes `seq` and positive numbers")
    if not args.build_dir.is_absolute():
        args.build_dir = (Path.cwd() / args.build_dir).resolve()
    return args


def contender_rank(r: Result) -> int:
    return ALL_CONTENDERS.index("multisession-" + r.store if r.contender == "multisession" else r.contender)


def measure(args: argparse.Namespace, argv: list[str]) -> dict:
    """Runs every (N, mode, contender) once; returns the run's description and results."""
    run = {"command": "python3 bench/peer/peer.py " + " ".join(shlex.quote(a) for a in argv),
           "machine": machine(), "n": args.n, "modes": args.modes, "results": []}
    results: list[Result] = []
    workdir = Path(tempfile.mkdtemp(prefix="multisession-peer-"))
    os.chmod(workdir, 0o700)
    started = time.monotonic()
    try:
        block = 0
        for n in args.n:
            for mode in args.modes:
                shift = block % len(args.contenders)
                order = args.contenders[shift:] + args.contenders[:shift]
                block += 1
                for contender in order:
                    log(f"N={n} {mode}: {contender} ...")
                    r = run_one(contender, n, mode, args, workdir)
                    if r.error:
                        log(f"N={n} {mode}: {contender}: {r.error}")
                    else:
                        log(f"N={n} {mode}: {contender}: {r.wall_s:.2f} s, CPU {r.cpu_process_s:.2f} s, "
                            f"{r.http_per_session:.2f} requests/session, {r.failed} failed")
                    results.append(r)
    finally:
        stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    log(f"done in {time.monotonic() - started:.0f} s")
    results.sort(key=lambda r: (args.n.index(r.n), args.modes.index(r.mode), contender_rank(r)))
    run["results"] = [r.as_json() for r in results]
    return run


def results_of(run: dict) -> list[Result]:
    return [Result(contender=j["contender"], store=j["store"], n=j["n"], mode=j["mode"], error=j["error"],
                   report=j["report"], cpu_process_s=j["cpu_process_s"], maxrss_mb=j["maxrss_mb"], http=j["http"])
            for j in run["results"]]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.render:
        run = json.loads(args.render.read_text())
    else:
        if any(c.startswith("multisession") for c in args.contenders):
            binary = args.build_dir / "bench" / "peer" / "peer_client"
            if not os.access(binary, os.X_OK):
                log(f"{binary} is missing: build it (ninja -C {args.build_dir}) "
                    "or leave the multisession contenders out")
                return 2
        if not (REPO / "tests" / "interop" / "node_modules" / "@inrupt" / "solid-client-authn-node").is_dir():
            log("the npm packages are missing: run ./run.sh deps (npm ci in tests/interop)")
            return 2
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        run = measure(args, argv)
        if args.json:
            args.json.write_text(json.dumps(run, indent=2) + "\n")

    results = results_of(run)
    text = table(results) + "\n\n" + summary(results, run["modes"])
    print(text)
    if args.write_docs:
        write_docs(args.write_docs, run, text)
        log(f"wrote the results into {args.write_docs}")
    return 1 if any(r.error or r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
