"""One benchmark command: explore, train, diagnostics, report and score, ours against the raw library, in one table.

    make bench [BENCH_ARGS="--quick"]
    .venv/bin/python -m bench.run [--quick] [--sizes 1000000 4000000 16000000] [--paths explore report] [--repeat 3]
                                  [--out bench/results.json] [--data-dir bench/out]

Each measured run is its own subprocess (peak RSS is that process's, from wait4), ours and the raw side alternating,
`--repeat` times per size; medians are compared. Demo datasets of each size are generated on demand into
<data-dir>/root_<rows>/demo (gitignored, reused when present). Per path and side, the growth exponents k (time ∝ rows^k)
and m (peak RSS ∝ rows^m) are least-squares slopes on log-log over the sizes. Prints one table and the targets, and
writes the JSON (machine; per path per size each repeat's seconds and RSS, medians, ratios; exponents; targets met).
`--quick` runs small sizes (QUICK_SIZES; under 3 minutes on 2 cores), registers the train path's model for scoring instead
of training another, and writes bench/out/results_quick.json unless --out is given.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import summary
from bench.train import measured

PROJECT = Path(__file__).resolve().parent.parent
OUT = PROJECT / "bench" / "out"
PY = sys.executable
FULL_SIZES = [1_000_000, 4_000_000, 16_000_000]
# --quick: two small sizes where a process costs under a second (explore), one elsewhere; no pandas_columns side.
QUICK_SIZES = {"explore": [30_000, 120_000], "diagnostics": [30_000], "report": [30_000], "train": [30_000], "score": [30_000]}
CHUNK_ROWS = 200_000  # core.score's default chunk, for both scoring sides
SAMPLE_ROWS = 1_000_000  # train_sample: the rows both sides sample before training (--sample-rows)
# Per path: the sides measured, and what one measured run is and times.
PATHS = {
    "explore": (
        ("ours", "raw", "pandas", "pandas_columns"),
        "core.data.segment_rates by device × channel with `country in (5 values)` against the same GROUP BY in raw DuckDB "
        "SQL over read_parquet, pandas.read_parquet of the whole table and of the 4 columns needed + filter + groupby; "
        "seconds: the median of several calls in the process after a warm-up call",
    ),
    "train": (
        ("ours", "raw"),
        "python -m core.train (gbdt, temporal split, isotonic, on a tracking store made before) against pd.read_parquet + "
        "lightgbm.train with the same parameters + predict + pred_contrib on 2,000 rows (bench.train --raw); "
        "seconds: the process's wall time",
    ),
    "train_sample": (
        ("ours", "raw"),
        "as train, with sample_rows (--sample-rows, default 1,000,000) in the job's spec (core.train --spec) against the raw path reading a DuckDB "
        "reservoir sample of as many rows; run only when named in --paths; seconds: the process's wall time",
    ),
    "diagnostics": (
        ("ours", "raw"),
        "core.diagnostics.diagnose.everything on a run of <rows> test predictions against scikit-learn computing the headline, "
        "curves, reliability, gain/lift, threshold, windows and per-segment numbers (bench.report.raw_numbers); "
        "seconds: the computation in the process, after reading the predictions",
    ),
    "report": (
        ("ours", "raw"),
        "python -m core.report on a run of <rows> test predictions against bench.report --raw (the same numbers with "
        "scikit-learn, the same plotly figures, report.html and metrics.json); seconds: the process's wall time",
    ),
    "score": (
        ("ours", "raw"),
        "python -m core.score with a registered gbdt model against the same model's predict_proba over pyarrow batches "
        f"of {CHUNK_ROWS:,} rows (bench.score --raw); seconds: the process's wall time",
    ),
}
DEFAULT_PATHS = ["explore", "train", "diagnostics", "report", "score"]
IN_PROCESS = {"explore", "diagnostics"}  # seconds from the child's own JSON, not its wall time
# What both sides must agree on: groups found, split rows, rows scored, flagged rows (samples differ, so only their total).
AGREE = {"explore": "rows", "train": "rows", "train_sample": "rows", "diagnostics": "rows", "score": "positives_flagged"}


class Context:
    """What the paths share in one benchmark: data roots, a tracking store, logged prediction runs and a registered model."""

    def __init__(self, data_dir: Path, folder: Path, calls: int, child_env: dict, sample_rows: int = SAMPLE_ROWS):
        self.data_dir, self.folder, self.calls, self.sample_rows = data_dir, folder, calls, sample_rows
        uri = f"sqlite:///{folder}/mlruns/mlflow.db"
        self.env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", **child_env}
        self.made: dict = {}

    def _once(self, key, make):
        if key not in self.made:
            self.made[key] = make()
        return self.made[key]

    def _json(self, argv: list[str], env: dict) -> dict:
        done = subprocess.run(argv, cwd=PROJECT, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{' '.join(argv[1:4])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def root(self, rows: int) -> Path:
        """<data-dir>/root_<rows> with its `demo` dataset, generated by core.demo when missing or older than its columns."""
        from core import demo

        root = self.data_dir / f"root_{rows}"
        if not demo.is_current(root / "demo"):
            print(f"  generating {rows:,} demo rows into {root} …", flush=True)
            subprocess.run([PY, "-m", "core.demo", "--rows", str(rows), "--days", "56", "--seed", "7", "--out", str(root / "demo"), "--overwrite"],
                           cwd=PROJECT, env=self.env, check=True, capture_output=True)  # fmt: skip
        return root

    def env_for(self, rows: int) -> dict:
        return {**self.env, "WB_DATA_ROOT": str(self.root(rows))}

    def features(self, rows: int) -> list[str]:
        """The training job's features on that root (and the job's experiment made in the store)."""
        from bench.train import features_for, make_store

        self._once("store", lambda: make_store(self.env))
        return self._once(("features", rows), lambda: features_for(self.root(rows)))

    def predictions_run(self, rows: int) -> dict:
        """A run logging every row of root_<rows> as test predictions (bench.predictions)."""
        folder = self.folder / f"predictions_{rows}"
        return self._once(
            ("run", rows), lambda: self._json([PY, "-m", "bench.predictions", str(self.root(rows)), str(folder)], self.env_for(rows))
        )

    def model(self, rows: int) -> dict:
        """A gbdt model registered as bench-score@champion: the train path's last job at `rows` if it ran, else one bench.score trains."""
        run_id = self.made.get(("train_run", rows))

        def make() -> dict:
            how = f"the train path's run {run_id}" if run_id else f"a job on {rows:,} rows"
            print(f"  registering the scoring model ({how}) …", flush=True)
            made = self._json([PY, "-m", "bench.score", "--champion", str(self.root(rows)), *([run_id] if run_id else [])], self.env)
            return {**made, "trained_by": "train path" if run_id else "bench.score", "trained_on_rows": rows}

        return self._once("model", make)


def commands(path: str, rows: int, ctx: Context, sizes: list[int], sides: tuple[str, ...]) -> dict:
    """side -> function of the repeat index giving (argv, env, output to remove afterwards)."""
    from bench import score

    env = ctx.env_for(rows)
    root = ctx.root(rows)
    if path == "explore":
        calls = {"ours": ctx.calls, "raw": ctx.calls}
        return {side: (lambda i, s=side: ([PY, "-m", "bench.explore", "--once", s, str(root), "--calls", str(calls.get(s, 2))], env, None))
                for side in sides}  # fmt: skip
    if path in ("train", "train_sample"):
        from bench.train import argv, sample_spec

        features = ctx.features(rows)
        spec, sample = None, None
        if path == "train_sample":
            spec, sample = sample_spec(ctx.folder / "sample_spec.yaml", ctx.sample_rows), ctx.sample_rows
        return {side: (lambda i, s=side: (argv(s, root, features, spec, sample), env, None)) for side in ("ours", "raw")}
    if path in ("diagnostics", "report"):
        run = ctx.predictions_run(rows)
        out = ctx.folder / "reports"
        return {
            "diagnostics": {"ours": lambda i: ([PY, "-m", "bench.diagnostics", "--once", "ours", run["run_id"]], env, None),
                            "raw": lambda i: ([PY, "-m", "bench.diagnostics", "--once", "raw", run["predictions"], run["shap"]], env, None)},
            "report": {"ours": lambda i: ([PY, "-m", "core.report", "--run", run["run_id"], "--out", str(out / f"ours_{i}")], env, out),
                       "raw": lambda i: ([PY, "-m", "bench.report", "--raw", run["predictions"], run["shap"], str(out / f"raw_{i}")], env, out)},
        }[path]  # fmt: skip
    model = ctx.model(min([*sizes, 1_000_000]))
    scores = ctx.folder / "scores"
    return {side: (lambda i, s=side: (score.argv(s, root, model, scores / f"{s}_{i}.parquet", CHUNK_ROWS), env, scores))
            for side in ("ours", "raw")}  # fmt: skip


def measure_size(path: str, rows: int, ctx: Context, plan: tuple[list[int], tuple[str, ...]], repeat: int) -> dict:
    """Every side of one path at one size, `repeat` times in turns; the size's summary.

    A failing ours or raw side fails the size; a failing extra side (pandas) is dropped, its error kept in `failed_sides`."""
    sides = commands(path, rows, ctx, *plan)
    seconds, rss, last = ({side: [] for side in sides} for _ in range(3))
    failed = {}
    for i in range(repeat):  # in turns, so a busy spell on the shared machine falls on every side
        for side, command in [(s, c) for s, c in sides.items() if s not in failed]:
            argv, env, leftover = command(i)
            try:
                run = measured(argv, env)
            except SystemExit as err:
                if side in ("ours", "raw"):
                    raise
                failed[side] = str(err)[-2000:]
                print(f"  {path} {rows:,} rows, {side} failed and is left out: {str(err)[-300:]}", flush=True)
                continue
            finally:
                if leftover is not None:
                    shutil.rmtree(leftover, ignore_errors=True)
            output = json.loads(run["stdout"].strip().splitlines()[-1]) if run["stdout"].strip() else {}
            seconds[side].append(float(output["seconds"]) if path in IN_PROCESS else run["wall_s"])
            rss[side].append(run["rss_mb"])
            last[side] = output
            if path == "train" and side == "ours":
                ctx.made[("train_run", rows)] = output["run_id"]  # the scoring path may register it
            print(
                f"  {path} {rows:,} rows, repeat {i + 1}/{repeat}, {side}: {seconds[side][-1]:.3f} s, {rss[side][-1]:,.0f} MB", flush=True
            )
    done = [side for side in sides if side not in failed]
    result = summary.size_summary(rows, {side: summary.side_summary(seconds[side], rss[side]) for side in done})
    if failed:
        result["failed_sides"] = failed
    if path in AGREE:  # both sides did the same work: same groups, split rows or flagged rows
        key = AGREE[path]
        found = [last[side].get(key) for side in done]
        if path == "train_sample":
            found = [sum(rows.values()) for rows in found]
        result["agree"] = {key: found, "equal": len({json.dumps(f) for f in found}) == 1}
    return result


def run(plan: dict, repeat: int, data_dir: Path, calls: int, child_env: dict, sample_rows: int = SAMPLE_ROWS) -> dict:
    """Every path of the plan (path -> sizes, sides) at each of its sizes; the results as written to JSON."""
    results, began = {}, time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        ctx = Context(data_dir, Path(tmp), calls, child_env, sample_rows)
        for path, (sizes, sides) in plan.items():
            entries, path_began = [], time.perf_counter()
            for rows in sizes:
                print(f"{path} at {rows:,} rows …", flush=True)
                try:
                    entries.append(measure_size(path, rows, ctx, (sizes, sides), repeat))
                except (SystemExit, subprocess.CalledProcessError, KeyError) as err:  # one failing path does not stop the others
                    entries.append({"rows": rows, "error": str(err)[-2000:]})
                    print(f"  {path} at {rows:,} rows failed: {str(err)[-500:]}", flush=True)
            results[path] = {"sides": list(sides), "what": PATHS[path][1], "sizes": entries, "growth": summary.growth(entries, sides),
                             "elapsed_s": round(time.perf_counter() - path_began, 1)}  # fmt: skip
            if path == "score" and "model" in ctx.made:
                results[path]["model"] = {k: v for k, v in ctx.made["model"].items() if k != "features"}
    return {"seconds": round(time.perf_counter() - began, 1), "paths": results}


def plan_for(paths: list[str], sizes: list[int] | None, quick: bool) -> dict:
    """path -> (sizes, sides): --sizes for every path when given, else the mode's sizes; --quick leaves out pandas_columns."""
    plan = {}
    for path in paths:
        chosen = sizes or (QUICK_SIZES.get(path, [30_000]) if quick else FULL_SIZES)
        sides = tuple(s for s in PATHS[path][0] if not (quick and s == "pandas_columns"))
        plan[path] = (sorted(set(chosen)), sides)
    return plan


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark, prints the table and the targets, writes the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 3 calls per explore process; under 3 min")
    parser.add_argument("--sizes", type=int, nargs="+", help=f"rows per size (default {FULL_SIZES})")
    parser.add_argument("--paths", nargs="+", choices=list(PATHS), default=DEFAULT_PATHS, help=f"default: {' '.join(DEFAULT_PATHS)}")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs of each side per size, in turns (>= 3 for a median)")
    parser.add_argument("--out", type=Path, help="JSON to write (default bench/results.json; with --quick bench/out/results_quick.json)")
    parser.add_argument("--sample-rows", type=int, default=SAMPLE_ROWS, help="rows the train_sample path samples")
    parser.add_argument("--data-dir", type=Path, default=OUT, help="folder of the root_<rows> demo datasets")
    args = parser.parse_args(argv)
    plan = plan_for(args.paths, args.sizes, args.quick)
    out = args.out or (OUT / "results_quick.json" if args.quick else PROJECT / "bench" / "results.json")
    load = os.getloadavg()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    # --quick: OpenMP threads sleep instead of spinning when they wait, so LightGBM on a busy shared machine does not slow to a
    # crawl (a 30,000-row fit took 50 s instead of 2 s under another LightGBM); both sides get it. The full mode keeps defaults.
    child_env = {"OMP_WAIT_POLICY": "PASSIVE"} if args.quick else {}
    measured_ = run(plan, args.repeat, args.data_dir, 3 if args.quick else 15, child_env, args.sample_rows)
    result = {"machine": {**summary.machine(), "load_before": load, "load_after": os.getloadavg()}, "started": started,
              "mode": "quick" if args.quick else "full", "sizes": {path: sizes for path, (sizes, _) in plan.items()},
              "repeat": args.repeat, "sample_rows": args.sample_rows, "child_env": child_env, **measured_}  # fmt: skip
    result["targets"] = summary.targets(result["paths"])
    print()
    print(summary.table(result["paths"]))
    print()
    print(summary.target_lines(result["targets"]))
    m = result["machine"]
    print(f"\n{m['cores']} cores, {m['ram_gb']} GB, {m['cpu']}, Python {m['python']}; load {load[0]:.2f} before, "
          f"{m['load_after'][0]:.2f} after; {result['seconds']:.0f} s in all; wrote {out}")  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    failed = [s for p in result["paths"].values() for s in p["sizes"] if "error" in s]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
