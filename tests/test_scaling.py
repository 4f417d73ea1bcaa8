"""Scaling helpers: the power-law fit recovers known constants; counts on meta match the catalog."""

import json

import numpy as np
import pytest

from course_utils import scaling
from course_utils.catalog import get_spec


def test_fit_recovers_known_power_law():
    n = np.geomspace(1e4, 1e8, 6)
    loss = 1.2 + 50 * n ** -0.3
    fit = scaling.fit_power_law(n, loss)
    assert fit.E == pytest.approx(1.2, abs=2e-3)
    assert fit.alpha == pytest.approx(0.3, rel=1e-2)
    assert fit.A == pytest.approx(50, rel=5e-2)
    assert fit.rmse < 1e-3 and fit.n_points == 6
    assert fit(1e6) == pytest.approx(1.2 + 50 * 1e6 ** -0.3, rel=1e-3)


def test_fit_with_noise_keeps_E_below_the_smallest_loss():
    rng = np.random.default_rng(0)
    n = np.geomspace(1e5, 1e7, 5)
    loss = 0.9 + 8 * n ** -0.25 + rng.normal(0, 0.003, 5)
    fit = scaling.fit_power_law(n, loss)
    assert 0 <= fit.E < loss.min()
    assert abs(fit.E - 0.9) < 0.15


def test_fit_loglog_is_exact_for_the_true_E():
    n = np.array([1e3, 1e4, 1e5])
    A, alpha = scaling.fit_loglog(n, 2.0 + 3 * n ** -0.5, 2.0)
    assert A == pytest.approx(3) and alpha == pytest.approx(0.5)


@pytest.mark.parametrize("n, loss", [([1, 2], [3, 2]), ([1, 2, 3], [3, 2]), ([0, 2, 3], [3, 2, 1]),
                                     ([1, 2, 3], [3, -2, 1])])
def test_fit_refuses_bad_input_with_a_message(n, loss):
    with pytest.raises(ValueError, match="at least 3|positive"):
        scaling.fit_power_law(n, loss)


def test_param_counts_on_meta_match_catalog_and_formula():
    specs = [get_spec(n) for n in ("SmolLM2-135M", "Qwen2.5-0.5B", "Pythia-70M", "GPT-2")]
    rows = scaling.param_check(specs)
    assert len(rows) == len(specs)
    for row in rows:
        assert row["catalog"] == row["formula"] == row["torch (meta device)"], row
        assert 0 < row["embedding share"] < 1


def _manifest(tmp_path):
    arch = lambda h: {"n_layers": 2, "hidden": h, "heads": 2, "kv_heads": 2, "head_dim": h // 2,  # noqa: E731
                      "mlp": 4 * h, "vocab": 100, "context": 64, "tied_embeddings": True}
    models = [{"name": f"m{h}", "path": f"m{h}", "params": 1000 * h, "architecture": arch(h),
               "training": {"tokens": 5000}, "metrics": {"val_bits_per_char": {"mix": 3.0 - h / 100}}}
              for h in (64, 32)]
    corpus = {"floor_bits_per_char": {"mix": 1.5}, "floor_ci95": {"mix": [1.49, 1.51]}, "floor_docs": 10}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"models": models, "corpus": corpus}))
    return path


def test_ladder_and_floor_from_a_manifest(tmp_path):
    path = _manifest(tmp_path)
    points = scaling.ladder(path)
    assert [p.name for p in points] == ["m32", "m64"]  # smallest first
    assert points[0].non_embedding_params == 32000 - 100 * 32
    assert points[1].train_flops == 6 * (64000 - 100 * 64) * 5000  # 6·N·D with the axis's N (non-embedding)
    floor = scaling.corpus_floor(path)
    assert floor.bits_per_char == 1.5 and floor.ci95 == (1.49, 1.51) and "manifest" in floor.source
    assert scaling.ladder(tmp_path / "missing.json") == []


def test_plot_ladder_draws_the_floor_and_the_fit(tmp_path):
    path = _manifest(tmp_path)
    points = scaling.ladder(path)
    fit = scaling.PowerLaw(1.6, 10.0, 0.3, 0.0, 2)
    fig = scaling.plot_ladder(points, scaling.corpus_floor(path), fit)
    ys = [line.get_ydata()[0] for line in fig.axes[0].lines if len(set(line.get_ydata())) == 1]
    assert 1.5 in ys and 1.6 in ys
    assert fig.axes[1].get_xscale() == "log"


def test_family_scores_carry_sources_and_grow_with_size():
    rows = scaling.family_scores()
    assert {r["family"] for r in rows} == {"SmolLM2", "Qwen2.5", "Pythia"}
    assert all(r["source"] for r in rows)
    hs = [r["score"] for r in sorted(rows, key=lambda r: r["params"])
          if r["family"] == "SmolLM2" and r["benchmark"] == "HellaSwag"]
    assert hs == sorted(hs) and len(hs) == 3
    fig = scaling.plot_family_scores(rows)
    assert len(fig.axes) == 3


def test_the_size_and_data_law_recovers_known_constants_from_noisy_points():
    import numpy as np

    from course_utils.scaling import fit_scaling_law

    rng = np.random.default_rng(0)
    n = np.repeat([1e5, 1e6, 4e6, 1e7], 8)
    d = np.tile(np.geomspace(3e5, 4e6, 8), 4)
    true = 0.15 + 40 * n ** -0.5 + 300 * d ** -0.45
    loss = true + rng.normal(0, 0.002, n.size)
    law = fit_scaling_law(n, d, loss)
    assert abs(law.E - 0.15) < 0.03 and abs(law.alpha - 0.5) < 0.15 and law.rmse < 0.004
    # E is free: a law whose constant lies above the smallest loss of a short grid is not clamped
    with pytest.raises(ValueError, match="at least 6"):
        fit_scaling_law(n[:3], d[:3], loss[:3])


def test_bootstrap_interval_contains_the_fit_on_all_points():
    import numpy as np

    from course_utils.scaling import GridPoint, bootstrap_E, fit_scaling_law

    rng = np.random.default_rng(1)
    pts = [GridPoint(f"m{i}", int(nn), int(dd), float(0.2 + 20 * nn ** -0.5 + 100 * dd ** -0.4 + rng.normal(0, 0.002)))
           for i, nn in enumerate([1e5, 1e6, 1e7]) for dd in np.geomspace(1e5, 3e6, 6)]
    lo, hi, values = bootstrap_E(pts, resamples=40)
    full = fit_scaling_law([p.non_embedding_params for p in pts], [p.tokens for p in pts],
                           [p.val_bits_per_char for p in pts])
    assert lo <= full.E <= hi and len(values) >= 30 and hi - lo < 0.2


def test_tail_points_keep_the_last_half_of_each_curve_and_tenfold_gains_are_per_benchmark():
    from course_utils.scaling import GridPoint, points_per_tenfold, tail_points

    pts = [GridPoint(n, 10, d, 1.0 / d) for n in ("a", "b") for d in (8, 1, 4, 2)]
    assert [(p.name, p.tokens) for p in tail_points(pts)] == [("a", 4), ("a", 8), ("b", 4), ("b", 8)]
    rows = [{"family": "F", "benchmark": "X", "params": n, "score": s} for n, s in ((1e8, 30.0), (1e10, 50.0), (1e9, 45.0))]
    (gain,) = points_per_tenfold(rows)
    assert (gain["smallest"], gain["largest"]) == (30.0, 50.0) and gain["points per tenfold"] == pytest.approx(10.0)
