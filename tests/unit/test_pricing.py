"""Cost per 1M predictions from list prices: the arithmetic and the guards (the docs tables
come from measured numbers: tests/unit/test_cost.py)."""

from __future__ import annotations

import pytest

from precast.project import pricing


def test_lambda_arm64_is_gb_seconds_plus_requests() -> None:
    # 1M predictions at 100/s = 10,000 s x 2 GB = 20,000 GB-s; 1M requests.
    estimate = pricing.lambda_cost(architecture="arm64", memory_mb=2048, predictions_per_second=100)
    assert estimate.usd_per_million == pytest.approx(20_000 * 0.0000133334 + 0.20)


def test_lambda_x86_costs_more_per_gb_second_and_batching_cuts_requests() -> None:
    arm = pricing.lambda_cost(architecture="arm64")
    x86 = pricing.lambda_cost(architecture="x86_64")
    assert x86.usd_per_million - arm.usd_per_million == pytest.approx(
        20_000 * (0.0000166667 - 0.0000133334)
    )
    batched = pricing.lambda_cost(architecture="arm64", predictions_per_request=32)
    assert arm.usd_per_million - batched.usd_per_million == pytest.approx(0.20 * (1 - 1 / 32))


def test_modal_is_busy_seconds_over_utilization_times_per_second_price() -> None:
    estimate = pricing.modal_cost(
        gpu="T4", predictions_per_second=2000, cpu_cores=0, memory_gib=0, utilization=0.5
    )
    assert estimate.usd_per_million == pytest.approx(1_000_000 / 2000 / 0.5 * 0.000164)
    full = pricing.modal_cost(gpu="T4", predictions_per_second=2000)
    assert full.usd_per_million == pytest.approx(500 * (0.000164 + 0.0000131 + 2 * 0.00000222))


def test_batch_fargate_spot_applies_the_discount_to_task_hours() -> None:
    estimate = pricing.batch_fargate_spot_cost(
        vcpus=2, memory_mb=4096, predictions_per_second=200, spot_discount=0.7
    )
    hours = 1_000_000 / 200 / 3600
    on_demand = hours * (2 * 0.04048 + 4 * 0.004445)
    assert estimate.usd_per_million == pytest.approx(on_demand * 0.3)
    no_discount = pricing.batch_fargate_spot_cost(spot_discount=0.0)
    assert no_discount.usd_per_million == pytest.approx(on_demand)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pricing.lambda_cost(architecture="sparc"), "Choices are: arm64|x86_64"),
        (lambda: pricing.lambda_cost(predictions_per_second=0), "predictions_per_second"),
        (lambda: pricing.modal_cost(gpu="TPU"), "Choices are: T4"),
        (lambda: pricing.modal_cost(utilization=1.5), "utilization"),
        (lambda: pricing.batch_fargate_spot_cost(spot_discount=1.0), "spot_discount"),
    ],
)
def test_bad_inputs_say_what_is_allowed(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
