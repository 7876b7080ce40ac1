"""Checks of infra/template.yaml: lint, partition-neutral ARNs, SAM translation for both editions, queue / bucket /
IAM rules, and a local deploy of the data services into an in-process moto server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import EDITIONS, REPO, TEMPLATE, deploy

# cfn-lint warnings that do not fail the build, with the reason.
IGNORED_WARNINGS = {
    # A condition may be declared before any resource of its edition needs it.
    "W8001": "unused condition",
}

LINT_REGIONS = ["cn-north-1", "ap-southeast-1"]
DATA_ACTION_PREFIXES = ("dynamodb:", "sqs:", "s3:")


def _cfn_lint_command() -> list[str]:
    script = Path(sys.executable).with_name("cfn-lint")
    if script.exists():
        return [str(script)]
    found = shutil.which("cfn-lint")
    if found is None:
        pytest.fail("cfn-lint is not installed: run `bash localstack/venv.sh` and use localstack/.venv/bin/pytest")
    return [found]


@pytest.fixture(scope="module")
def lint_results():
    cache: dict[str, list[dict[str, Any]]] = {}

    def run(region: str) -> list[dict[str, Any]]:
        if region not in cache:
            proc = subprocess.run(
                [*_cfn_lint_command(), "--format", "json", "--regions", region, "--", str(TEMPLATE)],
                capture_output=True, text=True, cwd=REPO, timeout=300,
            )
            # Exit codes are a bit mask: 2 errors, 4 warnings, 8 informational; anything else is a crash.
            if proc.returncode & ~(2 | 4 | 8):
                pytest.fail(f"cfn-lint crashed ({proc.returncode}): {proc.stderr}")
            cache[region] = json.loads(proc.stdout or "[]")
        return cache[region]

    return run


def _describe(match: dict[str, Any]) -> str:
    line = match.get("Location", {}).get("Start", {}).get("LineNumber")
    return f"{match['Rule']['Id']} line {line}: {match['Message']}"


@pytest.mark.parametrize("region", LINT_REGIONS)
def test_cfn_lint_has_no_errors(lint_results, region: str) -> None:
    errors = [_describe(m) for m in lint_results(region) if m["Level"] == "Error"]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("region", LINT_REGIONS)
def test_cfn_lint_has_no_unexpected_warnings(lint_results, region: str) -> None:
    warnings = [
        _describe(m) for m in lint_results(region)
        if m["Level"] == "Warning" and m["Rule"]["Id"] not in IGNORED_WARNINGS
    ]
    assert not warnings, "\n".join(warnings)


def test_no_literal_partition_in_arns(template_text: str) -> None:
    literal = re.findall(r"arn:aws(?:-cn|-us-gov)?:", template_text)
    assert not literal, "build ARNs with ${AWS::Partition}"


def test_transform_and_edition_parameter(sam: dict[str, Any]) -> None:
    assert sam["Transform"] == "AWS::Serverless-2016-10-31"
    assert sam["Parameters"]["Edition"]["AllowedValues"] == ["mainland", "international"]
    assert {"IsMainland", "IsInternational", "HasEgressVpc", "HasAlarmTopic"} <= set(sam["Conditions"])


def test_global_environment(sam: dict[str, Any]) -> None:
    function = sam["Globals"]["Function"]
    assert function["Runtime"] == "provided.al2023"
    assert function["Architectures"] == ["x86_64"]
    assert set(function["Environment"]["Variables"]) == {
        "KEFU_EDITION", "DATA_TABLE", "RUNTIME_TABLE", "INBOUND_QUEUE_URL", "GREETING_QUEUE_URL",
        "OUTBOUND_QUEUE_URL", "MEDIA_BUCKET", "SECRETS_PREFIX", "WECHAT_API_BASE", "MESSENGER_API_BASE", "WECOM_API_BASE", "RUST_LOG",
        "TWILIO_API_BASE", "ALIYUN_SMS_API_BASE", "TENCENT_SMS_API_BASE",
        "AWS_LAMBDA_LOG_FORMAT",
    }
    assert function["Environment"]["Variables"]["MESSENGER_API_BASE"] == {
        "Fn::If": ["IsInternational", {"Ref": "MessengerApiBase"}, {"Ref": "AWS::NoValue"}]
    }


@pytest.mark.parametrize("edition,region", EDITIONS)
def test_translates(translate, edition: str, region: str) -> None:
    translated, _ = translate(edition, region)
    assert "Transform" not in translated
    types = {r["Type"] for r in translated["Resources"].values()}
    assert not any(t.startswith("AWS::Serverless::") for t in types)
    assert "AWS::Lambda::Function" in types


@pytest.mark.parametrize("edition,region", EDITIONS)
def test_managed_policy_arns_use_the_region_partition(translate, edition: str, region: str) -> None:
    translated, _ = translate(edition, region)
    partition = deploy.partition_of(region)
    for logical_id, resource in translated["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for arn in resource["Properties"].get("ManagedPolicyArns", []):
                if isinstance(arn, str):
                    assert arn.startswith(f"arn:{partition}:iam::aws:policy/"), (logical_id, arn)


def test_every_function_is_built_from_the_workspace_with_its_own_log_group(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    assert len(functions) >= 7
    for logical_id, function in functions.items():
        assert function["Metadata"]["BuildMethod"] == "rust-cargolambda", logical_id
        assert function["Metadata"]["BuildProperties"]["Binary"], logical_id
        props = function["Properties"]
        assert props["CodeUri"] == "..", logical_id
        log_group_ref = props["LoggingConfig"]["LogGroup"]["Ref"]
        log_group = resources[log_group_ref]
        assert log_group["Type"] == "AWS::Logs::LogGroup"
        assert log_group["Properties"]["RetentionInDays"] == 30
        assert log_group["Properties"]["LogGroupName"]["Fn::Sub"].startswith("/aws/lambda/")


def _sqs_mappings(translated: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    resources = translated["Resources"]
    found = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        sources = deploy.references(resource["Properties"]["EventSourceArn"])
        if any(resources.get(s, {}).get("Type") == "AWS::SQS::Queue" for s in sources):
            found.append((logical_id, resource["Properties"]))
    return found


@pytest.mark.parametrize("edition,region", EDITIONS)
def test_every_sqs_event_source_reports_batch_item_failures(translate, edition: str, region: str) -> None:
    mappings = _sqs_mappings(translate(edition, region)[0])
    assert len(mappings) >= 3
    for logical_id, props in mappings:
        assert "ReportBatchItemFailures" in props.get("FunctionResponseTypes", []), logical_id
        assert props.get("BatchSize") == 10, logical_id


def test_every_queue_has_a_dead_letter_queue(sam: dict[str, Any]) -> None:
    queues = {k: v.get("Properties", {}) for k, v in sam["Resources"].items() if v["Type"] == "AWS::SQS::Queue"}
    dead_letter_queues = {
        props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for props in queues.values() if "RedrivePolicy" in props
    }
    sources = set(queues) - dead_letter_queues
    assert sources, "no source queue"
    for logical_id in sources:
        redrive = queues[logical_id].get("RedrivePolicy")
        assert redrive, f"{logical_id} has no RedrivePolicy"
        assert redrive["maxReceiveCount"] == 5
        dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert bool(queues[dlq].get("FifoQueue")) == bool(queues[logical_id].get("FifoQueue")), logical_id
        assert queues[dlq]["MessageRetentionPeriod"] == 14 * 24 * 3600
    for logical_id, props in queues.items():
        assert props.get("SqsManagedSseEnabled") is True, logical_id
        if props.get("FifoQueue"):
            assert props["QueueName"]["Fn::Sub"].endswith(".fifo"), logical_id


def test_dlq_redrive_covers_every_dead_letter_queue(sam: dict[str, Any]) -> None:
    pairs = sam["Resources"]["DlqRedriveFunction"]["Properties"]["Environment"]["Variables"]["REDRIVE_PAIRS"]
    text = pairs["Fn::Sub"].strip()
    queues = {k: v.get("Properties", {}) for k, v in sam["Resources"].items() if v["Type"] == "AWS::SQS::Queue"}
    for logical_id, props in queues.items():
        if "RedrivePolicy" in props:
            dlq = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            assert f'"${{{dlq}}}":"${{{logical_id}}}"' in text, logical_id
    resolved = deploy.Resolver(sam, {}, ref=lambda name: f"url-{name}").resolve(pairs)
    assert json.loads(resolved)["url-InboundDLQ"] == "url-InboundQueue"


def test_bucket_blocks_public_access_and_is_encrypted(sam: dict[str, Any]) -> None:
    buckets = {k: v for k, v in sam["Resources"].items() if v["Type"] == "AWS::S3::Bucket"}
    assert buckets
    policies = [v["Properties"] for v in sam["Resources"].values() if v["Type"] == "AWS::S3::BucketPolicy"]
    for logical_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
        rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms"), logical_id
        assert props["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"
        tls_only = [
            p for p in policies
            if p["Bucket"] == {"Ref": logical_id}
            and any(deploy._denies_plain_http(s) for s in p["PolicyDocument"]["Statement"])
        ]
        assert tls_only, f"{logical_id} has no bucket policy denying plain HTTP"


def _statements(policies: Any) -> list[dict[str, Any]]:
    out = []
    for policy in policies or []:
        if isinstance(policy, dict) and "Statement" in policy:
            out.extend(policy["Statement"])
        elif isinstance(policy, dict) and "PolicyDocument" in policy:
            out.extend(policy["PolicyDocument"]["Statement"])
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _assert_scoped(owner: str, statements: list[dict[str, Any]]) -> None:
    for statement in statements:
        actions = _as_list(statement.get("Action", []))
        assert "*" not in actions, owner
        data_actions = [a for a in actions if isinstance(a, str) and a.startswith(DATA_ACTION_PREFIXES)]
        assert not any(a.endswith(":*") for a in data_actions), (owner, data_actions)
        if data_actions:
            assert "*" not in _as_list(statement.get("Resource")), (owner, data_actions)


def test_every_function_has_a_scoped_policy(sam: dict[str, Any]) -> None:
    for logical_id, resource in sam["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        statements = _statements(resource["Properties"].get("Policies"))
        assert statements, f"{logical_id} has no inline policy"
        _assert_scoped(logical_id, statements)


@pytest.mark.parametrize("edition,region", EDITIONS)
def test_translated_roles_are_scoped(translate, edition: str, region: str) -> None:
    translated, _ = translate(edition, region)
    roles = {k: v for k, v in translated["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
    assert roles
    for logical_id, role in roles.items():
        _assert_scoped(logical_id, _statements(role["Properties"].get("Policies")))


@pytest.mark.parametrize("function", ["WechatWebhookFunction", "MessengerWebhookFunction", "WecomWebhookFunction",
                                      "SmsWebhookFunction", "SmsCnWebhookFunction"])
def test_webhook_reads_only_channel_records(sam: dict[str, Any], function: str) -> None:
    statements = _statements(sam["Resources"][function]["Properties"]["Policies"])
    reads = [s for s in statements if "dynamodb:GetItem" in _as_list(s["Action"])]
    assert reads and all(
        s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["CH#*"] for s in reads
    )
    kms = [s for s in statements if "kms:Decrypt" in _as_list(s["Action"])]
    assert kms and all("kms:ViaService" in s["Condition"]["StringEquals"] for s in kms)
    actions = sorted(a for s in statements for a in _as_list(s["Action"]))
    assert actions == ["dynamodb:GetItem", "kms:Decrypt", "sqs:SendMessage", "ssm:GetParameter"], actions
    sends = [s for s in statements if "sqs:SendMessage" in _as_list(s["Action"])]
    assert [s["Resource"] for s in sends] == [{"Fn::GetAtt": ["InboundQueue", "Arn"]}]


def _messenger_parts(translated: dict[str, Any], resolver: deploy.Resolver) -> dict[str, Any]:
    """What of Messenger a stack would contain once its conditions are applied."""
    stack = deploy.specialise(translated, resolver)
    resources = stack["Resources"]
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"}
    paths = {
        path: sorted(methods)
        for api in resources.values() if api["Type"] == "AWS::ApiGatewayV2::Api"
        for path, methods in api["Properties"]["Body"]["paths"].items()
    }
    return {
        "resources": sorted(k for k in resources if "messenger" in k.lower()),
        "permissions": sorted(
            k for k, v in resources.items()
            if v["Type"] == "AWS::Lambda::Permission" and "Messenger" in json.dumps(v["Properties"])
        ),
        "paths": {p: m for p, m in paths.items() if p.startswith("/messenger")},
        "env": sorted(
            k for k, f in functions.items()
            if "MESSENGER_API_BASE" in f["Properties"].get("Environment", {}).get("Variables", {})
        ),
        "functions": sorted(functions),
    }


@pytest.mark.parametrize("region", ["cn-north-1", "cn-northwest-1"])
def test_mainland_has_nothing_of_messenger(translate, region: str) -> None:
    translated, resolver = translate("mainland", region)
    parts = _messenger_parts(translated, resolver)
    assert parts["resources"] == [] and parts["permissions"] == [] and parts["paths"] == {}, parts
    assert parts["env"] == [], "MESSENGER_API_BASE must not reach mainland functions"
    assert "/messenger/" not in json.dumps(deploy.specialise(translated, resolver))


def test_international_has_the_messenger_webhook(translate) -> None:
    translated, resolver = translate("international", "ap-southeast-1")
    parts = _messenger_parts(translated, resolver)
    assert parts["resources"] == [
        "MessengerWebhookFunction", "MessengerWebhookFunctionNotificationPermission", "MessengerWebhookFunctionRole",
        "MessengerWebhookFunctionVerifySubscriptionPermission", "MessengerWebhookLogGroup",
    ], parts
    assert len(parts["permissions"]) == 2
    assert parts["paths"] == {"/messenger/{channelId}": ["get", "post"]}
    assert parts["env"] == parts["functions"], "every function sees MESSENGER_API_BASE"
    env = resolver.resolve(
        {"v": translated["Resources"]["ChannelSenderFunction"]["Properties"]["Environment"]["Variables"][
            "MESSENGER_API_BASE"]}
    )
    assert env == {"v": "https://graph.facebook.com/v21.0"}
    function = translated["Resources"]["MessengerWebhookFunction"]
    assert function["Condition"] == "IsInternational"
    assert resolver.resolve({"t": function["Properties"]["Timeout"]}) == {"t": 10}


def _tracing_modes(translated: dict[str, Any], resolver: deploy.Resolver) -> dict[str, Any]:
    return {
        logical_id: resolver.resolve(resource["Properties"].get("TracingConfig", {})).get("Mode")
        for logical_id, resource in translated["Resources"].items()
        # Only the functions the edition deploys (edition-only functions carry a Condition).
        if resource["Type"] == "AWS::Lambda::Function" and resolver.resource_enabled(resource)
    }


@pytest.mark.parametrize("region", ["cn-north-1", "cn-northwest-1"])
def test_mainland_has_no_xray_tracing(translate, region: str) -> None:
    modes = _tracing_modes(*translate("mainland", region))
    assert modes and all(mode in (None, "PassThrough") for mode in modes.values()), modes


def test_international_traces_with_xray(translate) -> None:
    modes = _tracing_modes(*translate("international", "ap-southeast-1"))
    assert modes and set(modes.values()) == {"Active"}, modes


@pytest.mark.parametrize("edition,region", EDITIONS)
def test_egress_vpc_only_when_subnets_are_given(translate, edition: str, region: str) -> None:
    def vpc_config(translated: dict[str, Any], resolver: deploy.Resolver) -> Any:
        props = translated["Resources"]["ChannelSenderFunction"]["Properties"]
        return resolver.resolve({"VpcConfig": props.get("VpcConfig")}).get("VpcConfig")

    assert vpc_config(*translate(edition, region)) is None
    with_vpc, resolver = translate(
        edition, region, EgressSubnetIds="subnet-1,subnet-2", EgressSecurityGroupIds="sg-1"
    )
    assert vpc_config(with_vpc, resolver) == {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]}
    role = with_vpc["Resources"]["ChannelSenderFunctionRole"]["Properties"]
    assert any(str(arn).endswith("/AWSLambdaVPCAccessExecutionRole") for arn in role["ManagedPolicyArns"])


def test_dlq_alarms_only_with_a_topic(translate) -> None:
    translated, resolver = translate("international", "ap-southeast-1")
    alarms = {k: v for k, v in translated["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert len(alarms) == 3 and not any(resolver.resource_enabled(a) for a in alarms.values())
    translated, resolver = translate(
        "international", "ap-southeast-1", AlarmTopicArn="arn:aws:sns:ap-southeast-1:123456789012:ops"
    )
    alarms = {k: v for k, v in translated["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert all(resolver.resource_enabled(a) for a in alarms.values())
    watched = {a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in alarms.values()}
    assert watched == {"InboundDLQ", "GreetingDLQ", "OutboundDLQ"}


def test_prune_keeps_data_and_drops_what_an_emulator_cannot_run(translate) -> None:
    translated, resolver = translate("international", "us-east-1")
    local, removed = deploy.prune_for_emulator(deploy.specialise(translated, resolver))
    kept_types = {r["Type"] for r in local["Resources"].values()}
    assert {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket", "AWS::S3::BucketPolicy"} <= kept_types
    assert not any(t.startswith(("AWS::Lambda::", "AWS::ApiGatewayV2::", "AWS::Events::")) for t in kept_types)
    assert "HttpApiUrl" not in local["Outputs"] and "DataTableName" in local["Outputs"]
    assert "WechatWebhookFunction" in removed
    assert "Conditions" not in local and "Fn::If" not in json.dumps(local)


# ---------------------------------------------------------------------------------------------------------------------
# The local deploy, end to end against moto (in-process, loopback, random port)
# ---------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.mark.filterwarnings("ignore:Tried to parse AWS.+S3.+BucketPolicy:UserWarning")  # deploy.py applies it itself
@pytest.mark.parametrize("edition,region", [("international", "us-east-1"), ("mainland", "cn-north-1")])
def test_local_deploy(moto_endpoint: str, tmp_path: Path, edition: str, region: str) -> None:
    import boto3

    out = tmp_path / "state" / "manifest.json"
    argv = ["--endpoint", moto_endpoint, "--region", region, "--stack", f"kefu-{edition}",
            "--edition", edition, "--out", str(out)]
    assert deploy.main(argv) == 0
    assert deploy.main(argv) == 0  # idempotent
    manifest = json.loads(out.read_text())
    assert manifest["local_stack"]["action"] == "unchanged"
    assert manifest["endpoint"] == moto_endpoint and manifest["edition"] == edition

    functions = manifest["functions"]
    assert functions["WechatWebhookFunction"]["binary"] == "wechat-webhook"
    if edition == "international":
        messenger = functions["MessengerWebhookFunction"]
        assert messenger["binary"] == "messenger-webhook"
        assert [(r["method"], r["path"]) for r in messenger["http"]] == [
            ("GET", "/messenger/{channelId}"), ("POST", "/messenger/{channelId}")]
        assert all(f["environment"]["MESSENGER_API_BASE"] == "https://graph.facebook.com/v21.0"
                   for f in functions.values())
    else:
        assert "MessengerWebhookFunction" not in functions
        assert not any("MESSENGER_API_BASE" in f["environment"] for f in functions.values())
        assert not any(r["path"].startswith("/messenger") for f in functions.values() for r in f["http"])
    assert functions["WechatWebhookFunction"]["timeout"] == 5
    assert {"method": "POST", "path": "/wechat/{channelId}"}.items() <= functions["WechatWebhookFunction"]["http"][1].items()
    assert functions["AssignerFunction"]["schedules"] == [{"expression": "rate(1 minute)"}]
    inbound = functions["ConversationRouterFunction"]["sqs"][0]
    assert inbound["fifo"] and inbound["report_batch_item_failures"] and inbound["visibility_timeout"] == 60
    assert inbound["queue_arn"].startswith(f"arn:{deploy.partition_of(region)}:sqs:{region}:")
    for function in functions.values():
        env = function["environment"]
        assert env["KEFU_EDITION"] == edition
        assert env["INBOUND_QUEUE_URL"].startswith(moto_endpoint + "/")
        assert not any("{" in v and "Fn::" in v for v in env.values())
    pairs = json.loads(functions["DlqRedriveFunction"]["environment"]["REDRIVE_PAIRS"])
    assert pairs[manifest["outputs"]["InboundDlqUrl"]] == manifest["outputs"]["InboundQueueUrl"]

    kw = dict(endpoint_url=moto_endpoint, region_name=region, aws_access_key_id="test",
              aws_secret_access_key="test")
    dynamodb, sqs = boto3.client("dynamodb", **kw), boto3.client("sqs", **kw)
    table = dynamodb.describe_table(TableName=manifest["outputs"]["DataTableName"])["Table"]
    assert [g["IndexName"] for g in table["GlobalSecondaryIndexes"]] == ["gsi1"]
    ttl = dynamodb.describe_time_to_live(TableName=manifest["outputs"]["RuntimeTableName"])
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    attributes = sqs.get_queue_attributes(QueueUrl=manifest["outputs"]["OutboundQueueUrl"],
                                          AttributeNames=["All"])["Attributes"]
    assert attributes["FifoQueue"] == "true"
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].endswith("-outbound-dlq.fifo")
    s3 = boto3.client("s3", config=boto3.session.Config(s3={"addressing_style": "path"}), **kw)
    bucket = manifest["outputs"]["MediaBucketName"]
    s3.put_object(Bucket=bucket, Key="voice/probe.amr", Body=b"#!AMR\n")
    assert s3.get_object(Bucket=bucket, Key="voice/probe.amr")["Body"].read() == b"#!AMR\n"
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"]


# ---------------------------------------------------------------------------------------------------------------------
# Web chat
# ---------------------------------------------------------------------------------------------------------------------
WEBCHAT_ROUTES = {
    ("GET", "/webchat/widget.js"),
    ("POST", "/webchat/{channelId}/sessions"),
    ("POST", "/webchat/{channelId}/messages"),
    ("GET", "/webchat/{channelId}/messages"),
    ("GET", "/webchat/{channelId}/history"),
    ("OPTIONS", "/webchat/{channelId}/{proxy+}"),
}


def test_webchat_api_routes_long_poll_timeout_and_least_privilege(sam: dict[str, Any]) -> None:
    function = sam["Resources"]["WebchatApiFunction"]
    props = function["Properties"]
    assert "Condition" not in function, "web chat runs in both stacks"
    assert props["Timeout"] == 25, "a 20 s long poll fits, under API Gateway's 30 s"
    routes = {
        (e["Properties"]["Method"], e["Properties"]["Path"]) for e in props["Events"].values() if e["Type"] == "HttpApi"
    }
    assert routes == WEBCHAT_ROUTES
    statements = _statements(props["Policies"])
    actions = {a for s in statements for a in _as_list(s["Action"])}
    assert actions == {
        "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "sqs:SendMessage", "ssm:GetParameter", "kms:Decrypt",
    }
    for statement in statements:
        statement_actions = _as_list(statement["Action"])
        if "dynamodb:UpdateItem" in statement_actions:
            assert statement_actions == ["dynamodb:UpdateItem"]
            assert statement["Resource"] == {"Fn::GetAtt": ["RuntimeTable", "Arn"]}
            assert statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["RATE#*"]
        elif any(a.startswith("dynamodb:") for a in statement_actions):
            assert statement["Resource"] == {"Fn::GetAtt": ["DataTable", "Arn"]}, "reads the data table only"
        if "sqs:SendMessage" in statement_actions:
            assert statement["Resource"] == {"Fn::GetAtt": ["InboundQueue", "Arn"]}
        if "kms:Decrypt" in statement_actions:
            assert "kms:ViaService" in statement["Condition"]["StringEquals"]


@pytest.mark.parametrize("edition,region", EDITIONS)
def test_webchat_api_is_in_both_stacks(translate, edition: str, region: str) -> None:
    translated, resolver = translate(edition, region)
    function = translated["Resources"]["WebchatApiFunction"]
    assert resolver.resource_enabled(function)
    assert function["Properties"]["Timeout"] == 25


# ---------------------------------------------------------------------------------------------------------------------
# WeCom (mainland only)
# ---------------------------------------------------------------------------------------------------------------------
def _wecom_parts(translated: dict[str, Any], resolver: deploy.Resolver) -> dict[str, Any]:
    """What of WeCom a stack would contain once its conditions are applied."""
    stack = deploy.specialise(translated, resolver)
    resources = stack["Resources"]
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"}
    paths = {
        path: sorted(methods)
        for api in resources.values() if api["Type"] == "AWS::ApiGatewayV2::Api"
        for path, methods in api["Properties"]["Body"]["paths"].items()
    }
    return {
        "resources": sorted(k for k in resources if "wecom" in k.lower()),
        "paths": {p: m for p, m in paths.items() if p.startswith("/wecom")},
        "env": sorted(
            k for k, f in functions.items()
            if "WECOM_API_BASE" in f["Properties"].get("Environment", {}).get("Variables", {})
        ),
        "functions": sorted(functions),
    }


@pytest.mark.parametrize("region", ["cn-north-1", "cn-northwest-1"])
def test_mainland_has_the_wecom_webhook(translate, region: str) -> None:
    translated, resolver = translate("mainland", region)
    parts = _wecom_parts(translated, resolver)
    assert parts["resources"] == [
        "WecomWebhookFunction", "WecomWebhookFunctionCallbackPermission", "WecomWebhookFunctionRole",
        "WecomWebhookFunctionVerifyUrlPermission", "WecomWebhookLogGroup",
    ], parts
    assert parts["paths"] == {"/wecom/{channelId}": ["get", "post"]}
    assert parts["env"] == parts["functions"], "every function sees WECOM_API_BASE"
    env = resolver.resolve(
        {"v": translated["Resources"]["ChannelSenderFunction"]["Properties"]["Environment"]["Variables"][
            "WECOM_API_BASE"]}
    )
    assert env == {"v": "https://qyapi.weixin.qq.com"}
    function = translated["Resources"]["WecomWebhookFunction"]
    assert function["Condition"] == "IsMainland"
    # The URL verification must be answered within 1 s; a callback within 5 s (then WeCom retries).
    assert resolver.resolve({"t": function["Properties"]["Timeout"]}) == {"t": 5}


def test_international_has_nothing_of_wecom(translate) -> None:
    translated, resolver = translate("international", "ap-southeast-1")
    parts = _wecom_parts(translated, resolver)
    assert parts["resources"] == [] and parts["paths"] == {}, parts
    assert parts["env"] == [], "WECOM_API_BASE must not reach international functions"
    assert "/wecom/" not in json.dumps(deploy.specialise(translated, resolver))


def test_wecom_webhook_template_entry(sam: dict[str, Any]) -> None:
    function = sam["Resources"]["WecomWebhookFunction"]
    assert function["Condition"] == "IsMainland"
    assert sam["Resources"]["WecomWebhookLogGroup"]["Condition"] == "IsMainland"
    assert function["Metadata"]["BuildProperties"]["Binary"] == "wecom-webhook"
    routes = {
        (e["Properties"]["Method"], e["Properties"]["Path"])
        for e in function["Properties"]["Events"].values() if e["Type"] == "HttpApi"
    }
    assert routes == {("GET", "/wecom/{channelId}"), ("POST", "/wecom/{channelId}")}
    assert sam["Globals"]["Function"]["Environment"]["Variables"]["WECOM_API_BASE"] == {
        "Fn::If": ["IsMainland", {"Ref": "WecomApiBase"}, {"Ref": "AWS::NoValue"}]
    }


# ---------------------------------------------------------------------------------------------------------------------
# SMS: Twilio in the international stack, Aliyun and Tencent Cloud in the mainland stack
# ---------------------------------------------------------------------------------------------------------------------
SMS_API_BASES = {
    "TWILIO_API_BASE": ("IsInternational", "TwilioApiBase", "https://api.twilio.com"),
    "ALIYUN_SMS_API_BASE": ("IsMainland", "AliyunSmsApiBase", "https://dysmsapi.aliyuncs.com"),
    "TENCENT_SMS_API_BASE": ("IsMainland", "TencentSmsApiBase", "https://sms.tencentcloudapi.com"),
}


def _sms_parts(translated: dict[str, Any], resolver: deploy.Resolver) -> dict[str, Any]:
    """What of SMS a stack would contain once its conditions are applied."""
    stack = deploy.specialise(translated, resolver)
    resources = stack["Resources"]
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"}
    paths = {
        path: sorted(methods)
        for api in resources.values() if api["Type"] == "AWS::ApiGatewayV2::Api"
        for path, methods in api["Properties"]["Body"]["paths"].items()
    }
    return {
        "resources": sorted(k for k in resources if k.startswith("Sms")),
        "paths": {p: m for p, m in paths.items() if p.startswith("/sms/")},
        "env": {
            var: sorted(k for k, f in functions.items()
                        if var in f["Properties"].get("Environment", {}).get("Variables", {}))
            for var in SMS_API_BASES
        },
        "functions": sorted(functions),
    }


def test_international_has_exactly_the_twilio_route(translate) -> None:
    translated, resolver = translate("international", "ap-southeast-1")
    parts = _sms_parts(translated, resolver)
    assert parts["resources"] == [
        "SmsWebhookFunction", "SmsWebhookFunctionRole", "SmsWebhookFunctionTwilioPermission", "SmsWebhookLogGroup",
    ], parts
    assert parts["paths"] == {"/sms/twilio/{channelId}": ["post"]}
    assert parts["env"]["TWILIO_API_BASE"] == parts["functions"], "every function sees TWILIO_API_BASE"
    assert parts["env"]["ALIYUN_SMS_API_BASE"] == parts["env"]["TENCENT_SMS_API_BASE"] == []
    for provider in ("aliyun", "tencent"):
        assert f"/sms/{provider}/" not in json.dumps(deploy.specialise(translated, resolver))
    env = translated["Resources"]["ChannelSenderFunction"]["Properties"]["Environment"]["Variables"]
    assert resolver.resolve({"v": env["TWILIO_API_BASE"]}) == {"v": "https://api.twilio.com"}


@pytest.mark.parametrize("region", ["cn-north-1", "cn-northwest-1"])
def test_mainland_has_exactly_the_aliyun_and_tencent_routes(translate, region: str) -> None:
    translated, resolver = translate("mainland", region)
    parts = _sms_parts(translated, resolver)
    assert parts["resources"] == [
        "SmsCnWebhookFunction", "SmsCnWebhookFunctionAliyunPermission", "SmsCnWebhookFunctionRole",
        "SmsCnWebhookFunctionTencentPermission", "SmsCnWebhookLogGroup",
    ], parts
    assert parts["paths"] == {"/sms/aliyun/{channelId}": ["post"], "/sms/tencent/{channelId}": ["post"]}
    assert parts["env"]["TWILIO_API_BASE"] == [], "TWILIO_API_BASE must not reach mainland functions"
    assert parts["env"]["ALIYUN_SMS_API_BASE"] == parts["env"]["TENCENT_SMS_API_BASE"] == parts["functions"]
    assert "/sms/twilio/" not in json.dumps(deploy.specialise(translated, resolver))
    env = translated["Resources"]["ChannelSenderFunction"]["Properties"]["Environment"]["Variables"]
    assert resolver.resolve({"a": env["ALIYUN_SMS_API_BASE"], "t": env["TENCENT_SMS_API_BASE"]}) == {
        "a": "https://dysmsapi.aliyuncs.com", "t": "https://sms.tencentcloudapi.com"}


def test_sms_webhook_template_entries(sam: dict[str, Any]) -> None:
    def routes(function: dict[str, Any]) -> set[tuple[str, str]]:
        return {
            (e["Properties"]["Method"], e["Properties"]["Path"])
            for e in function["Properties"]["Events"].values() if e["Type"] == "HttpApi"
        }

    resources = sam["Resources"]
    international, mainland = resources["SmsWebhookFunction"], resources["SmsCnWebhookFunction"]
    assert international["Condition"] == resources["SmsWebhookLogGroup"]["Condition"] == "IsInternational"
    assert mainland["Condition"] == resources["SmsCnWebhookLogGroup"]["Condition"] == "IsMainland"
    assert international["Metadata"]["BuildProperties"]["Binary"] == "sms-webhook"
    assert mainland["Metadata"]["BuildProperties"]["Binary"] == "sms-webhook"
    assert routes(international) == {("POST", "/sms/twilio/{channelId}")}
    assert routes(mainland) == {("POST", "/sms/aliyun/{channelId}"), ("POST", "/sms/tencent/{channelId}")}
    variables = sam["Globals"]["Function"]["Environment"]["Variables"]
    for var, (condition, parameter, default) in SMS_API_BASES.items():
        assert variables[var] == {"Fn::If": [condition, {"Ref": parameter}, {"Ref": "AWS::NoValue"}]}, var
        assert sam["Parameters"][parameter]["Default"] == default


@pytest.mark.filterwarnings("ignore:Tried to parse AWS.+S3.+BucketPolicy:UserWarning")
@pytest.mark.parametrize("edition,region", [("international", "us-east-1"), ("mainland", "cn-north-1")])
def test_local_manifest_serves_each_stack_its_sms_providers(
    moto_endpoint: str, tmp_path: Path, edition: str, region: str
) -> None:
    out = tmp_path / "manifest.json"
    argv = ["--endpoint", moto_endpoint, "--region", region, "--stack", f"kefu-sms-{edition}",
            "--edition", edition, "--out", str(out)]
    assert deploy.main(argv) == 0
    functions = json.loads(out.read_text())["functions"]
    sms = {k: v for k, v in functions.items() if v["binary"] == "sms-webhook"}
    routes = sorted((r["method"], r["path"]) for f in sms.values() for r in f["http"])
    if edition == "international":
        assert list(sms) == ["SmsWebhookFunction"]
        assert routes == [("POST", "/sms/twilio/{channelId}")]
    else:
        assert list(sms) == ["SmsCnWebhookFunction"]
        assert routes == [("POST", "/sms/aliyun/{channelId}"), ("POST", "/sms/tencent/{channelId}")]
