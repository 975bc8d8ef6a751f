"""Detector and analyze() on Python data and on the scenarios' recorded traces."""

from pathlib import Path

import pytest

import memwarden

TRACES = Path(__file__).resolve().parents[3] / "scenarios" / "traces"
MIB = 1 << 20


def test_a_steady_rise_is_a_leak_and_a_flat_line_is_not():
    leak = memwarden.Detector()
    leak.extend((t, 10 * MIB + t * MIB) for t in range(60))
    live = leak.verdict(limit="1GiB")
    # A minute is too short for a live call, but the rise and its projection are known.
    assert live.rising and live.time_to_limit_s > 0
    v = leak.final_verdict(limit="1GiB")
    assert v.kind == "leak" and v.is_leak
    assert abs(v.growth_per_s - MIB) < 0.01 * MIB
    assert v.time_to_limit_s > 0 and v.detected_at_s <= 60
    assert v.to_dict()["kind"] == "leak" and v.to_dict()["rising"]

    flat = memwarden.Detector()
    for t in range(300):
        flat.push(t, 100 * MIB + (t % 7) * 4096)
    assert flat.verdict().kind == "stable"
    assert flat.samples == 300 and flat.rejected == 0 and flat.floor()


def test_counts_and_knobs():
    d = memwarden.Detector("threads", warmup_s=0, min_span_s=20)
    d.extend((t, 5 + t) for t in range(40))
    v = d.verdict()
    assert v.kind == "leak" and "threads" in v.reason
    with pytest.raises(TypeError, match="unexpected keyword argument 'warmup'"):
        memwarden.Detector(warmup=3)


def test_out_of_order_samples_are_rejected():
    d = memwarden.Detector()
    d.push(2, 1.0)
    d.push(1, 1.0)
    d.push(3, float("nan"))
    assert d.samples == 1 and d.rejected == 2


@pytest.mark.parametrize("name", ["s1_spawner", "s3_collector", "s4_global_maps"])
def test_recorded_scenarios_are_judged_by_their_labels(name):
    leaky = memwarden.analyze(TRACES / f"{name}-leaky-60s.csv")
    fixed = memwarden.analyze(str(TRACES / f"{name}-fixed-60s.csv"))
    assert leaky.verdict.kind == "leak", leaky.verdict
    assert fixed.verdict.kind in ("stable", "plateau"), fixed.verdict
    assert leaky.format == "csv" and leaky.column == "anon_bytes" and leaky.in_bytes
    assert leaky.samples == len(leaky.points) > 100 and leaky.peak >= leaky.start


def test_bad_traces_name_the_file_or_the_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        memwarden.analyze(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("t_seconds,anon_bytes\n0,100\n1,lots\n")
    with pytest.raises(ValueError, match="line 3") as e:
        memwarden.analyze(bad)
    assert isinstance(e.value, memwarden.TraceFormatError)


@pytest.mark.parametrize(
    "text, size", [("512MiB", 512 * MIB), ("4G", 4 << 30), ("1.5GB", 1_500_000_000), (7, 7)]
)
def test_sizes(text, size):
    assert memwarden.parse_size(text) == size


def test_durations_and_bad_values():
    from datetime import timedelta

    assert memwarden.parse_duration("1h30m") == 5400
    assert memwarden.parse_duration(0.25) == 0.25
    assert memwarden.parse_duration(timedelta(milliseconds=250)) == 0.25
    with pytest.raises(ValueError, match="'soon' is not a duration like 250ms"):
        memwarden.parse_duration("soon")
    with pytest.raises(TypeError):
        memwarden.parse_size(1.5)
    assert memwarden.format_bytes(3 * MIB) == "3.0 MiB"
