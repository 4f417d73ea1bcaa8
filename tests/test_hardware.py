"""course_utils.hardware: measured rates that hold together, and clear refusals."""

import pytest
import torch

from course_utils.errors import BadInputError, DeviceError
from course_utils.hardware import Measured, copy_bandwidth, decode_bound, matmul_rate


def test_matmul_rate_is_a_median_inside_its_spread_and_counts_2mkn_flops(monkeypatch):
    rate = matmul_rate("float32", 256, 128, 64, repeats=5)
    assert isinstance(rate, Measured) and rate.repeats == 5 and rate.unit == "FLOP/s"
    assert 0 < rate.low <= rate.median <= rate.high
    ticks = iter(range(100))  # a clock that advances 1 s per call: every product "takes" 1 s
    monkeypatch.setattr("course_utils.hardware.time.perf_counter", lambda: float(next(ticks)))
    assert matmul_rate("float32", 8, 4, 2, repeats=3).median == 2 * 8 * 4 * 2


def test_copy_bandwidth_counts_a_read_and_a_write_of_every_byte(monkeypatch):
    ticks = iter(range(100))
    monkeypatch.setattr("course_utils.hardware.time.perf_counter", lambda: float(next(ticks)))
    assert copy_bandwidth(2, repeats=2).median == 2 * 2 * 10**6


def test_threads_are_restored_and_the_decode_bound_is_bandwidth_over_bytes():
    before = torch.get_num_threads()
    matmul_rate("float32", 64, 64, 64, repeats=1, threads=1)
    assert torch.get_num_threads() == before
    assert decode_bound(weight_bytes=2e9, bandwidth_bytes_per_s=50e9) == 25.0
    assert "FLOP/s" in str(matmul_rate("float32", 64, 64, 64, repeats=2))


def test_bad_input_and_unsupported_dtypes_say_what_to_use(monkeypatch):
    with pytest.raises(BadInputError, match="Unknown dtype 'int3'"):
        matmul_rate("int3")
    with pytest.raises(BadInputError):
        copy_bandwidth(0)
    with pytest.raises(BadInputError):
        decode_bound(0, 1e9)

    def refuse(*args, **kwargs):
        raise RuntimeError('"addmm_impl_cpu_" not implemented for \'Half\'')

    real_matmul = torch.Tensor.__matmul__
    monkeypatch.setattr(torch.Tensor, "__matmul__", lambda a, b: refuse() if a.dtype == torch.float16
                        else real_matmul(a, b))
    with pytest.raises(DeviceError, match="do not run on cpu here.*Use float32"):
        matmul_rate("float16", 32, 32, 32)


def test_dtype_support_tells_native_emulated_and_refused_apart(monkeypatch):
    from course_utils import hardware

    rates = {torch.float32: 100e9, torch.bfloat16: 250e9, torch.float16: 1e9}

    def fake_rate(dtype, *a, **k):
        dt = hardware._dtype(dtype)
        if dt not in rates:
            raise DeviceError(f"{dt} matrix products do not run on cpu here")
        return Measured(rates[dt], rates[dt], rates[dt], "FLOP/s", 3)

    monkeypatch.setattr(hardware, "matmul_rate", fake_rate)
    bf16, fp16 = hardware.dtype_support("bfloat16"), hardware.dtype_support("float16")
    assert bf16.runs and bf16.speed_vs_float32 == 2.5 and "2.5× faster" in bf16.note
    assert fp16.runs and fp16.speed_vs_float32 == 0.01 and "emulated" in fp16.note and "100× slower" in fp16.note
    assert hardware.dtype_support("float32").speed_vs_float32 == 1.0
    del rates[torch.float16]
    refused = hardware.dtype_support("float16")
    assert not refused.runs and refused.speed_vs_float32 is None and "do not run" in refused.note


def test_the_roofline_draws_the_bound_and_one_point_per_model():
    import matplotlib

    matplotlib.use("Agg")
    from course_utils.hardware import plot_roofline

    ax = plot_roofline([{"label": "a", "weight_bytes": 1e6, "tokens_per_s": 100.0},
                        {"label": "b", "weight_bytes": 1e8, "tokens_per_s": 20.0}], bandwidth_bytes_per_s=1e10)
    (line,) = ax.get_lines()
    xs, ys = line.get_data()
    assert all(abs(y - 1e10 / x) < 1e-6 * y for x, y in zip(xs, ys))  # the bound is bandwidth ÷ bytes
    assert len(ax.collections) == 2 and ax.get_xscale() == "log"


def test_the_matmul_plot_has_one_bar_series_per_dtype_and_thread_count():
    import matplotlib

    matplotlib.use("Agg")
    from course_utils.hardware import plot_matmul_rates

    m = lambda v: Measured(v, v, v, "FLOP/s", 1)  # noqa: E731
    rates = {("a", "float32", 1): m(1e9), ("b", "float32", 1): m(2e9), ("a", "bfloat16", 1): m(3e9),
             ("b", "bfloat16", 1): m(4e9)}
    ax = plot_matmul_rates(rates)
    assert [round(p.get_height()) for p in ax.patches] == [1, 2, 3, 4]  # GFLOP/s, by series then shape
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["float32, 1 thread(s)", "bfloat16, 1 thread(s)"]
