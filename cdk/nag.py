"""cdk-nag (AwsSolutions) wiring and the one way we acknowledge a finding.

cdk-nag 3 is a CDK *validation plugin*: a finding fails ``app.synth()`` unless the construct
acknowledges it with ``Validations.of(construct).acknowledge(...)``. Every acknowledgment
here must carry a specific reason; :func:`acknowledge` refuses short or generic ones, and
``write_suppressions_to_cloud_formation`` copies each one into the template's Metadata so the
audit trail ships with the template.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from cdk.exceptions import CdkAppError

MIN_REASON_CHARS = 40
_GENERIC = ("n/a", "not needed", "ok", "false positive", "todo", "tbd")


def add_nag_checks(app: App) -> None:
    """Run AwsSolutions on every stack of ``app`` at synth; findings fail the synth."""
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
    )


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding (``AwsSolutions-IAM5[Resource::*]``) on a construct.

    The reason must say *why this is acceptable here*; generic text is rejected at synth.
    """
    stripped = reason.strip()
    if len(stripped) < MIN_REASON_CHARS or stripped.lower() in _GENERIC:
        raise CdkAppError(
            f"acknowledgment of {rule} on {construct.node.path} needs a specific reason "
            f"(>= {MIN_REASON_CHARS} characters), got {reason!r}"
        )
    if not rule.startswith("AwsSolutions-"):
        raise CdkAppError(f"unknown rule id {rule!r}; expected AwsSolutions-<RULE>[<finding>]")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=stripped))
