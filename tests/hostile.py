"""A corpus of hostile input files, written on demand into a folder (no data is committed).

    python -m tests.hostile OUT_DIR     # writes every case and prints what it wrote

Each case names its file (the dataset name under the data root), how to write it, its target and time
column, and what the product must do with it at each stage: `WORKS`, or a regex the one-line refusal
(a WorkbenchError, exit 2 on the command line) must match. Stages: `read` (dataset list, columns,
profile, SQL), `rates` (segment rates), `over_time` (rate over time), `train` (core.train for the case's families).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

WORKS = "works"
ALL_FAMILIES = ("gbdt", "linear", "forest", "hashed_sgd")


@dataclass(frozen=True)
class Truth:
    """What an analyst means the file to hold: rows, and rows / positives among those with a target."""

    rows: int
    labelled: int | None = None
    positives: int | None = None


@dataclass(frozen=True)
class Case:
    name: str  # the file or folder under the corpus root, which is also the dataset name
    write: Callable[[Path], Truth | None]  # writes the file at the given path; returns the truth when it is readable
    target: str | None = "converted"
    time_column: str | None = None
    read: str = WORKS
    rates: str = WORKS  # segment rates
    over_time: str = WORKS  # rate over the time column
    train: str = WORKS
    families: tuple[str, ...] = ("gbdt",)
    spec: dict = field(default_factory=dict)  # extra TrainSpec keys (sample_rows, split, features)
    train_page: str | None = None  # the Train page's verdict when it differs from the CLI's (None: the same)

    def expect(self, stage: str) -> str:
        if stage == "train_page":
            return self.train if self.train_page is None else self.train_page
        return getattr(self, stage)


def base(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A plain table with signal: a number, a category, a count and a 0/1 `converted` that follows them."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], n)
    noise = rng.normal(scale=0.8, size=n)
    converted = (signal + np.where(colour == "red", 1.0, 0.0) + noise > 0.6).astype(int)
    return pd.DataFrame({"signal": signal.round(4), "colour": colour, "visits": rng.integers(0, 20, n), "converted": converted})


def truth(
    frame: pd.DataFrame,
    target: str = "converted",
    positive=lambda s: s.astype(str).str.strip().str.lower().isin(["1", "1.0", "true", "yes", "y"]),
) -> Truth:
    labelled = frame[target].notna()
    return Truth(len(frame), int(labelled.sum()), int(positive(frame.loc[labelled, target]).sum()))


def csv(frame_or_fn, target: str = "converted", **to_csv) -> Callable[[Path], Truth]:
    """Writes a frame (or the frame a function makes) as CSV with pandas' `to_csv` options."""

    def write(path: Path) -> Truth:
        frame = frame_or_fn() if callable(frame_or_fn) else frame_or_fn
        frame.to_csv(path, index=False, **to_csv)
        return truth(frame, target)

    return write


def parquet(frame_or_fn, target: str = "converted") -> Callable[[Path], Truth]:
    def write(path: Path) -> Truth:
        frame = frame_or_fn() if callable(frame_or_fn) else frame_or_fn
        frame.to_parquet(path, index=False)
        return truth(frame, target) if target in frame else Truth(len(frame))

    return write


def raw(data: bytes, result: Truth | None = None) -> Callable[[Path], Truth | None]:
    def write(path: Path) -> Truth | None:
        path.write_bytes(data)
        return result

    return write


def text_rows(rows: int, encoding: str, word: str) -> Callable[[Path], Truth]:
    """A CSV whose `city` holds a non-ASCII word on every third row, in the given encoding."""

    def write(path: Path) -> Truth:
        frame = base(rows).assign(city=[word if i % 3 == 0 else "Paris" for i in range(rows)])
        frame.to_csv(path, index=False, encoding=encoding)
        return truth(frame)

    return write


def truncated_parquet(path: Path) -> None:
    base(200).to_parquet(path, index=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def renamed(mapping: dict[str, str], n: int = 600) -> pd.DataFrame:
    return base(n).rename(columns=mapping)


def with_target(values, n: int = 600) -> pd.DataFrame:
    frame = base(n)
    return frame.assign(converted=[values[i % len(values)] for i in range(n)])


def yes_no(yes: str, no: str, n: int = 600) -> pd.DataFrame:
    frame = base(n)
    return frame.assign(converted=np.where(frame["converted"] == 1, yes, no))


def timed(n: int = 600, tz: str | None = None) -> pd.DataFrame:
    times = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(n) * 37, unit="min")
    return base(n).assign(event_time=times.tz_localize(tz) if tz else times)


def mixed_times(n: int = 600) -> pd.DataFrame:
    stamps = timed(n)["event_time"]
    styles = ["%Y-%m-%d %H:%M:%S", "%d/%m/%Y", "%b %d %Y %H:%M", "%Y%m%dT%H%M"]
    return base(n).assign(event_time=[t.strftime(styles[i % len(styles)]) for i, t in enumerate(stamps)])


def nested(n: int = 400) -> pd.DataFrame:
    frame = base(n)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    tags = pa.array([["a", "b"][: i % 3] for i in range(n)], pa.list_(pa.string()))
    place = pa.array([{"city": "Paris", "zip": i % 90} for i in range(n)], pa.struct([("city", pa.string()), ("zip", pa.int64())]))
    return table.append_column("tags", tags).append_column("place", place)


def write_table(make: Callable[[], pa.Table]) -> Callable[[Path], Truth]:
    def write(path: Path) -> Truth:
        table = make()
        pq.write_table(table, path)
        return truth(table.select(["converted"]).to_pandas())

    return write


def zero_rows(path: Path) -> Truth:
    base(10).head(0).to_parquet(path, index=False)
    return Truth(0, 0, 0)


def high_cardinality(n: int = 100_000) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    frame = base(n, seed=5)
    return frame.assign(visitor=[f"v{i:06d}-{rng.integers(1e9)}" for i in range(n)])


def wide(columns: int = 2000, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    values = rng.normal(size=(n, columns)).round(3)
    frame = pd.DataFrame(values, columns=[f"f{i:04d}" for i in range(columns)])
    frame["converted"] = (values[:, 0] + values[:, 1] + rng.normal(size=n) > 0).astype(int)
    return frame


def uuids(n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(9)
    return base(n).assign(id=[str(uuid.UUID(int=int(rng.integers(1 << 62)) << 64 | i)) for i in range(n)])


def ragged(path: Path) -> None:
    lines = ["a,b,converted"] + [f"{i},x,{i % 2}" if i % 7 else f"{i},x,{i % 2},extra,more" for i in range(60)]
    path.write_text("\n".join(lines) + "\n")


def quoted_newlines() -> pd.DataFrame:
    frame = base(300)
    return frame.assign(comment=[f'line one\nline "two", {i}' if i % 4 == 0 else "plain" for i in range(300)])


def partitions(path: Path) -> Truth:
    """A hive folder whose partitions disagree on columns (one adds a column, one lacks one)."""
    frames = [base(200, seed=s) for s in range(3)]
    frames[1]["extra"] = "x"
    frames[2] = frames[2].drop(columns=["visits"])
    for day, frame in enumerate(frames):
        folder = path / f"day=2026-01-0{day + 1}"
        folder.mkdir(parents=True)
        frame.to_parquet(folder / "part-0.parquet", index=False)
    return truth(pd.concat(frames))


def windows_1252(path: Path) -> None:
    frame = base(120).assign(price=["€ 5" if i % 2 else "5 €" for i in range(120)])
    frame.to_csv(path, index=False, encoding="cp1252")


NOT_BINARY = "not binary"
NO_ROWS = r"No rows of .* have a target"
BOTH_CLASSES = r"only class|split is empty|Too few rows to split"

CASES: list[Case] = [
    # --- Files that are not really tables
    Case("empty.csv", raw(b""), read=r"empty\.csv is an empty file", rates=r"empty file", train=r"empty file"),
    Case("header_only.csv", raw(b"signal,colour,converted\n", Truth(0, 0, 0)), train=NO_ROWS),
    Case("truncated.parquet", lambda p: truncated_parquet(p), read=r"truncated\.parquet", rates=r"truncated", train=r"truncated"),
    Case("not_parquet.parquet", raw(b"PAR1 this is not a parquet file"), read=r"not_parquet", rates=r"not_parquet", train=r"not_parquet"),
    Case("zero_rows.parquet", zero_rows, train=NO_ROWS),
    # --- Delimiters, encodings, quoting
    Case("semicolon.csv", csv(base, sep=";")),
    Case("tabs.csv", csv(base, sep="\t")),
    Case("tabs.tsv", csv(base, sep="\t")),
    Case("latin1.csv", text_rows(600, "latin-1", "Zürich é")),
    Case("windows1252.csv", lambda p: windows_1252(p), read="Windows-1252", rates="Windows-1252", train="Windows-1252"),
    Case("bom.csv", csv(base, encoding="utf-8-sig")),
    Case("utf16.csv", text_rows(300, "utf-16", "Zürich")),
    Case("quoted_newlines.csv", csv(quoted_newlines)),
    Case(
        "ragged.csv",
        lambda p: ragged(p),
        read=r"ragged\.csv has lines with more or fewer fields",
        rates="more or fewer fields",
        train="more or fewer fields",
    ),
    Case("gzipped.csv.gz", csv(base, compression="gzip")),
    # --- Targets
    Case("one_class.csv", csv(lambda: with_target([1])), train=BOTH_CLASSES),
    Case("target_nulls.csv", csv(lambda: with_target([1, None, 0, 0, None]))),
    Case("target_all_null.parquet", parquet(lambda: with_target([None]).astype({"converted": "float64"})), train=NO_ROWS),
    Case("yes_no.csv", csv(lambda: yes_no("yes", "no"))),
    Case("y_n.csv", csv(lambda: yes_no("Y", "N"))),
    Case("true_false_text.csv", csv(lambda: yes_no("TRUE", "false"))),
    Case("three_values.csv", csv(lambda: with_target(["a", "b", "c"])), rates=NOT_BINARY, train=NOT_BINARY),
    Case("text01.parquet", parquet(lambda: base().astype({"converted": "str"}))),
    Case("bool_target.parquet", parquet(lambda: base().astype({"converted": "bool"}))),
    Case("float_target.parquet", parquet(lambda: base().astype({"converted": "float64"}))),
    Case("single_row.csv", csv(lambda: base(1)), train=BOTH_CLASSES),
    Case("two_per_class.csv", csv(lambda: with_target([0, 1], 4)), train=BOTH_CLASSES),
    # --- Column names
    Case("names_spaces.csv", csv(lambda: renamed({"signal": "page views", "colour": " colour "})), families=ALL_FAMILIES),
    Case("names_quotes.csv", csv(lambda: renamed({"signal": "it's", "colour": 'say "hi"'})), families=ALL_FAMILIES),
    Case(
        "names_brackets.parquet",
        parquet(lambda: renamed({"signal": "price[usd]", "colour": "{kind}: x", "visits": "(n)"})),
        families=ALL_FAMILIES,
    ),
    Case("names_commas.csv", csv(lambda: renamed({"signal": "a,b", "colour": "x, y"})), families=ALL_FAMILIES),
    Case("names_unicode.csv", csv(lambda: renamed({"signal": "größe m²", "colour": "色", "visits": "🎉 visits"})), families=ALL_FAMILIES),
    Case(
        "names_sql.csv",
        csv(lambda: renamed({"signal": "select", "colour": "from", "visits": "order", "converted": "where"}), target="where"),
        target="where",
        families=ALL_FAMILIES,
    ),
    Case("names_digits.csv", csv(lambda: renamed({"signal": "1st visit", "colour": "2nd", "visits": "3"})), families=ALL_FAMILIES),
    Case(
        "names_duplicate.csv",
        raw(b"a,a,converted\n" + b"".join(f"{i % 5},{i % 3},{i % 2}\n".encode() for i in range(200)), Truth(200, 200, 100)),
        families=ALL_FAMILIES,
    ),
    Case("names_case.parquet", parquet(lambda: renamed({"signal": "Spend", "visits": "spend"})), families=ALL_FAMILIES),
    Case("names_reserved.csv", csv(lambda: renamed({"signal": "score", "colour": "y", "visits": "row"})), families=ALL_FAMILIES),
    Case("names_internal.csv", csv(lambda: renamed({"signal": "__target", "colour": "decision"})), train="Column '__target' .* exclude it"),
    Case(
        "names_internal_excluded.csv",
        csv(lambda: renamed({"signal": "__target", "colour": "decision"})),
        spec={"features": {"exclude": ["__target"]}},
        train_page="Column '__target' .* exclude it",  # the page starts with no exclusions
    ),
    # --- Values
    Case("high_cardinality.parquet", parquet(high_cardinality), spec={"sample_rows": 2000}),
    Case(
        "nan_inf.parquet",
        parquet(lambda: base().assign(signal=[[np.nan, np.inf, -np.inf, 1.5][i % 4] for i in range(600)])),
        families=ALL_FAMILIES,
    ),
    Case(
        "nan_inf.csv", csv(lambda: base().assign(ratio=[["nan", "inf", "-inf", "2.5"][i % 4] for i in range(600)])), families=ALL_FAMILIES
    ),
    Case("constant_feature.csv", csv(lambda: base().assign(always=7))),
    Case(
        "target_copy.csv", csv(lambda: base().assign(copy=lambda f: f["converted"])), train=r"leak \(copy\)", train_page=WORKS
    ),  # the page starts with leaks excluded
    Case("uuid_ids.parquet", parquet(uuids)),
    Case("long_text.csv", csv(lambda: base(200).assign(essay=["word " * 20_000 if i % 10 == 0 else "short" for i in range(200)]))),
    Case("nested.parquet", write_table(nested), families=ALL_FAMILIES),
    Case("wide.parquet", parquet(wide)),
    Case("partitions", partitions),
    # --- Time columns
    Case("times.csv", csv(timed), time_column="event_time", families=ALL_FAMILIES),
    Case("times_tz.parquet", parquet(lambda: timed(tz="Europe/Paris")), time_column="event_time", families=ALL_FAMILIES),
    Case(
        "times_mixed.csv", csv(mixed_times), time_column="event_time", over_time="not a date", train="not a date", train_page=WORKS
    ),  # the page offers only date columns
    Case(
        "times_null.parquet",
        parquet(lambda: timed().assign(event_time=pd.NaT)),
        time_column="event_time",
        over_time="has no values",
        train="has no values",
    ),
]


def write_corpus(out: Path | str, cases: list[Case] = CASES) -> dict[str, Truth | None]:
    """Writes every case under `out` (made if missing); returns name -> truth (None for files that are not tables)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return {case.name: case.write(out / case.name) for case in cases}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tests.hostile OUT_DIR", file=sys.stderr)
        return 2
    for name, found in write_corpus(args[0]).items():
        size = (
            sum(p.stat().st_size for p in (Path(args[0]) / name).rglob("*"))
            if (Path(args[0]) / name).is_dir()
            else (Path(args[0]) / name).stat().st_size
        )
        print(f"{name:32} {size:>12,} bytes  {'not a table' if found is None else f'{found.rows:,} rows'}")
    print(f"{len(CASES)} cases in {args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
