"""Timing in alternating rounds (the twin benchmark's), and the table cell it gives."""

from experiments import interleaved_timing


def test_interleaved_seconds_warms_up_then_alternates_rounds():
  calls = []

  def side(name):
    return interleaved_timing.TimedStep(
      lambda: calls.append(name), lambda _: calls.append(f"{name}.")
    )

  seconds = interleaved_timing.interleaved_seconds(
    {"a": side("a"), "b": side("b")}, steps=2, rounds=3
  )
  warm_up = ["a", "a.", "a", "a.", "b", "b.", "b", "b."]
  one_round = ["a", "a", "a.", "b", "b", "b."]
  assert calls == warm_up + one_round * 3
  assert [len(seconds["a"]), len(seconds["b"])] == [3, 3]
  assert all(s >= 0 for s in seconds["a"] + seconds["b"])


def test_compare_gives_median_rates_median_ratio_and_range():
  # jaxseg's rounds took 1, 2 and 4 s, PyTorch's 1 s each: ratios 1, 0.5, 0.25.
  assert (
    interleaved_timing.compare([1.0, 2.0, 4.0], [1.0, 1.0, 1.0], 4)
    == "2.00 vs 4.00 (0.50x; 0.25-1.00)"
  )
  assert interleaved_timing.compare([2.0], [3.0], 8) == "4.00 vs 2.67 (1.50x)"
