import numpy as np
import pyarrow.parquet as pq
import pytest

from core import demo
from core.errors import WorkbenchError

COLUMNS = [
    "event_date", "event_time", "user_id", "campaign_id", "site_id", "country", "device", "os", "channel", "placement", "offer",
    "ad_position", "hour", "session_depth", "dwell_s", "prev_visits", "bid_price", "converted", "revenue", "true_p",
]  # fmt: skip


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


def test_cli(tmp_path, capsys):
    out = tmp_path / "d"
    assert demo.main(["--rows", "2000", "--days", "4", "--out", str(out), "--seed", "1"]) == 0
    stamp = (out / "event_date=2026-09-01" / "part-0.parquet").stat().st_mtime_ns
    assert demo.main(["--rows", "2000", "--days", "4", "--out", str(out), "--if-missing"]) == 0
    assert (out / "event_date=2026-09-01" / "part-0.parquet").stat().st_mtime_ns == stamp
    assert demo.main(["--rows", "2", "--days", "4", "--out", str(tmp_path / "e")]) == 2
    assert "at least one row per day" in capsys.readouterr().err
