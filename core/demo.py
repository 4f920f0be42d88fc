"""Demo data: ad events with conversions, written as daily hive-partitioned parquet.

`python -m core.demo --rows N --days D --out DIR --seed S` (defaults from settings; `--if-missing`
does nothing when the folder already holds data). The table is written to a hidden temporary
folder beside DIR and renamed into place, so a stopped run never leaves half a dataset.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core import settings
from core.errors import WorkbenchError

START = date(2026, 9, 1)
COUNTRIES = {"US": 0.30, "GB": 0.10, "DE": 0.10, "FR": 0.08, "IN": 0.12, "BR": 0.08, "JP": 0.06, "CA": 0.05, "AU": 0.04, "MX": 0.04, "ES": 0.02, "NL": 0.01}  # fmt: skip
COUNTRY_EFFECT = {"US": 0.25, "GB": 0.15, "DE": 0.10, "FR": 0.0, "IN": -0.45, "BR": -0.30, "JP": 0.20, "CA": 0.15, "AU": 0.10, "MX": -0.20, "ES": -0.05, "NL": 0.05}  # fmt: skip
DEVICES = {"mobile": 0.62, "desktop": 0.30, "tablet": 0.08}
DEVICE_EFFECT = {"mobile": -0.15, "desktop": 0.20, "tablet": 0.0}
OS_BY_DEVICE = {"mobile": {"Android": 0.6, "iOS": 0.4}, "desktop": {"Windows": 0.7, "macOS": 0.25, "Linux": 0.05}, "tablet": {"iOS": 0.6, "Android": 0.4}}  # fmt: skip
CHANNELS = {"search": 0.28, "social": 0.25, "display": 0.20, "video": 0.12, "email": 0.08, "affiliate": 0.07}
CHANNEL_EFFECT = {"search": 0.55, "social": -0.25, "display": -0.60, "video": -0.20, "email": 0.70, "affiliate": 0.30}
# Interactions the models should find: video converts on desktop, social converts on mobile.
DEVICE_X_CHANNEL = {("desktop", "video"): 0.50, ("mobile", "social"): 0.35, ("mobile", "display"): -0.30, ("tablet", "email"): 0.25}  # fmt: skip
PLACEMENTS = {"feed": 0.30, "banner": 0.25, "sidebar": 0.15, "interstitial": 0.10, "native": 0.15, "rewarded": 0.05}
PLACEMENT_EFFECT = {"feed": 0.10, "banner": -0.35, "sidebar": -0.45, "interstitial": 0.05, "native": 0.25, "rewarded": 0.40}  # fmt: skip
HOUR_WEIGHTS = np.array([2, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 6, 7, 6, 6, 6, 7, 8, 9, 10, 10, 9, 6, 4], dtype=float)
# Each campaign runs one offer; the offer, which a model can see, carries most of a campaign's effect.
OFFERS = {"none": 0.55, "discount": 0.25, "free_trial": 0.12, "bundle": 0.08}
OFFER_EFFECT = {"none": -0.15, "discount": 0.25, "free_trial": 0.60, "bundle": 0.35}
N_CAMPAIGNS, N_NEW_CAMPAIGNS, N_SITES = 2000, 20, 50_000
INTERCEPT = -3.5
# Drift ramps in over the last DRIFT_DAYS: more social traffic, new free-trial campaigns, and conversion
# falling by DRIFT_LEVEL in log-odds by the last day (the model overestimates; calibration drifts).
DRIFT_DAYS, DRIFT_LEVEL, DRIFT_SOCIAL_SHARE = 14, 0.2, 0.2
# Order value of a converter: log-normal around exp(mu), mu from country, device, offer and session depth.
VALUE_INTERCEPT, VALUE_SIGMA, VALUE_DEPTH = 3.0, 0.5, 0.35
COUNTRY_VALUE = {"US": 0.35, "GB": 0.25, "DE": 0.20, "FR": 0.10, "IN": -0.60, "BR": -0.40, "JP": 0.30, "CA": 0.20, "AU": 0.20, "MX": -0.35, "ES": 0.0, "NL": 0.15}  # fmt: skip
DEVICE_VALUE = {"mobile": -0.20, "desktop": 0.30, "tablet": 0.10}
# A free trial's first order is small and a bundle's large; the trial pays later, as a renewal (d30 ranks rows unlike d1).
OFFER_VALUE = {"none": 0.0, "discount": -0.25, "free_trial": -0.60, "bundle": 0.45}
# Later value: a repeat order on days 1-6 after conversion (counted in revenue_d7) and a renewal or repeat order on
# days 7-29 (revenue_d30). Per horizon: the days [first, last) after conversion the order arrives on (uniform), its
# chance per offer, and its amount's lift per offer: exp(mu + lift + VALUE_SIGMA * noise).
LATER_VALUE = {
    "revenue_d7": ((1, 7), {"none": 0.10, "discount": 0.18, "free_trial": 0.05, "bundle": 0.08}, dict.fromkeys(OFFERS, 0.0)),
    "revenue_d30": ((7, 30), {"none": 0.12, "discount": 0.15, "free_trial": 0.55, "bundle": 0.20}, {"none": -0.30, "discount": -0.30, "free_trial": 1.10, "bundle": -0.30}),
}  # fmt: skip
# Known only after the outcome (revenue and its horizons) or only to the simulator (true_p, true_value): never features.
NOT_FEATURES = ("revenue", "true_p", "true_value", "revenue_d1", "revenue_d7", "revenue_d30")


def _pick(rng: np.random.Generator, options: dict, n: int) -> np.ndarray:
    """Codes drawn with the option weights (index into list(options))."""
    weights = np.array(list(options.values()), dtype=float)
    return rng.choice(len(options), size=n, p=weights / weights.sum())


def _effect(codes: np.ndarray, options: dict, effects: dict) -> np.ndarray:
    return np.array([effects[key] for key in options])[codes]


def _strings(codes: np.ndarray, labels: list[str], missing: np.ndarray | None = None) -> pa.Array:
    indices = pa.array(codes.astype(np.int32), mask=missing)
    return pa.DictionaryArray.from_arrays(indices, pa.array(labels)).cast(pa.string())


def _zipf_ids(rng: np.random.Generator, n: int, size: int, a: float) -> np.ndarray:
    """Ids 1..size with a heavy head, as real traffic has."""
    ranks = np.arange(1, size + 1, dtype=float)
    weights = ranks**-a
    return rng.choice(size, size=n, p=weights / weights.sum()) + 1


def horizon_revenue(rng: np.random.Generator, revenue: np.ndarray, mu: np.ndarray, offer: np.ndarray, day: np.ndarray, days: int) -> dict:
    """Cumulative revenue_d1, revenue_d7, revenue_d30: later orders count only if they arrive by the data's last day."""
    n, total, out = len(revenue), revenue, {"revenue_d1": revenue}
    for name, ((first, last), chances, lift) in LATER_VALUE.items():
        happens = (revenue > 0) & (rng.random(n) < _effect(offer, OFFERS, chances))
        amount = np.maximum(np.round(np.exp(mu + _effect(offer, OFFERS, lift) + VALUE_SIGMA * rng.standard_normal(n)), 2), 0.01)
        arrives = day + rng.integers(first, last, size=n)
        total = total + np.where(happens & (arrives <= days - 1), amount, 0.0)  # censored: after the last day, not yet seen
        out[name] = total
    return out


def generate(rows: int, days: int, seed: int = 7) -> pa.Table:
    """The demo event table, sorted by event_time, with `event_date` for partitioning."""
    if rows < days:
        raise WorkbenchError(f"Asked for {rows} rows over {days} days; give at least one row per day.")
    rng = np.random.default_rng(seed)
    n = rows
    # Volume grows slowly and dips at weekends.
    day_index = np.arange(days)
    volume = (1 + 0.004 * day_index) * np.where((day_index + START.weekday()) % 7 >= 5, 0.8, 1.0)
    day = np.sort(rng.choice(days, size=n, p=volume / volume.sum()))
    hour = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    seconds = day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, size=n)
    order = np.argsort(seconds, kind="stable")
    seconds, hour, day = seconds[order], hour[order], day[order]
    ramp = np.clip((day - (days - DRIFT_DAYS) + 1) / DRIFT_DAYS, 0, 1)  # 0 before the drift, 1 on the last day
    late = ramp > 0

    country = _pick(rng, COUNTRIES, n)
    device = _pick(rng, DEVICES, n)
    os_labels = sorted({name for table in OS_BY_DEVICE.values() for name in table})
    os_code = np.empty(n, dtype=np.int64)
    for code, name in enumerate(DEVICES):
        rows_here = device == code
        options = OS_BY_DEVICE[name]
        picked = _pick(rng, options, int(rows_here.sum()))
        os_code[rows_here] = np.array([os_labels.index(o) for o in options])[picked]
    channel = _pick(rng, CHANNELS, n)
    channel[rng.random(n) < DRIFT_SOCIAL_SHARE * ramp] = list(CHANNELS).index("social")
    placement = _pick(rng, PLACEMENTS, n)
    ad_position = rng.choice(5, size=n, p=[0.35, 0.25, 0.18, 0.12, 0.10]) + 1

    campaign = _zipf_ids(rng, n, N_CAMPAIGNS, 0.8)
    new_campaign = late & (rng.random(n) < 0.06)  # a free-trial launch in the last weeks, converting well
    campaign[new_campaign] = N_CAMPAIGNS + rng.integers(1, N_NEW_CAMPAIGNS + 1, size=int(new_campaign.sum()))
    site = _zipf_ids(rng, n, N_SITES, 1.05)
    user = rng.integers(1, max(n // 4, 2), size=n)

    session_depth = rng.poisson(2.5, size=n) + 1
    dwell_s = np.round(rng.lognormal(3.4 + 0.15 * np.log(session_depth), 0.9), 1)
    prev_visits = rng.negative_binomial(1, 0.35, size=n)
    bid_price = np.round(rng.lognormal(-0.6 + 0.3 * (channel == list(CHANNELS).index("search")), 0.5), 3)

    campaign_offer = _pick(rng, OFFERS, N_CAMPAIGNS + N_NEW_CAMPAIGNS + 1)
    campaign_offer[N_CAMPAIGNS + 1 :] = list(OFFERS).index("free_trial")
    campaign_effect = _effect(campaign_offer, OFFERS, OFFER_EFFECT) + rng.normal(0, 0.1, size=len(campaign_offer))
    offer = campaign_offer[campaign]
    site_effect = rng.normal(0, 0.1, size=N_SITES + 1)
    pair = np.zeros((len(DEVICES), len(CHANNELS)))
    for (dev, chan), value in DEVICE_X_CHANNEL.items():
        pair[list(DEVICES).index(dev), list(CHANNELS).index(chan)] = value
    logit = (
        INTERCEPT
        + _effect(country, COUNTRIES, COUNTRY_EFFECT)
        + _effect(device, DEVICES, DEVICE_EFFECT)
        + _effect(channel, CHANNELS, CHANNEL_EFFECT)
        + pair[device, channel]
        + _effect(placement, PLACEMENTS, PLACEMENT_EFFECT)
        - 0.15 * (ad_position - 1)
        + 0.25 * np.sin((hour - 14) / 24 * 2 * np.pi)
        + 0.35 * np.log(session_depth)
        + 0.30 * (np.log(dwell_s + 1) - 3.4)
        + 0.25 * np.log1p(prev_visits)
        + campaign_effect[campaign]
        + site_effect[site]
    )
    logit = logit - DRIFT_LEVEL * ramp
    true_p = 1 / (1 + np.exp(-logit))
    converted = (rng.random(n) < true_p).astype(np.int8)
    # The same draws as the lognormal this replaced (lognormal is exp of these), so every later column keeps its values.
    noise = rng.standard_normal(n)
    mu = (
        VALUE_INTERCEPT
        + _effect(country, COUNTRIES, COUNTRY_VALUE)
        + _effect(device, DEVICES, DEVICE_VALUE)
        + _effect(offer, OFFERS, OFFER_VALUE)
        + VALUE_DEPTH * np.log(session_depth)
    )
    true_value = np.exp(mu + VALUE_SIGMA**2 / 2)  # E[revenue | converted, row] of a log-normal
    revenue = np.where(converted == 1, np.maximum(np.round(np.exp(mu + VALUE_SIGMA * noise), 2), 0.01), 0.0)
    horizons = horizon_revenue(np.random.default_rng([seed, 14]), revenue, mu, offer, day, days)

    def missing(share: float) -> np.ndarray:
        return rng.random(n) < share

    event_time = np.datetime64(START.isoformat(), "s") + seconds.astype("timedelta64[s]")
    dates = np.array([(START + timedelta(days=int(d))).isoformat() for d in range(days)])
    return pa.table(
        {
            "event_date": _strings(day, list(dates)),
            "event_time": pa.array(event_time, type=pa.timestamp("s")),
            "user_id": pa.array(user),
            "campaign_id": pa.array(campaign),
            "site_id": pa.array(site),
            "country": _strings(country, list(COUNTRIES), missing(0.005)),
            "device": _strings(device, list(DEVICES)),
            "os": _strings(os_code, os_labels, missing(0.01)),
            "channel": _strings(channel, list(CHANNELS)),
            "placement": _strings(placement, list(PLACEMENTS)),
            "offer": _strings(offer, list(OFFERS)),
            "ad_position": pa.array(ad_position.astype(np.int8)),
            "hour": pa.array(hour.astype(np.int8)),
            "session_depth": pa.array(session_depth.astype(np.int32)),
            "dwell_s": pa.array(dwell_s, mask=missing(0.04)),
            "prev_visits": pa.array(prev_visits.astype(np.int32), mask=missing(0.02)),
            "bid_price": pa.array(bid_price),
            "converted": pa.array(converted),
            "revenue": pa.array(revenue),
            "true_p": pa.array(true_p),
            "true_value": pa.array(true_value),
            **{name: pa.array(values) for name, values in horizons.items()},
        }
    )


def write(table: pa.Table, out: Path, overwrite: bool = False, progress=None) -> Path:
    """Writes `event_date=YYYY-MM-DD/part-0.parquet` folders under `out`, all or nothing."""
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise WorkbenchError(f"{out} already holds data; pass --overwrite to replace it.")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        dates = table["event_date"].to_numpy()
        bounds = np.flatnonzero(dates[1:] != dates[:-1]) + 1
        starts, ends = np.r_[0, bounds], np.r_[bounds, len(dates)]
        body = table.drop_columns(["event_date"])
        for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
            folder = staging / f"event_date={dates[start]}"
            folder.mkdir()
            pq.write_table(body.slice(start, end - start), folder / "part-0.parquet", compression="zstd")
            if progress:
                progress(i + 1, len(starts))
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def is_current(folder: Path) -> bool:
    """Whether `folder` holds demo data with every column this generator writes (older demos lack the value columns)."""
    first = next(Path(folder).glob("event_date=*/part-0.parquet"), None)
    return first is not None and {"event_time", *NOT_FEATURES} <= set(pq.read_schema(first).names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows to generate (WB_DEMO_ROWS)")
    parser.add_argument("--days", type=int, default=None, help="days of events (WB_DEMO_DAYS)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default <data root>/demo)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    parser.add_argument("--if-missing", action="store_true", help="do nothing when the folder holds current demo data")
    args = parser.parse_args(argv)
    try:
        rows = args.rows or settings.get("demo_rows")
        days = args.days or settings.get("demo_days")
        out = args.out or settings.get("data_root") / "demo"
        held = out.exists() and any(out.iterdir())
        if args.if_missing and held and is_current(out):
            return 0
        if args.if_missing and held:  # a demo from before the value columns: it is ours to replace, and Train needs them
            print(f"{out} predates the demo's value columns; generating it again.", file=sys.stderr)
            args.overwrite = True
        began = time.perf_counter()
        print(f"Generating demo data: {rows:,} rows over {days} days -> {out}", file=sys.stderr, flush=True)
        table = generate(rows, days, args.seed)

        def progress(done: int, total: int) -> None:
            # A moving counter on a terminal; one line per tenth in logs (make, CI).
            if sys.stderr.isatty():
                print(f"\r  writing day {done}/{total}", end="", file=sys.stderr, flush=True)
            elif done == total or done % max(total // 10, 1) == 0:
                print(f"  writing day {done}/{total}", file=sys.stderr, flush=True)

        write(table, out, args.overwrite, progress)
        print(f"\n  done in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    except WorkbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
