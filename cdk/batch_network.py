"""PrecomputeNetwork: a VPC for batch jobs with no NAT gateway and no interface endpoints.

Choice: **public subnets only**, tasks/instances get a public IPv4 address, and the security
group allows **no inbound traffic** (egress HTTPS only). Why not isolated subnets + endpoints:
a job needs ECR (api + dkr), CloudWatch Logs and STS, i.e. 3-4 *interface* endpoints per AZ
at ~$7.30/month each, ~$45-60/month idle for a job that runs minutes a day; a NAT gateway is
~$33/month plus $0.045/GB. A public IP costs $0.005/hour only while a job runs. S3 and
DynamoDB, where the data volume is, go through free *gateway* endpoints, so inputs, outputs
and cache writes never cross the internet. VPC flow logs go to the access-log bucket.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3
from constructs import Construct


class PrecomputeNetwork(Construct):
    """Public-subnet VPC + gateway endpoints + egress-only SG. Attributes: ``vpc``,
    ``security_group``, ``subnets``."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        availability_zones: tuple[str, ...],
        flow_logs_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, id_)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.42.0.0/16"),
            availability_zones=list(availability_zones),
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=20
                )
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.DYNAMODB
                ),
            },
            flow_logs={
                "ToS3": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_s3(
                        flow_logs_bucket, "vpc-flow-logs/precompute/"
                    ),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "JobSecurityGroup",
            vpc=self.vpc,
            description="precast batch jobs: no inbound; outbound HTTPS to AWS APIs and ECR",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to ECR, S3, DynamoDB, Logs, STS"
        )
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)
