"""Monitoring: one dashboard, the rollback alarms of every function, batch failure alarms.

Metrics come from AWS/Lambda (duration, errors, throttles on the ``live`` alias), from the
powertools EMF metrics the app emits in namespace ``precast`` (``CacheHits``,
``CacheMisses``, ``ColdStart``, ``Latency``; dimension ``service``), from the batch job
(``Items``; dimension ``service=precast-<model>-batch``) and from the EventBridge rule that
catches FAILED batch jobs (AWS/Events ``TriggeredRules``).

The error and p99-latency alarms are added to each function's CodeDeploy deployment group:
if either fires while traffic shifts, CodeDeploy moves the alias back to the old version.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from cdk.batch_precompute import METRICS_NAMESPACE, BatchPrecompute
from cdk.inference_function import InferenceFunction

ONE_MINUTE = Duration.minutes(1)
FIVE_MINUTES = Duration.minutes(5)
ERRORS_THRESHOLD = 3  # function errors (crashes, timeouts) in one minute
LATENCY_FRACTION_OF_TIMEOUT = 0.8  # p99 above 80% of the timeout means timeouts are next


def _emf(metric: str, service: str, statistic: str = "Sum") -> cw.Metric:
    return cw.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=metric,
        dimensions_map={"service": service},
        statistic=statistic,
        period=FIVE_MINUTES,
    )


class Monitoring(Construct):
    """Dashboard + alarms. Public attributes: ``dashboard``, ``rollback_alarms`` (per model),
    ``batch_failure_alarms`` (per model)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        dashboard_name: str,
        functions: Sequence[InferenceFunction],
        batches: Sequence[BatchPrecompute],
    ) -> None:
        super().__init__(scope, id_)
        self.dashboard = cw.Dashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name,
            default_interval=Duration.hours(3),
        )
        self.rollback_alarms: dict[str, list[cw.Alarm]] = {}
        self.batch_failure_alarms: dict[str, cw.Alarm] = {}
        for fn in functions:
            alarms = self._rollback_alarms(fn)
            for alarm in alarms:
                fn.deployment_group.add_alarm(alarm)
            self.rollback_alarms[fn.model.name] = alarms
            self._function_widgets(fn, alarms)
        for job in batches:
            self._batch_widgets(job)

    def _rollback_alarms(self, fn: InferenceFunction) -> list[cw.Alarm]:
        name = fn.model.name
        errors = cw.Alarm(
            self,
            f"{name}Errors",
            alarm_description=f"precast {name}: function errors on the live alias (rollback)",
            metric=fn.alias.metric_errors(period=ONE_MINUTE, statistic="Sum"),
            threshold=ERRORS_THRESHOLD,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        latency_ms = fn.model.lambda_.timeout_s * 1000 * LATENCY_FRACTION_OF_TIMEOUT
        latency = cw.Alarm(
            self,
            f"{name}LatencyP99",
            alarm_description=f"precast {name}: p99 duration > {latency_ms:.0f} ms (rollback)",
            metric=fn.alias.metric_duration(period=ONE_MINUTE, statistic="p99"),
            threshold=latency_ms,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        return [errors, latency]

    def _function_widgets(self, fn: InferenceFunction, alarms: list[cw.Alarm]) -> None:
        name, service = fn.model.name, fn.service_name
        hits, misses = _emf("CacheHits", service), _emf("CacheMisses", service)
        cold_starts = cw.MathExpression(
            expression=(
                'SEARCH(\'{precast,function_name,service} MetricName="ColdStart" '
                f"service=\"{service}\"', 'Sum', 300)"
            ),
            using_metrics={},
            label="cold starts",
            period=FIVE_MINUTES,
        )
        self.dashboard.add_widgets(
            cw.TextWidget(markdown=f"## {name} (Lambda, alias `live`)", width=24, height=1)
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title=f"{name} latency (ms)",
                left=[
                    fn.alias.metric_duration(statistic="p50", label="p50"),
                    fn.alias.metric_duration(statistic="p99", label="p99"),
                    _emf("Latency", service, "p99").with_(label="app p99"),
                ],
                width=8,
            ),
            cw.GraphWidget(
                title=f"{name} errors / throttles",
                left=[
                    fn.alias.metric_errors(label="errors"),
                    fn.alias.metric_throttles(label="throttles"),
                ],
                right=[fn.alias.metric_invocations(label="invocations")],
                width=8,
            ),
            cw.GraphWidget(
                title=f"{name} cache hit ratio (%) / cold starts",
                left=[
                    cw.MathExpression(
                        expression="100 * hits / (hits + misses)",
                        using_metrics={"hits": hits, "misses": misses},
                        label="cache hit %",
                        period=FIVE_MINUTES,
                    )
                ],
                right=[cold_starts],
                left_y_axis=cw.YAxisProps(min=0, max=100),
                width=8,
            ),
        )
        self.dashboard.add_widgets(
            cw.AlarmStatusWidget(title=f"{name} rollback alarms", alarms=alarms, width=24)
        )

    def _batch_widgets(self, job: BatchPrecompute) -> None:
        name = job.model.name
        failures = cw.Metric(
            namespace="AWS/Events",
            metric_name="TriggeredRules",
            dimensions_map={"RuleName": job.failure_rule.rule_name},
            statistic="Sum",
            period=Duration.hours(1),
            label="failed jobs",
        )
        alarm = cw.Alarm(
            self,
            f"{name}BatchFailures",
            alarm_description=f"precast {name}: a batch precompute job FAILED",
            metric=failures,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self.batch_failure_alarms[name] = alarm
        self.dashboard.add_widgets(
            cw.TextWidget(markdown=f"## {name} (batch precompute)", width=24, height=1)
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title=f"{name} batch items written",
                left=[_emf("Items", job.service_name).with_(label="items")],
                width=12,
            ),
            cw.GraphWidget(title=f"{name} batch failures", left=[failures], width=6),
            cw.AlarmStatusWidget(title=f"{name} batch alarms", alarms=[alarm], width=6),
        )
