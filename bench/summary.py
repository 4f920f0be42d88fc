"""What bench.run makes of its measurements: medians and ratios, growth exponents, the targets met, the machine, the table."""

from __future__ import annotations

import math
import os
import platform
import statistics
from importlib import metadata
from pathlib import Path

TARGET_ROWS = 1_000_000
# (name, path, rows the target is stated at (None: every size), the size entry's key, op, limit)
TARGETS = (
    ("explore segment_rates / raw DuckDB SQL, filter included", "explore", TARGET_ROWS, "ratio", "<=", 1.15),
    ("pandas (whole table) / explore segment_rates", "explore", TARGET_ROWS, "pandas_over_ours", ">=", 15.0),
    ("training / raw lightgbm.train, wall", "train", TARGET_ROWS, "ratio", "<=", 1.3),
    ("training / raw lightgbm.train, peak RSS", "train", TARGET_ROWS, "rss_ratio", "<=", 1.5),
    ("core.report seconds", "report", TARGET_ROWS, "ours_median_s", "<=", 5.0),
    ("core.score throughput / raw predict_proba", "score", None, "throughput_ratio", ">=", 0.8),
    ("core.score peak RSS MB", "score", None, "ours_median_rss_mb", "<", 2048.0),
)
GROWTH_LIMIT = 1.1


def side_summary(seconds: list[float], rss_mb: list[float]) -> dict:
    """One side at one size: each repeat's seconds and peak RSS, and their medians."""
    return {"seconds": seconds, "rss_mb": rss_mb, "median_s": statistics.median(seconds), "median_rss_mb": statistics.median(rss_mb)}


def size_summary(rows: int, sides: dict[str, dict]) -> dict:
    """One size of one path: the sides, ours/raw ratios of the median seconds and RSS, and the other sides against ours."""
    ours, raw = sides["ours"], sides["raw"]
    out = {"rows": rows, **sides, "ratio": ours["median_s"] / raw["median_s"], "rss_ratio": ours["median_rss_mb"] / raw["median_rss_mb"]}
    out["throughput_ratio"] = raw["median_s"] / ours["median_s"]  # rows/s ours over rows/s raw
    out["ours_median_s"], out["ours_median_rss_mb"] = ours["median_s"], ours["median_rss_mb"]
    for name in [s for s in sides if s not in ("ours", "raw")]:
        out[f"{name}_over_ours"] = sides[name]["median_s"] / ours["median_s"]
    return out


def slope(rows: list[int], values: list[float]) -> float | None:
    """Least-squares slope of log(value) on log(rows): the exponent in value ∝ rows^slope (None below two sizes)."""
    if len(set(rows)) < 2:
        return None
    x, y = [math.log(r) for r in rows], [math.log(v) for v in values]
    mx, my = statistics.fmean(x), statistics.fmean(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sum((a - mx) ** 2 for a in x)


def growth(sizes: list[dict], sides: tuple[str, ...]) -> dict:
    """Per side: k in time ∝ rows^k and m in peak RSS ∝ rows^m, fitted on the medians of the sizes that completed."""
    out = {}
    for side in sides:
        done = [s for s in sizes if side in s]  # a failed size, or a failed extra side, has none
        rows = [s["rows"] for s in done]
        out[side] = {"k": slope(rows, [s[side]["median_s"] for s in done]), "m": slope(rows, [s[side]["median_rss_mb"] for s in done])}
    return out


def targets(paths: dict) -> list[dict]:
    """Each target of the paths run, with the value measured, the rows it was measured at and whether it was met (None: not measured)."""
    out = []
    for name, path, at, key, op, limit in [t for t in TARGETS if t[1] in paths]:
        done = [s for s in paths[path]["sizes"] if "error" not in s and key in s]
        if at is not None and done:  # the size nearest the stated one, so a --quick or --sizes run still reads each target
            done = [min(done, key=lambda s: abs(math.log(s["rows"] / at)))]
        for size in done or [None]:
            value = None if size is None else size[key]
            met = None if value is None else (value <= limit if op == "<=" else value >= limit if op == ">=" else value < limit)
            out.append({"name": name, "path": path, "target_rows": at, "rows": size and size["rows"], "value": value,
                        "op": op, "limit": limit, "met": met})  # fmt: skip
    for path, result in paths.items():
        k = result.get("growth", {})
        ours, raw = (k.get(side, {}).get("k") for side in ("ours", "raw"))
        applies = None if ours is None or raw is None else raw <= GROWTH_LIMIT  # None: fewer than two sizes measured
        out.append({"name": f"{path}: growth exponent k of ours where raw's is <= {GROWTH_LIMIT}", "path": path, "target_rows": None,
                    "rows": None, "value": ours, "raw_value": raw, "op": "<=", "limit": GROWTH_LIMIT, "applies": applies,
                    "met": (ours <= GROWTH_LIMIT) if applies else None})  # fmt: skip
    return out


def machine() -> dict:
    """Cores, RAM, CPU model, Python and the versions of the libraries measured."""
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), 0)
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), platform.processor())
    versions = {}
    for name in ("duckdb", "pandas", "pyarrow", "lightgbm", "scikit-learn", "mlflow", "plotly", "dask"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"cores": os.cpu_count(), "ram_gb": round(kb / 2**20, 1), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "versions": versions}  # fmt: skip


def _num(value, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def table(paths: dict) -> str:
    """Per path and size: ours and raw median seconds, their ratio, peak RSS of each and its ratio; then the exponents."""
    head = f"{'path':<12}{'rows':>12}{'ours s':>10}{'raw s':>10}{'ratio':>8}{'ours MB':>10}{'raw MB':>10}{'RSS ratio':>10}  others"
    lines = [head, "-" * len(head)]
    for path, result in paths.items():
        for s in result["sizes"]:
            if "error" in s:
                lines.append(f"{path:<12}{s['rows']:>12,}  failed: {s['error'][:80]}")
                continue
            others = ", ".join(f"{k.removesuffix('_over_ours')} {v:.1f}× ours" for k, v in s.items() if k.endswith("_over_ours"))
            lines.append(f"{path:<12}{s['rows']:>12,}{s['ours']['median_s']:>10.3f}{s['raw']['median_s']:>10.3f}{s['ratio']:>8.2f}"
                         f"{s['ours']['median_rss_mb']:>10,.0f}{s['raw']['median_rss_mb']:>10,.0f}{s['rss_ratio']:>10.2f}  {others}")  # fmt: skip
    lines += ["", f"{'path':<12}{'k ours':>8}{'k raw':>8}{'m ours':>8}{'m raw':>8}   (time ∝ rows^k, peak RSS ∝ rows^m)"]
    for path, result in paths.items():
        g = result["growth"]
        lines.append(f"{path:<12}{_num(g['ours']['k']):>8}{_num(g['raw']['k']):>8}{_num(g['ours']['m']):>8}{_num(g['raw']['m']):>8}")
    return "\n".join(lines)


def target_lines(found: list[dict]) -> str:
    """One line per target: name, value at rows, limit, met."""
    verdict = {True: "met", False: "MISSED", None: "not measured"}
    return "\n".join(
        f"{'n/a' if t.get('applies') is False else verdict[t['met']]:>12}  {t['name']}: {_num(t['value'], 3)} {t['op']} {t['limit']:g}"
        + (f" at {t['rows']:,} rows" if t["rows"] else "")
        + (f" (raw k {_num(t['raw_value'])})" if "raw_value" in t else "")
        for t in found
    )
