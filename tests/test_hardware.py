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
