"""cdk-nag AwsSolutions runs on the real app, and every acknowledgment says why.

cdk-nag 3 is a CDK validation plugin (``Validations.of(app).add_plugins``): an
unacknowledged finding makes ``app.synth()`` raise ``ValidationFailed`` and writes
``validation-report.json``. ``Annotations.find_error`` stays empty in v3 whatever happens,
so these tests read the synth result and the report instead.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3
from cdk_support import Synthesized

from cdk.exceptions import CdkAppError
from cdk.nag import MIN_REASON_CHARS, acknowledge, add_nag_checks

pytestmark = pytest.mark.slow


def _violations(outdir: Any) -> list[tuple[str, str]]:
    report = json.loads((outdir / "validation-report.json").read_text(encoding="utf-8"))
    return [
        (v["ruleName"], c["constructPath"])
        for plugin in report["pluginReports"]
        for v in plugin["violations"]
        for c in v["violatingConstructs"]
    ]


def test_real_app_has_no_unacknowledged_awssolutions_findings(real_app: Synthesized) -> None:
    if real_app.error is not None:
        pytest.fail(f"cdk-nag findings: {_violations(real_app.outdir)}")
    report_path = real_app.outdir / "validation-report.json"
    if report_path.exists():
        assert [v for v in _violations(real_app.outdir) if "AwsSolutions" in v[0]] == []


def test_every_acknowledgment_in_the_template_has_a_specific_reason(
    real_app: Synthesized,
) -> None:
    acknowledged: list[tuple[str, str, str]] = []
    for logical_id, resource in real_app.template["Resources"].items():
        rules = resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
        for rule in rules:
            acknowledged.append((logical_id, rule["id"], rule["reason"]))
    ours = [a for a in acknowledged if a[1].startswith("AwsSolutions-")]
    assert ours, "expected acknowledgments copied into Metadata (audit trail)"
    for logical_id, rule_id, reason in ours:
        assert len(reason) >= MIN_REASON_CHARS, (logical_id, rule_id, reason)
    # Anything else is aws-cdk-lib's own acknowledgment of its built-in template checks.
    others = {rule_id for _, rule_id, _ in acknowledged if not rule_id.startswith("AwsSolutions-")}
    assert all(r.startswith("CloudFormation-Validate::") for r in others), others
    # IAM5 wildcards are acknowledged finding by finding, never for a whole rule.
    assert all("[" in rule_id for _, rule_id, _ in ours if "IAM5" in rule_id)


def test_nag_is_wired_it_fails_synth_on_an_unsafe_bucket(tmp_path: Any) -> None:
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Unsafe")
    s3.Bucket(stack, "Open")  # no SSL enforcement, no access logs
    add_nag_checks(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    rules = {rule for rule, _ in _violations(tmp_path)}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules


def test_acknowledge_rejects_vague_reasons() -> None:
    stack = Stack(App(), "Reasons")
    bucket = s3.Bucket(stack, "B")
    with pytest.raises(CdkAppError, match="specific reason"):
        acknowledge(bucket, "AwsSolutions-S1", "not needed")
    with pytest.raises(CdkAppError, match="unknown rule id"):
        acknowledge(bucket, "S1", "x" * MIN_REASON_CHARS)
