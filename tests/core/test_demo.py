import subprocess
import types
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import r2_score

from core import demo
from core.errors import WorkbenchError

COLUMNS = [
    "event_date", "event_time", "user_id", "campaign_id", "site_id", "country", "device", "os", "channel", "placement", "offer",
    "ad_position", "hour", "session_depth", "dwell_s", "prev_visits", "bid_price", "converted", "revenue", "true_p",
    "true_value", "revenue_d1", "revenue_d7", "revenue_d30",
]  # fmt: skip
BEFORE_VALUE = "afe7f79"  # the last commit before issue 14's demo value: its generator gives every other column


@pytest.fixture(scope="module")
def table():
    return demo.generate(60_000, 28, seed=1).to_pandas()


def test_columns_and_order(table):
    assert list(table.columns) == COLUMNS
    assert len(table) == 60_000
    assert table["event_time"].is_monotonic_increasing
    assert table["event_date"].nunique() == 28
    assert (table["event_time"].dt.strftime("%Y-%m-%d") == table["event_date"]).all()
    assert (table["event_time"].dt.hour == table["hour"]).all()


def test_conversion_rate_is_realistic_and_follows_true_p(table):
    assert 0.03 <= table["converted"].mean() <= 0.08
    assert table["true_p"].between(0, 1, inclusive="neither").all()
    assert abs(table["converted"].mean() - table["true_p"].mean()) < 0.005
    rates = table.groupby("device")["converted"].mean()
    assert rates["desktop"] > rates["mobile"]


def test_revenue_only_for_converters(table):
    assert (table.loc[table["converted"] == 0, "revenue"] == 0).all()
    assert (table.loc[table["converted"] == 1, "revenue"] > 0).all()


def test_value_columns_follow_conversion_and_never_decrease(table):
    converted = table["converted"] == 1
    assert (table["true_value"] > 0).all()
    assert (table["revenue_d1"] == table["revenue"]).all()
    for name in ("revenue_d7", "revenue_d30"):
        assert (table.loc[~converted, name] == 0).all()
    assert (table["revenue_d7"] >= table["revenue_d1"]).all() and (table["revenue_d30"] >= table["revenue_d7"]).all()
    assert (table["revenue_d30"] > table["revenue_d1"]).mean() > 0.1 * converted.mean()  # later orders do happen
    assert set(demo.NOT_FEATURES) == {"revenue", "true_p", "true_value", "revenue_d1", "revenue_d7", "revenue_d30"}


def test_later_orders_arrive_after_conversion_and_are_censored_at_the_last_day(table):
    day = (table["event_time"] - table["event_time"].min().normalize()).dt.days.to_numpy()
    last = day == day.max()
    assert last.sum() > 1000
    assert (table.loc[last, "revenue_d30"] == table.loc[last, "revenue_d1"]).all()  # nothing arrives on day 0 after conversion
    # The same draws with the last day moved: a row's later orders count exactly when they arrive by the last day.
    offer = table["offer"].map(list(demo.OFFERS).index).to_numpy()
    inputs = (table["revenue"].to_numpy(), np.log(table["true_value"].to_numpy()), offer, day)
    seen = demo.horizon_revenue(np.random.default_rng(3), *inputs, days=28)
    full = demo.horizon_revenue(np.random.default_rng(3), *inputs, days=28 + 29)  # every order of every row has arrived
    later = demo.horizon_revenue(np.random.default_rng(3), *inputs, days=40)  # d30 complete for rows of days 0-10
    assert (seen["revenue_d30"][last] == seen["revenue_d1"][last]).all()
    assert (seen["revenue_d7"][day <= 27 - 6] == full["revenue_d7"][day <= 27 - 6]).all()
    assert (later["revenue_d30"][day <= 39 - 29] == full["revenue_d30"][day <= 39 - 29]).all()
    assert (later["revenue_d30"][day > 39 - 29] < full["revenue_d30"][day > 39 - 29]).any()
    assert (seen["revenue_d7"][day > 27 - 6] < full["revenue_d7"][day > 27 - 6]).any()
    for name in ("revenue_d7", "revenue_d30"):
        assert (seen[name] <= later[name]).all() and (later[name] <= full[name]).all()
    # Censoring shows in the data: the newest rows have accrued less of their d30 value than the old ones.
    accrued = table["revenue_d30"] / table["revenue_d1"]
    converted = table["converted"] == 1
    assert accrued[converted & (day < 28 - 30 + 7)].mean() > accrued[converted & (day >= 28 - 7)].mean()


def test_free_trials_pay_later_so_d30_ranks_offers_unlike_d1(table):
    means = table[table["converted"] == 1].groupby("offer")[["revenue_d1", "revenue_d30"]].mean()
    assert means.loc["free_trial", "revenue_d1"] < means.loc["none", "revenue_d1"]
    assert (means.loc["free_trial", "revenue_d30"] / means.loc["free_trial", "revenue_d1"]) > 1.5
    assert (means.loc["none", "revenue_d30"] / means.loc["none", "revenue_d1"]) < 1.3


def test_true_value_is_the_unbiased_oracle_of_revenue_and_explains_it():
    big = demo.generate(200_000, 56, seed=3).to_pandas()
    converters = big[big["converted"] == 1]
    assert len(converters) > 8_000
    assert converters["revenue"].mean() == pytest.approx(converters["true_value"].mean(), rel=0.03)
    log_r2 = r2_score(np.log(converters["revenue"]), np.log(converters["true_value"]) - demo.VALUE_SIGMA**2 / 2)
    raw_r2 = r2_score(converters["revenue"], converters["true_value"])
    print(f"oracle R² on converters: log {log_r2:.3f}, raw {raw_r2:.3f}")
    assert 0.4 < log_r2 < 0.6 and 0.3 < raw_r2 < 0.5  # learnable, not trivial
    by_offer = converters.groupby("offer")["revenue"].mean()
    assert by_offer["bundle"] > by_offer["none"] > by_offer["free_trial"]


def test_every_column_before_the_value_columns_keeps_its_values():
    """Other tests and benchmarks rely on the demo's values: the value columns draw from a second generator."""
    try:
        source = subprocess.run(
            ["git", "show", f"{BEFORE_VALUE}:core/demo.py"], cwd=Path(demo.__file__).parent, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"commit {BEFORE_VALUE} is not in this checkout")
    before = types.ModuleType("demo_before")
    exec(compile(source, "demo_before.py", "exec"), before.__dict__)
    for rows, days, seed in ((5_000, 28, 1), (3_000, 7, 7)):
        old, new = before.generate(rows, days, seed), demo.generate(rows, days, seed)
        assert new.column_names[: old.num_columns] == old.column_names
        for name in old.column_names:
            if name != "revenue":
                assert new[name].equals(old[name]), name
        assert ((old["revenue"].to_numpy() > 0) == (new["revenue"].to_numpy() > 0)).all()


def test_ids_and_missing_values(table):
    assert table["campaign_id"].between(1, demo.N_CAMPAIGNS + demo.N_NEW_CAMPAIGNS).all()
    assert table["site_id"].between(1, demo.N_SITES).all()
    assert table["site_id"].nunique() > 10_000
    for column in ("dwell_s", "prev_visits", "country", "os"):
        assert 0 < table[column].isna().mean() < 0.06, column


def test_the_last_two_weeks_drift(table):
    day = (table["event_time"] - table["event_time"].min().normalize()).dt.days
    late, last = day >= 28 - demo.DRIFT_DAYS, day == 27
    new = table["campaign_id"] > demo.N_CAMPAIGNS
    assert new.any() and not (new & ~late).any()
    assert (table.loc[new, "offer"] == "free_trial").all()  # new ids, but an offer the model has seen
    social = (table["channel"] == "social").groupby(late).mean()
    assert social[True] > social[False] + 0.05  # the traffic mix moves
    # Conversion falls by DRIFT_LEVEL in log-odds by the last day, whatever the mix: the same rows score lower.
    log_odds = np.log(table["true_p"] / (1 - table["true_p"]))
    early = log_odds[~late & ~new & (table["channel"] != "social")].mean()
    assert log_odds[last & ~new & (table["channel"] != "social")].mean() == pytest.approx(early - demo.DRIFT_LEVEL, abs=0.05)


def test_same_seed_same_data():
    assert demo.generate(2_000, 7, seed=5).equals(demo.generate(2_000, 7, seed=5))
    assert not demo.generate(2_000, 7, seed=5).equals(demo.generate(2_000, 7, seed=6))


def test_write_makes_daily_partitions_all_or_nothing(tmp_path):
    out = demo.write(demo.generate(3_000, 5, seed=2), tmp_path / "demo")
    folders = sorted(p.name for p in out.iterdir())
    assert folders == [f"event_date=2026-09-0{d}" for d in range(1, 6)]
    assert pq.read_table(out / folders[0] / "part-0.parquet").num_rows > 0
    with pytest.raises(WorkbenchError, match="--overwrite"):
        demo.write(demo.generate(3_000, 5, seed=2), out)
    demo.write(demo.generate(3_000, 3, seed=2), out, overwrite=True)
    assert len(list(out.iterdir())) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no staging folder left behind


def test_a_demo_made_before_the_value_columns_is_not_current(tmp_path):
    table = demo.generate(1_000, 3, seed=2)
    assert demo.is_current(demo.write(table, tmp_path / "now"))
    assert not demo.is_current(demo.write(table.drop_columns(["true_value", "revenue_d30"]), tmp_path / "old"))
    assert not demo.is_current(tmp_path / "missing")


def test_cli(tmp_path, capsys):
    out = tmp_path / "d"
    assert demo.main(["--rows", "2000", "--days", "4", "--out", str(out), "--seed", "1"]) == 0
    stamp = (out / "event_date=2026-09-01" / "part-0.parquet").stat().st_mtime_ns
    assert demo.main(["--rows", "2000", "--days", "4", "--out", str(out), "--if-missing"]) == 0
    assert (out / "event_date=2026-09-01" / "part-0.parquet").stat().st_mtime_ns == stamp
    assert demo.main(["--rows", "2", "--days", "4", "--out", str(tmp_path / "e")]) == 2
    assert "at least one row per day" in capsys.readouterr().err


def test_if_missing_replaces_a_demo_made_before_the_value_columns(tmp_path, capsys):
    old = demo.write(demo.generate(1_000, 3, seed=2).drop_columns(["true_value", "revenue_d30"]), tmp_path / "demo")
    assert demo.main(["--rows", "1000", "--days", "3", "--out", str(old), "--if-missing"]) == 0
    assert demo.is_current(old)
    assert "predates the demo's value columns" in capsys.readouterr().err
