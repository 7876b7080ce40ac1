#!/usr/bin/env python3
"""Deploy kefu's data services into a local AWS emulator and write the manifest of what the local host must run.

    python localstack/deploy.py --endpoint http://127.0.0.1:4599 --region us-east-1 --stack kefu-local \
        --edition international --out localstack/.state/kefu-local.json

Steps:
1. load infra/template.yaml, point every function's code at a placeholder, translate SAM -> CloudFormation with
   aws-sam-translator (offline: a fixed managed-policy map, nothing calls IAM);
2. specialise the template for the parameter values (conditions, Fn::If), drop what an emulator without Lambda
   cannot run (functions, permissions, event source mappings, API Gateway, rules, alarms) and create / update the
   stack with CloudFormation in the emulator: tables, queues, bucket, bucket policy, roles, log groups; then apply
   the settings the emulator's CloudFormation skips through the service APIs;
3. write the manifest (functions, environment, HTTP routes, SQS event sources, schedules, outputs), every intrinsic
   resolved against the emulator's stack, every queue URL pointing at --endpoint.

Works against moto server (`moto_server -H 127.0.0.1 -p PORT`) and LocalStack (`--endpoint http://127.0.0.1:4566`).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

import yaml

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "infra" / "template.yaml"
PLACEHOLDER_CODE_URI = "s3://kefu-local-code/placeholder.zip"

# Resource types the local stack does not create: functions with their triggers and routes (the local host runs the
# binaries, serves the routes, polls the queues and fires the schedules) and alarms. Roles and log groups are
# created (moto and LocalStack accept them, in aws-cn too) although nothing enforces or fills them locally.
UNSUPPORTED_TYPE_PREFIXES = (
    "AWS::Lambda::",
    "AWS::ApiGateway::",
    "AWS::ApiGatewayV2::",
    "AWS::Events::",
    "AWS::Scheduler::",
    "AWS::CloudWatch::",
)
# Types that hold data: the local stack must create them, never drop them.
DATA_TYPE_PREFIXES = ("AWS::DynamoDB::", "AWS::SQS::", "AWS::S3::", "AWS::SNS::")

# AWS managed policies the template (or the transform) may name; ARNs are built per partition so that nothing
# has to ask IAM.
MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole": "service-role/AWSLambdaBasicExecutionRole",
    "AWSLambdaBasicDurableExecutionRolePolicy": "service-role/AWSLambdaBasicDurableExecutionRolePolicy",
    "AWSLambdaVPCAccessExecutionRole": "service-role/AWSLambdaVPCAccessExecutionRole",
    "AWSLambdaSQSQueueExecutionRole": "service-role/AWSLambdaSQSQueueExecutionRole",
    "AWSLambdaDynamoDBExecutionRole": "service-role/AWSLambdaDynamoDBExecutionRole",
    "AWSXrayWriteOnlyAccess": "AWSXrayWriteOnlyAccess",
    "AWSXRayDaemonWriteAccess": "AWSXRayDaemonWriteAccess",
}


# Stack states an update can start from; any other settled state (ROLLBACK_COMPLETE, CREATE_FAILED, ...) is deleted
# and created anew.
UPDATABLE_STATES = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")


class DeployError(Exception):
    """A failure with a message meant for the person running the deploy."""


# ---------------------------------------------------------------------------------------------------------------------
# Regions and partitions
# ---------------------------------------------------------------------------------------------------------------------
def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def url_suffix_of(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def managed_policy_map(region: str) -> dict[str, str]:
    partition = partition_of(region)
    return {name: f"arn:{partition}:iam::aws:policy/{path}" for name, path in MANAGED_POLICIES.items()}


# ---------------------------------------------------------------------------------------------------------------------
# Loading the template (short-form intrinsic tags)
# ---------------------------------------------------------------------------------------------------------------------
class _TemplateLoader(yaml.SafeLoader):
    pass


def _tag_constructor(tag: str) -> Callable[[yaml.Loader, yaml.Node], Any]:
    name = "Ref" if tag == "Ref" else ("Condition" if tag == "Condition" else f"Fn::{tag}")

    def construct(loader: yaml.Loader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for _tag in (
    "Ref", "Condition", "Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Join", "Select", "Split",
    "FindInMap", "ImportValue", "Base64", "Cidr", "GetAZs", "Transform", "ToJsonString", "Length",
):
    _TemplateLoader.add_constructor(f"!{_tag}", _tag_constructor(_tag))
# CloudFormation reads dates such as 2012-10-17 as strings.
_TemplateLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node)
)


def load_template(path: Path | str = TEMPLATE) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_TemplateLoader)  # noqa: S506 (SafeLoader subclass)


# ---------------------------------------------------------------------------------------------------------------------
# SAM -> CloudFormation
# ---------------------------------------------------------------------------------------------------------------------
def with_placeholder_code(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of the template whose functions and layers point at a placeholder artifact instead of local paths."""
    out = copy.deepcopy(template)
    globals_function = out.get("Globals", {}).get("Function", {})
    if "CodeUri" in globals_function:
        globals_function["CodeUri"] = PLACEHOLDER_CODE_URI
    for resource in out.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            props = resource.setdefault("Properties", {})
            if props.get("PackageType") != "Image":
                props["CodeUri"] = PLACEHOLDER_CODE_URI
                props.pop("InlineCode", None)
        elif resource.get("Type") == "AWS::Serverless::LayerVersion":
            resource.setdefault("Properties", {})["ContentUri"] = PLACEHOLDER_CODE_URI
    return out


def translate(sam_template: dict[str, Any], parameters: dict[str, str], region: str) -> dict[str, Any]:
    """Translate a SAM template to CloudFormation offline, for `region` (its partition decides managed-policy ARNs)."""
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    session = boto3.session.Session(region_name=region)
    translator = Translator(
        managed_policy_map=managed_policy_map(region), sam_parser=Parser(), boto_session=session
    )
    try:
        return translator.translate(
            sam_template=copy.deepcopy(sam_template),
            parameter_values=dict(parameters),
            passthrough_metadata=True,
            get_managed_policy_map=lambda: managed_policy_map(region),
        )
    except InvalidDocumentException as err:
        causes = "; ".join(cause.message for cause in err.causes)
        raise DeployError(f"SAM translation failed: {causes}") from err
    finally:
        translator.metrics.publish()  # no-op publisher; keeps the translator from warning about unpublished metrics


def parameter_values(template: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
    """Parameter values: defaults of the template, overridden by `given`; CommaDelimitedList values as lists."""
    declared = template.get("Parameters", {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise DeployError(f"unknown template parameter(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given:
            raw: Any = given[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            raise DeployError(f"template parameter {name} has no default: pass --parameter {name}=VALUE")
        if spec.get("Type") == "CommaDelimitedList" or str(spec.get("Type", "")).startswith("List<"):
            raw = [item.strip() for item in raw.split(",")] if isinstance(raw, str) else list(raw)
        allowed = spec.get("AllowedValues")
        if allowed is not None and raw not in allowed:
            raise DeployError(f"parameter {name}={raw!r} is not one of {allowed}")
        values[name] = raw
    return values


# ---------------------------------------------------------------------------------------------------------------------
# Intrinsic functions
# ---------------------------------------------------------------------------------------------------------------------
NO_VALUE = object()
_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


class Unresolvable(Exception):
    """An intrinsic that refers to something that does not exist locally."""


class Resolver:
    """Evaluates CloudFormation intrinsics for one stack.

    ref(logical_id) and get_att(logical_id, attribute) resolve resources; parameters and pseudo parameters come from
    `params`. Conditions are evaluated from the template's Conditions section.
    """

    def __init__(
        self,
        template: dict[str, Any],
        params: dict[str, Any],
        ref: Callable[[str], Any] | None = None,
        get_att: Callable[[str, str], Any] | None = None,
    ) -> None:
        self.template = template
        self.params = params
        self._ref = ref
        self._get_att = get_att
        self._conditions: dict[str, bool] = {}

    # conditions -------------------------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definitions = self.template.get("Conditions", {})
            if name not in definitions:
                raise DeployError(f"unknown condition {name}")
            self._conditions[name] = bool(self.resolve(definitions[name]))
        return self._conditions[name]

    def resource_enabled(self, resource: dict[str, Any]) -> bool:
        condition = resource.get("Condition")
        return condition is None or self.condition(condition)

    # values -----------------------------------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            handler = self._INTRINSICS.get(key)
            if handler is not None:
                return handler(self, arg)
        out = {}
        for key, item in value.items():
            resolved = self.resolve(item)
            if resolved is not NO_VALUE:
                out[key] = resolved
        return out

    def _ref_value(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.params:
            return self.params[name]
        if name in self.template.get("Parameters", {}):
            raise DeployError(f"no value for parameter {name}")
        if self._ref is None:
            raise Unresolvable(f"Ref {name}")
        return self._ref(name)

    def _fn_ref(self, arg: Any) -> Any:
        return self._ref_value(self.resolve(arg))

    def _fn_get_att(self, arg: Any) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        logical_id, attribute = self.resolve(arg[0]), self.resolve(arg[1])
        if self._get_att is None:
            raise Unresolvable(f"GetAtt {logical_id}.{attribute}")
        return self._get_att(logical_id, attribute)

    def _fn_sub(self, arg: Any) -> Any:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                value = variables[name]
            elif "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                value = self._fn_get_att([logical_id, attribute])
            else:
                value = self._ref_value(name)
            return str(value)

        return _SUB_VAR.sub(substitute, text).replace("${!", "${")

    def _fn_join(self, arg: Any) -> Any:
        delimiter, items = arg
        items = self.resolve(items)
        return self.resolve(delimiter).join(str(item) for item in items)

    def _fn_if(self, arg: Any) -> Any:
        name, if_true, if_false = arg
        return self.resolve(if_true if self.condition(name) else if_false)

    def _fn_equals(self, arg: Any) -> bool:
        left, right = (self.resolve(item) for item in arg)
        return left == right

    def _fn_not(self, arg: Any) -> bool:
        return not self.resolve(arg[0])

    def _fn_and(self, arg: Any) -> bool:
        return all(self.resolve(item) for item in arg)

    def _fn_or(self, arg: Any) -> bool:
        return any(self.resolve(item) for item in arg)

    def _fn_condition(self, arg: Any) -> bool:
        return self.condition(arg)

    def _fn_select(self, arg: Any) -> Any:
        index, items = self.resolve(arg[0]), self.resolve(arg[1])
        return items[int(index)]

    def _fn_split(self, arg: Any) -> Any:
        delimiter, text = self.resolve(arg[0]), self.resolve(arg[1])
        return text.split(delimiter)

    def _fn_find_in_map(self, arg: Any) -> Any:
        name, first, second = (self.resolve(item) for item in arg[:3])
        return self.template["Mappings"][name][first][second]

    def _fn_to_json_string(self, arg: Any) -> Any:
        return json.dumps(self.resolve(arg), separators=(",", ":"))

    def _fn_base64(self, arg: Any) -> Any:
        import base64

        return base64.b64encode(str(self.resolve(arg)).encode()).decode()

    _INTRINSICS: dict[str, Callable[["Resolver", Any], Any]] = {
        "Ref": _fn_ref,
        "Fn::GetAtt": _fn_get_att,
        "Fn::Sub": _fn_sub,
        "Fn::Join": _fn_join,
        "Fn::If": _fn_if,
        "Fn::Equals": _fn_equals,
        "Fn::Not": _fn_not,
        "Fn::And": _fn_and,
        "Fn::Or": _fn_or,
        "Condition": _fn_condition,
        "Fn::Select": _fn_select,
        "Fn::Split": _fn_split,
        "Fn::FindInMap": _fn_find_in_map,
        "Fn::ToJsonString": _fn_to_json_string,
        "Fn::Base64": _fn_base64,
    }


def specialise(template: dict[str, Any], resolver: Resolver) -> dict[str, Any]:
    """A copy of the template with its conditions applied: resources and outputs whose condition is false removed,
    Fn::If replaced by the chosen branch, AWS::NoValue dropped. Other intrinsics are left for CloudFormation."""

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            items = [walk(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if isinstance(value, dict):
            if len(value) == 1:
                (key, arg), = value.items()
                if key == "Fn::If":
                    return walk(arg[1] if resolver.condition(arg[0]) else arg[2])
                if key == "Ref" and arg == "AWS::NoValue":
                    return NO_VALUE
            out = {}
            for key, item in value.items():
                walked = walk(item)
                if walked is not NO_VALUE:
                    out[key] = walked
            return out
        return value

    out = copy.deepcopy(template)
    for section in ("Resources", "Outputs"):
        kept = {}
        for logical_id, entry in out.get(section, {}).items():
            if resolver.resource_enabled(entry):
                entry = dict(entry)
                entry.pop("Condition", None)
                kept[logical_id] = walk(entry)
        out[section] = kept
    out.pop("Conditions", None)
    return out


def references(value: Any) -> set[str]:
    """Logical ids (and parameter names) that a value refers to through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                target = arg.split(".", 1)[0] if isinstance(arg, str) else arg[0]
                if isinstance(target, str):
                    found.add(target)
                else:
                    found |= references(target)
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                local = set(arg[1]) if isinstance(arg, list) else set()
                for name in _SUB_VAR.findall(text):
                    name = name.split(".", 1)[0].strip()
                    if name not in local:
                        found.add(name)
                if isinstance(arg, list):
                    found |= references(arg[1])
            else:
                found |= references(arg)
    return found


def prune_for_emulator(template: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Drop the resources an emulator without Lambda cannot run, then everything that refers to them.
    Returns the pruned template and the sorted logical ids removed."""
    out = copy.deepcopy(template)
    resources = out.get("Resources", {})
    removed = {
        logical_id
        for logical_id, resource in resources.items()
        if resource.get("Type", "").startswith(UNSUPPORTED_TYPE_PREFIXES)
    }
    changed = True
    while changed:
        changed = False
        for logical_id, resource in resources.items():
            if logical_id in removed:
                continue
            body = {k: v for k, v in resource.items() if k != "DependsOn"}
            if references(body) & removed:
                if resource.get("Type", "").startswith(DATA_TYPE_PREFIXES):
                    culprits = ", ".join(sorted(references(body) & removed))
                    raise DeployError(
                        f"{logical_id} ({resource['Type']}) refers to {culprits}, which the local stack cannot "
                        "create: teach localstack/deploy.py to strip that property locally"
                    )
                removed.add(logical_id)
                changed = True
    for logical_id in removed:
        resources.pop(logical_id)
    for resource in resources.values():
        depends = resource.get("DependsOn")
        if depends is not None:
            depends = [depends] if isinstance(depends, str) else depends
            depends = [d for d in depends if d not in removed]
            if depends:
                resource["DependsOn"] = depends
            else:
                resource.pop("DependsOn")
    outputs = out.get("Outputs", {})
    for name in [n for n, o in outputs.items() if references(o) & removed]:
        outputs.pop(name)
    used = references(out.get("Resources", {})) | references(outputs)
    out["Parameters"] = {k: v for k, v in out.get("Parameters", {}).items() if k in used}
    if not out["Parameters"]:
        out.pop("Parameters")
    return out, sorted(removed)


# ---------------------------------------------------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------------------------------------------------
def rewrite_url(url: str, endpoint: str) -> str:
    """Point a queue URL returned by the emulator (any host) at the endpoint the local host uses."""
    parts, base = urlsplit(url), urlsplit(endpoint)
    if not parts.scheme or not parts.netloc:
        return url
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))


class Emulator:
    def __init__(self, endpoint: str, region: str) -> None:
        import boto3
        from botocore.config import Config

        self.endpoint = endpoint.rstrip("/")
        self.region = region
        session = boto3.session.Session(
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
            region_name=region,
        )
        config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                        s3={"addressing_style": "path"})
        self._client: Callable[[str], Any] = lambda service: session.client(
            service, endpoint_url=self.endpoint, config=config
        )
        self.client = self._client
        self.cloudformation = self._client("cloudformation")
        self.sqs = self._client("sqs")
        self.dynamodb = self._client("dynamodb")
        self.sts = self._client("sts")

    def account_id(self) -> str:
        try:
            return self.sts.get_caller_identity()["Account"]
        except Exception:  # noqa: BLE001 - an emulator without STS: the usual fake account
            return "000000000000"

    # stacks -----------------------------------------------------------------------------------------------------
    def _stack(self, name: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            stacks = self.cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError as err:
            if "does not exist" in str(err):
                return None
            raise
        return stacks[0] if stacks else None

    def _wait(self, name: str, goal: str, timeout: float = 180.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            stack = self._stack(name)
            if stack is None:
                if goal == "DELETE_COMPLETE":
                    return {"StackStatus": goal}
                raise DeployError(f"stack {name} disappeared while waiting for {goal}")
            status = stack["StackStatus"]
            if status == goal:
                return stack
            if not status.endswith("_IN_PROGRESS"):
                raise DeployError(f"stack {name} ended in {status}: {self._failure_reasons(name, stack)}")
            if time.monotonic() > deadline:
                raise DeployError(f"stack {name} still {status} after {timeout:.0f} s")
            time.sleep(0.5)

    def _settled(self, name: str, timeout: float = 180.0) -> dict[str, Any] | None:
        """The stack once no operation is in progress on it (None when there is no such stack)."""
        deadline = time.monotonic() + timeout
        while True:
            stack = self._stack(name)
            if stack is None or not stack["StackStatus"].endswith("_IN_PROGRESS"):
                return None if stack is None or stack["StackStatus"] == "DELETE_COMPLETE" else stack
            if time.monotonic() > deadline:
                raise DeployError(f"stack {name} still {stack['StackStatus']} after {timeout:.0f} s")
            time.sleep(0.5)

    def _failure_reasons(self, name: str, stack: dict[str, Any]) -> str:
        reasons = [stack.get("StackStatusReason") or ""]
        try:
            for event in self.cloudformation.describe_stack_events(StackName=name)["StackEvents"]:
                if event.get("ResourceStatus", "").endswith("FAILED"):
                    reasons.append(f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}")
        except Exception:  # noqa: BLE001 - best effort
            pass
        return "; ".join(r for r in reasons if r) or "no reason given"

    def deploy_stack(self, name: str, body: str, parameters: dict[str, Any]) -> str:
        """Create the stack, or bring an existing one up to date. Returns what was done."""
        from botocore.exceptions import ClientError

        cfn_parameters = [
            {"ParameterKey": key, "ParameterValue": ",".join(value) if isinstance(value, list) else str(value)}
            for key, value in parameters.items()
        ]
        existing = self._settled(name)
        if existing is not None and existing["StackStatus"] in UPDATABLE_STATES:
            deployed = self.cloudformation.get_template(StackName=name).get("TemplateBody")
            deployed_text = deployed if isinstance(deployed, str) else json.dumps(deployed, sort_keys=True)
            same_params = {p["ParameterKey"]: p.get("ParameterValue") for p in existing.get("Parameters", [])} == {
                p["ParameterKey"]: p["ParameterValue"] for p in cfn_parameters
            }
            if _same_json(deployed_text, body) and same_params:
                return "unchanged"
            try:
                self.cloudformation.update_stack(StackName=name, TemplateBody=body, Parameters=cfn_parameters)
                self._wait(name, "UPDATE_COMPLETE")
                return "updated"
            except (ClientError, DeployError) as err:
                if "No updates are to be performed" in str(err):
                    return "unchanged"
                print(f"update of {name} failed ({err}); deleting and recreating it", file=sys.stderr)
                existing = self._settled(name)
        if existing is not None:
            if existing["StackStatus"] not in UPDATABLE_STATES:
                print(f"stack {name} is {existing['StackStatus']}: deleting and recreating it", file=sys.stderr)
            self.cloudformation.delete_stack(StackName=name)
            self._wait(name, "DELETE_COMPLETE")
        try:
            self.cloudformation.create_stack(StackName=name, TemplateBody=body, Parameters=cfn_parameters)
        except ClientError as err:
            raise DeployError(f"CreateStack {name} refused: {err}") from err
        self._wait(name, "CREATE_COMPLETE")
        return "created"

    def physical_ids(self, name: str) -> dict[str, dict[str, str]]:
        ids: dict[str, dict[str, str]] = {}
        paginator = self.cloudformation.get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=name):
            for summary in page["StackResourceSummaries"]:
                if not summary.get("LogicalResourceId"):
                    continue  # moto lists resource types it does not support with empty fields
                ids[summary["LogicalResourceId"]] = {
                    "type": summary["ResourceType"],
                    "id": summary.get("PhysicalResourceId", ""),
                }
        return ids


def _same_json(left: str, right: str) -> bool:
    try:
        return json.loads(left) == json.loads(right)
    except ValueError:
        return False


class StackState:
    """Refs and attributes of the resources of a deployed stack, read from the emulator."""

    def __init__(self, emulator: Emulator, template: dict[str, Any], physical: dict[str, dict[str, str]],
                 partition: str, account_id: str) -> None:
        self.emulator = emulator
        self.template = template
        self.physical = physical
        self.partition = partition
        self.account_id = account_id
        self._queue_attributes: dict[str, dict[str, str]] = {}

    def queue_url(self, logical_id: str) -> str:
        return rewrite_url(self.physical[logical_id]["id"], self.emulator.endpoint)

    def queue_attributes(self, logical_id: str) -> dict[str, str]:
        if logical_id not in self._queue_attributes:
            self._queue_attributes[logical_id] = self.emulator.sqs.get_queue_attributes(
                QueueUrl=self.queue_url(logical_id), AttributeNames=["All"]
            )["Attributes"]
        return self._queue_attributes[logical_id]

    def ref(self, logical_id: str) -> Any:
        if logical_id in self.physical:
            entry = self.physical[logical_id]
            if entry["type"] == "AWS::SQS::Queue":
                return self.queue_url(logical_id)
            return entry["id"]
        resource = self.template.get("Resources", {}).get(logical_id)
        if resource is None:
            raise DeployError(f"Ref to unknown resource {logical_id}")
        raise Unresolvable(f"{logical_id} ({resource.get('Type')}) is not deployed locally")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id not in self.physical:
            raise Unresolvable(f"{logical_id}.{attribute}: {logical_id} is not deployed locally")
        kind, physical_id = self.physical[logical_id]["type"], self.physical[logical_id]["id"]
        region = self.emulator.region
        if kind == "AWS::SQS::Queue":
            attributes = self.queue_attributes(logical_id)
            if attribute == "Arn":
                return attributes["QueueArn"]
            if attribute == "QueueName":
                return attributes["QueueArn"].rsplit(":", 1)[1]
            if attribute == "QueueUrl":
                return self.queue_url(logical_id)
        elif kind == "AWS::DynamoDB::Table":
            table = self.emulator.dynamodb.describe_table(TableName=physical_id)["Table"]
            if attribute == "Arn":
                return table["TableArn"]
            if attribute == "StreamArn" and "LatestStreamArn" in table:
                return table["LatestStreamArn"]
        elif kind == "AWS::S3::Bucket":
            if attribute == "Arn":
                return f"arn:{self.partition}:s3:::{physical_id}"
            if attribute == "DomainName":
                return f"{physical_id}.s3.{url_suffix_of(region)}"
            if attribute == "RegionalDomainName":
                return f"{physical_id}.s3.{region}.{url_suffix_of(region)}"
        elif kind == "AWS::SNS::Topic" and attribute == "TopicArn":
            return physical_id
        raise DeployError(f"deploy.py cannot resolve GetAtt {logical_id}.{attribute} ({kind})")


# ---------------------------------------------------------------------------------------------------------------------
# Settings an emulator's CloudFormation may skip
# ---------------------------------------------------------------------------------------------------------------------
# moto's CloudFormation creates buckets with encryption and tags only, tables without TTL or point-in-time recovery,
# and does not know AWS::S3::BucketPolicy at all. After the stack is up, these settings are applied again through the
# service APIs (idempotent puts, harmless where the emulator already applied them, e.g. LocalStack).
# Bucket policy statements that deny plain HTTP (aws:SecureTransport false) are left out while the emulator is
# reached over http://: the local endpoint has no TLS, and moto enforces bucket policies.
def _s3_lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Status": rule["Status"]}
    if "Id" in rule:
        out["ID"] = rule["Id"]
    out["Filter"] = {"Prefix": rule.get("Prefix", "")}
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        }
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpirationInDays" in rule:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["NoncurrentVersionExpirationInDays"])}
    return out


def _s3_cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    renames = {"Id": "ID", "MaxAge": "MaxAgeSeconds"}
    return {renames.get(key, key): value for key, value in rule.items()}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else ([] if value is None else [value])


def _denies_plain_http(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition", {})
    return statement.get("Effect") == "Deny" and any(
        str(values.get("aws:SecureTransport")).lower() == "false" for values in condition.values()
    )


def reconcile(template: dict[str, Any], resolver: "Resolver", emulator: "Emulator",
              physical: dict[str, dict[str, str]]) -> tuple[list[str], list[str]]:
    """Apply the settings listed above. Returns the logical ids of resources handled here rather than by the
    emulator's CloudFormation, and notes on what differs from the cloud stack."""
    s3, dynamodb = emulator.client("s3"), emulator.dynamodb
    handled: list[str] = []
    notes: list[str] = []
    for logical_id, resource in template.get("Resources", {}).items():
        kind = resource.get("Type")
        props = resolver.resolve(resource.get("Properties", {}))
        try:
            if kind == "AWS::S3::Bucket" and logical_id in physical:
                bucket = physical[logical_id]["id"]
                if "PublicAccessBlockConfiguration" in props:
                    s3.put_public_access_block(
                        Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
                    )
                if "OwnershipControls" in props:
                    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=props["OwnershipControls"])
                if "LifecycleConfiguration" in props:
                    rules = [_s3_lifecycle_rule(rule) for rule in props["LifecycleConfiguration"]["Rules"]]
                    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
                if "CorsConfiguration" in props:
                    rules = [_s3_cors_rule(rule) for rule in props["CorsConfiguration"]["CorsRules"]]
                    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
                if "VersioningConfiguration" in props:
                    s3.put_bucket_versioning(
                        Bucket=bucket, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]}
                    )
            elif kind == "AWS::S3::BucketPolicy":
                document = dict(props["PolicyDocument"])
                if urlsplit(emulator.endpoint).scheme != "https":
                    # The emulator is reached over plain HTTP on loopback: a TLS-only deny would refuse every
                    # request (moto evaluates bucket policies). Keep every other statement.
                    statements = _as_list(document.get("Statement"))
                    document["Statement"] = [s for s in statements if not _denies_plain_http(s)]
                    left_out = len(statements) - len(document["Statement"])
                    if left_out:
                        notes.append(f"{logical_id}: {left_out} statement(s) denying plain HTTP left out "
                                     "(the local endpoint has no TLS)")
                if document.get("Statement"):
                    s3.put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(document))
                else:
                    s3.delete_bucket_policy(Bucket=props["Bucket"])  # also one left by an earlier deploy
                if logical_id not in physical:
                    handled.append(logical_id)
                    notes.append(f"{logical_id}: applied with s3:PutBucketPolicy (the emulator's CloudFormation "
                                 "skipped AWS::S3::BucketPolicy)" if document.get("Statement") else
                                 f"{logical_id}: nothing left to apply locally")
            elif kind == "AWS::DynamoDB::Table" and logical_id in physical:
                table = physical[logical_id]["id"]
                ttl = props.get("TimeToLiveSpecification")
                if ttl and str(ttl.get("Enabled")).lower() == "true":
                    current = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
                    if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                        dynamodb.update_time_to_live(
                            TableName=table,
                            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
                        )
                pitr = props.get("PointInTimeRecoverySpecification")
                if pitr and str(pitr.get("PointInTimeRecoveryEnabled")).lower() == "true":
                    dynamodb.update_continuous_backups(
                        TableName=table,
                        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
                    )
        except Unresolvable as err:
            raise DeployError(f"cannot apply {logical_id} locally: {err}") from err
        except DeployError:
            raise
        except Exception as err:  # noqa: BLE001 - botocore ClientError and friends
            raise DeployError(f"applying {logical_id} ({kind}) to the emulator failed: {err}") from err
    return handled, notes


# ---------------------------------------------------------------------------------------------------------------------
# The manifest
# ---------------------------------------------------------------------------------------------------------------------
_INVOKE_TARGET = re.compile(r"\$\{(\w+)\.Arn\}")


def _target_function(value: Any, functions: set[str]) -> str | None:
    """The logical id of the function a Ref / GetAtt / Sub (e.g. an integration URI) points at."""
    for name in references(value):
        if name in functions:
            return name
    if isinstance(value, str):
        match = _INVOKE_TARGET.search(value)
        if match and match.group(1) in functions:
            return match.group(1)
    return None


def _http_routes(template: dict[str, Any], functions: set[str]) -> dict[str, list[dict[str, Any]]]:
    routes: dict[str, list[dict[str, Any]]] = {name: [] for name in functions}
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") not in ("AWS::ApiGatewayV2::Api", "AWS::ApiGateway::RestApi"):
            continue
        body = resource.get("Properties", {}).get("Body") or {}
        for path, methods in (body.get("paths") or {}).items():
            for method, operation in methods.items():
                if not isinstance(operation, dict):
                    continue
                integration = operation.get("x-amazon-apigateway-integration") or {}
                target = _target_function(integration.get("uri"), functions)
                if target is None:
                    continue
                verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                route = {"method": verb, "path": path}
                if integration.get("payloadFormatVersion"):
                    route["payload_format_version"] = str(integration["payloadFormatVersion"])
                routes[target].append(route)
    for items in routes.values():
        items.sort(key=lambda r: (r["path"], r["method"]))
    return routes


def build_manifest(translated: dict[str, Any], resolver: Resolver, state: StackState,
                   header: dict[str, Any]) -> dict[str, Any]:
    resources = translated.get("Resources", {})
    functions = {
        logical_id
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Lambda::Function" and resolver.resource_enabled(resource)
    }
    http = _http_routes(specialise(translated, resolver), functions)
    sqs: dict[str, list[dict[str, Any]]] = {name: [] for name in functions}
    schedules: dict[str, list[dict[str, Any]]] = {name: [] for name in functions}

    for logical_id, resource in resources.items():
        if not resolver.resource_enabled(resource):
            continue
        kind, props = resource.get("Type"), resource.get("Properties", {})
        if kind == "AWS::Lambda::EventSourceMapping":
            target = _target_function(props.get("FunctionName"), functions)
            source = props.get("EventSourceArn")
            queue = next(iter(references(source) & set(state.physical)), None)
            if target is None or queue is None or state.physical[queue]["type"] != "AWS::SQS::Queue":
                continue
            attributes = state.queue_attributes(queue)
            response_types = resolver.resolve(props.get("FunctionResponseTypes", [])) or []
            entry = {
                "queue_url": state.queue_url(queue),
                "queue_arn": attributes["QueueArn"],
                "batch_size": int(resolver.resolve(props.get("BatchSize", 10))),
                "report_batch_item_failures": "ReportBatchItemFailures" in response_types,
                "visibility_timeout": int(attributes.get("VisibilityTimeout", 30)),
                "fifo": str(attributes.get("FifoQueue", "false")).lower() == "true",
            }
            window = props.get("MaximumBatchingWindowInSeconds")
            if window is not None:
                entry["maximum_batching_window"] = int(resolver.resolve(window))
            if resolver.resolve(props.get("Enabled", True)) in (False, "false"):
                entry["enabled"] = False
            sqs[target].append(entry)
        elif kind == "AWS::Events::Rule" and props.get("ScheduleExpression"):
            for target_spec in props.get("Targets", []):
                target = _target_function(target_spec.get("Arn"), functions)
                if target is None:
                    continue
                entry = {"expression": resolver.resolve(props["ScheduleExpression"])}
                if resolver.resolve(props.get("State", "ENABLED")) != "ENABLED":
                    entry["enabled"] = False
                if "Input" in target_spec:
                    entry["input"] = resolver.resolve(target_spec["Input"])
                schedules[target].append(entry)
        elif kind == "AWS::Scheduler::Schedule":
            target_spec = props.get("Target", {})
            target = _target_function(target_spec.get("Arn"), functions)
            if target is not None:
                entry = {"expression": resolver.resolve(props["ScheduleExpression"])}
                if resolver.resolve(props.get("State", "ENABLED")) != "ENABLED":
                    entry["enabled"] = False
                if "Input" in target_spec:
                    entry["input"] = resolver.resolve(target_spec["Input"])
                schedules[target].append(entry)

    manifest_functions: dict[str, Any] = {}
    for logical_id in sorted(functions):
        resource = resources[logical_id]
        props = resource.get("Properties", {})
        binary = (resource.get("Metadata", {}).get("BuildProperties") or {}).get("Binary")
        if not binary:
            raise DeployError(f"{logical_id} has no Metadata.BuildProperties.Binary: the local host cannot run it")
        environment = resolver.resolve(props.get("Environment", {}).get("Variables", {}))
        try:
            function_name = resolver.resolve(props["FunctionName"]) if "FunctionName" in props else logical_id
        except Unresolvable:
            function_name = logical_id
        entry: dict[str, Any] = {
            "binary": binary,
            "function_name": function_name,
            "timeout": int(resolver.resolve(props.get("Timeout", 3))),
            "memory_size": int(resolver.resolve(props.get("MemorySize", 128))),
            "environment": {key: str(value) for key, value in sorted(environment.items())},
            "http": http[logical_id],
            "sqs": sqs[logical_id],
            "schedules": schedules[logical_id],
        }
        manifest_functions[logical_id] = entry

    outputs: dict[str, Any] = {}
    for name, output in translated.get("Outputs", {}).items():
        if not resolver.resource_enabled(output):
            continue
        try:
            outputs[name] = resolver.resolve(output["Value"])
        except Unresolvable:
            continue  # refers to something only the cloud stack has (the HTTP API, a function)
    return {**header, "outputs": outputs, "functions": manifest_functions}


# ---------------------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="emulator URL, e.g. http://127.0.0.1:4599")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--stack", default="kefu-local", help="stack name (also prefixes queue names)")
    parser.add_argument("--edition", choices=["mainland", "international"], default="international")
    parser.add_argument("--out", help="manifest path (default localstack/.state/STACK.json)")
    parser.add_argument("--template", default=str(TEMPLATE))
    parser.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE",
                        help="extra template parameter, repeatable (e.g. LogLevel=debug)")
    return parser.parse_args(argv)


def deploy(args: argparse.Namespace) -> dict[str, Any]:
    given = {"Edition": args.edition}
    for item in args.parameter:
        key, sep, value = item.partition("=")
        if not sep:
            raise DeployError(f"--parameter {item!r}: expected KEY=VALUE")
        given[key] = value
    if args.edition == "mainland" and not args.region.startswith("cn-"):
        print(f"note: edition mainland in {args.region} (the cloud stack runs in cn-north-1 / cn-northwest-1)",
              file=sys.stderr)

    sam = load_template(args.template)
    params = parameter_values(sam, given)
    translated = translate(with_placeholder_code(sam), {k: v for k, v in params.items()}, args.region)

    partition = partition_of(args.region)
    emulator = Emulator(args.endpoint, args.region)
    account_id = emulator.account_id()
    pseudo = {
        "AWS::Region": args.region,
        "AWS::Partition": partition,
        "AWS::URLSuffix": url_suffix_of(args.region),
        "AWS::AccountId": account_id,
        "AWS::StackName": args.stack,
        "AWS::StackId": f"arn:{partition}:cloudformation:{args.region}:{account_id}:stack/{args.stack}/local",
        "AWS::NotificationARNs": [],
    }
    plain = Resolver(translated, {**params, **pseudo})
    local_template, removed = prune_for_emulator(specialise(translated, plain))
    body = json.dumps(local_template, sort_keys=True)
    try:
        action = emulator.deploy_stack(args.stack, body, {k: params[k] for k in local_template.get("Parameters", {})})
    except DeployError:
        raise
    except Exception as err:  # noqa: BLE001 - connection refused, bad credentials, ...
        raise DeployError(f"cannot deploy to {args.endpoint}: {err}") from err

    state = StackState(emulator, translated, emulator.physical_ids(args.stack), partition, account_id)
    resolver = Resolver(translated, {**params, **pseudo}, ref=state.ref, get_att=state.get_att)
    handled, notes = reconcile(local_template, resolver, emulator, state.physical)
    missing = sorted(set(local_template["Resources"]) - set(state.physical) - set(handled))
    if missing:
        raise DeployError(f"stack {args.stack} lacks resources {', '.join(missing)}")
    header = {
        "endpoint": emulator.endpoint,
        "region": args.region,
        "stack": args.stack,
        "edition": args.edition,
        "partition": partition,
        "account_id": account_id,
    }
    manifest = build_manifest(translated, resolver, state, header)
    manifest["local_stack"] = {
        "action": action,
        "resources": sorted(local_template["Resources"]),
        "notes": notes,
        "not_deployed": removed,
    }
    return manifest


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out) if args.out else REPO / "localstack" / ".state" / f"{args.stack}.json"
    try:
        manifest = deploy(args)
    except DeployError as err:
        print(f"deploy.py: {err}", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    functions = manifest["functions"].values()
    print(
        f"{manifest['stack']}: {manifest['local_stack']['action']} in {manifest['region']} at {manifest['endpoint']} "
        f"({len(manifest['local_stack']['resources'])} resources); {len(manifest['functions'])} functions, "
        f"{sum(len(f['http']) for f in functions)} routes, {sum(len(f['sqs']) for f in functions)} queue sources, "
        f"{sum(len(f['schedules']) for f in functions)} schedules -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
