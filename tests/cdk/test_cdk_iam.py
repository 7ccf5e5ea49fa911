"""Least privilege, checked on every IAM statement in the synthesized template.

No ``*`` action, no ``service:*`` action, no wildcard action on S3 or DynamoDB, no data
deletes, and ``Resource: "*"`` only for the actions AWS gives no resource-level
permissions (the explicit allow-list below).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cdk_support import Synthesized

pytestmark = pytest.mark.slow

# Actions that support no resource-level permissions, so AWS requires Resource "*".
RESOURCE_STAR_ALLOWED = {
    "xray:PutTraceSegments",  # Lambda active tracing
    "xray:PutTelemetryRecords",
    "cloudwatch:PutMetricData",  # batch job metrics (limited by a namespace condition)
    "ecr:GetAuthorizationToken",  # pulling a private image asset
}
DATA_SERVICES = ("s3:", "dynamodb:")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        documents: list[dict[str, Any]] = []
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(props["PolicyDocument"])
        elif resource["Type"] == "AWS::IAM::Role":
            documents.extend(p["PolicyDocument"] for p in props.get("Policies", []))
        for document in documents:
            for statement in _as_list(document["Statement"]):
                yield logical_id, statement


def test_template_has_policies_to_check(real_app: Synthesized) -> None:
    assert len(list(_statements(real_app.template))) >= 10


def test_no_wildcard_actions(real_app: Synthesized) -> None:
    for logical_id, statement in _statements(real_app.template):
        assert "NotAction" not in statement, logical_id
        for action in _as_list(statement["Action"]):
            assert action != "*", (logical_id, statement)
            assert not action.endswith(":*"), (logical_id, action)
            if action.startswith(DATA_SERVICES):
                assert "*" not in action, (logical_id, action)


def test_no_deletes_on_data(real_app: Synthesized) -> None:
    for logical_id, statement in _statements(real_app.template):
        for action in _as_list(statement["Action"]):
            if action.startswith(DATA_SERVICES):
                assert "Delete" not in action, (logical_id, action)


def test_resource_star_only_where_aws_requires_it(real_app: Synthesized) -> None:
    seen: set[str] = set()
    for logical_id, statement in _statements(real_app.template):
        if "*" in _as_list(statement.get("Resource", [])):
            actions = set(_as_list(statement["Action"]))
            assert actions <= RESOURCE_STAR_ALLOWED, (logical_id, actions)
            seen |= actions
    assert "xray:PutTraceSegments" in seen  # the allow-list is exercised, not dead


def test_put_metric_data_is_limited_to_the_precast_namespace(real_app: Synthesized) -> None:
    for _, statement in _statements(real_app.template):
        if "cloudwatch:PutMetricData" in _as_list(statement["Action"]):
            condition = statement["Condition"]["StringEquals"]["cloudwatch:namespace"]
            assert condition == "precast"


def test_functions_cannot_touch_anything_but_their_prefix(real_app: Synthesized) -> None:
    """S3 object grants are always scoped to a prefix, never a whole bucket."""
    for logical_id, statement in _statements(real_app.template):
        actions = _as_list(statement["Action"])
        if not any(a in ("s3:GetObject", "s3:PutObject") for a in actions):
            continue
        for resource in _as_list(statement["Resource"]):
            text = (
                resource
                if isinstance(resource, str)
                else "".join(p for p in resource["Fn::Join"][1] if isinstance(p, str))
            )
            suffix = text.rsplit("/", 1)
            assert len(suffix) == 2 and suffix[0], (logical_id, text)  # bucket/prefix/...
            assert not text.endswith(":::*"), (logical_id, text)
