"""A stand-in for the Pulumi engine's side of policy packs, since the Pulumi CLI can't run here.

`AnalyzerEngine` starts a policy pack the way the CLI does (`python -u -m pulumi.policy <engine
address> <pack dir>`, cwd the pack dir, the port read from the first stdout line, PULUMI_* in the
environment) and drives `pulumirpc.Analyzer` over real gRPC in the engine's order: Handshake,
ConfigureStack, GetPluginInfo, GetAnalyzerInfo, Configure (config reconciled like
`--policy-pack-config`), then per resource Remediate and Analyze, and AnalyzeStack at the end.
Properties are marshalled as the engine does: unknowns as the unknown sentinel string, secrets as
signature-tagged objects, internal keys (`__defaults`) kept for Remediate and skipped for Analyze.

`capture_program` runs a Pulumi program under `pulumi.runtime.set_mocks` and returns the resources
it registers, after the resource transforms it (or the caller) registered, in engine form.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import runpy
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from inspect import isawaitable
from pathlib import Path
from typing import Any

import grpc
import jsonschema
import pulumi
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.output import Unknown
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import (
    analyzer_pb2,
    analyzer_pb2_grpc,
    engine_pb2_grpc,
)
from pulumi.runtime.stack import run_pulumi_func

ROOT = Path(__file__).resolve().parent.parent
PACK_DIR = ROOT / "policy_pack"
PROGRAM = ROOT / "__main__.py"

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""What the engine sends a policy pack for a value not known during preview."""
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

PROJECT = "sentinel-dynamodb"
STACK = "dev"
ORGANIZATION = "organization"
REGION = "us-east-1"
ACCOUNT = "123456789012"

_LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
_LEVEL_VALUES = {name: value for value, name in _LEVELS.items()}
_GRPC_OPTIONS = [("grpc.max_receive_message_length", 1024 * 1024 * 400)]


def secret(value: Any) -> dict[str, Any]:
    """A secret value as the engine marshals it."""
    return {SIG_KEY: SECRET_SIG, "value": value}


def is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(SIG_KEY) == SECRET_SIG


# --- resources and results ----------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """A resource as the engine holds it: type, logical name, inputs in wire form, and whether it
    is declared with Pulumi's `protect` option (as the Sentinel program declares its tables)."""

    type: str
    name: str
    props: Mapping[str, Any]
    protect: bool = True

    @property
    def urn(self) -> str:
        return f"urn:pulumi:{STACK}::{PROJECT}::{self.type}::{self.name}"


@dataclass(frozen=True)
class Diagnostic:
    policy: str
    level: str
    message: str
    urn: str


@dataclass(frozen=True)
class Remediation:
    policy: str
    diagnostic: str
    properties: dict[str, Any] | None


@dataclass(frozen=True)
class Step:
    """One resource's pass through the pack: Remediate, then Analyze on what came back."""

    resource: Resource
    inputs: dict[str, Any]
    remediations: tuple[Remediation, ...]
    remediated: dict[str, Any]
    diagnostics: tuple[Diagnostic, ...]
    not_applicable: tuple[tuple[str, str], ...]

    @property
    def changed(self) -> bool:
        return self.remediated != self.inputs


@dataclass(frozen=True)
class Report:
    steps: tuple[Step, ...]
    stack_diagnostics: tuple[Diagnostic, ...]

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return (*(d for s in self.steps for d in s.diagnostics), *self.stack_diagnostics)

    @property
    def resource_diagnostics(self) -> tuple[Diagnostic, ...]:
        """Only the resource policies' verdicts (on inputs), not the stack policies'."""
        return tuple(d for s in self.steps for d in s.diagnostics)

    @property
    def blocked(self) -> bool:
        """True when the engine would stop the preview or update (a mandatory violation)."""
        return any(d.level == "mandatory" for d in self.diagnostics)

    def step(self, name: str) -> Step:
        (found,) = [s for s in self.steps if s.resource.name == name]
        return found


# --- marshalling as the engine does -------------------------------------------------------------


def to_wire(value: Any) -> Any:
    """A Python (or mock-captured) value in the engine's wire form."""
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, Mapping):
        return {str(k): to_wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    return value


def _struct(props: Mapping[str, Any], *, skip_internal: bool) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update({k: v for k, v in props.items() if not (skip_internal and k.startswith("__"))})
    return result


def _from_struct(message: struct_pb2.Struct) -> dict[str, Any]:
    return dict(json_format.MessageToDict(message))


# --- policy pack config, reconciled like `--policy-pack-config` ---------------------------------


class PolicyConfigError(ValueError):
    """The reconciled policy config fails its schema: the CLI refuses to run."""


@dataclass(frozen=True)
class PolicyConfig:
    level: str
    properties: dict[str, Any] = field(default_factory=dict)


def parse_policy_pack_config(text: str) -> dict[str, PolicyConfig]:
    """A `--policy-pack-config` file: policy name (or `all`) -> a level, or an object."""
    if not text.strip():
        return {}
    result: dict[str, PolicyConfig] = {}
    for name, value in json.loads(text).items():
        if isinstance(value, str):
            result[name] = PolicyConfig(_level(name, value))
        elif isinstance(value, dict):
            props = dict(value)
            level = props.pop("enforcementLevel", "")
            if level:
                level = _level(name, level)
            if level or props:
                result[name] = PolicyConfig(level, props)
        else:
            raise PolicyConfigError(f"parsing {name!r}: {value!r} must be a string or object")
    return result


def _level(name: str, value: Any) -> str:
    if value not in _LEVEL_VALUES:
        raise PolicyConfigError(f"{name}: {value!r} is not a valid enforcement level")
    return str(value)


def reconcile(
    info: analyzer_pb2.AnalyzerInfo, given: Mapping[str, PolicyConfig]
) -> dict[str, PolicyConfig]:
    """Schema defaults, then the pack's initial config, then the file; validated per policy."""
    result: dict[str, PolicyConfig] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for policy in info.policies:
        schema = json_format.MessageToDict(policy.configSchema)
        properties = dict(schema.get("properties", {}))
        defaults = {k: v["default"] for k, v in properties.items() if "default" in v}
        result[policy.name] = PolicyConfig(_LEVELS[policy.enforcementLevel], defaults)
        if info.supportsConfig:
            properties["enforcementLevel"] = {"type": "string", "enum": list(_LEVEL_VALUES)}
            schemas[policy.name] = {"type": "object", "properties": properties}
            if schema.get("required"):
                schemas[policy.name]["required"] = schema["required"]
    initial = {
        k: PolicyConfig(
            _LEVELS[v.enforcementLevel] if v.HasField("enforcementLevel") else "",
            json_format.MessageToDict(v.properties),
        )
        for k, v in info.initialConfig.items()
    }
    result = _apply(_apply(result, initial), given)
    errors = []
    for name, schema in schemas.items():
        props = result[name].properties if name in result else {}
        validator = jsonschema.Draft4Validator(schema)
        errors += [f"{name}: {e.message}" for e in validator.iter_errors(props)]
    if errors:
        raise PolicyConfigError("; ".join(errors))
    return result


def _apply(
    result: dict[str, PolicyConfig], given: Mapping[str, PolicyConfig]
) -> dict[str, PolicyConfig]:
    result = dict(result)
    every = given.get("all")
    if every is not None and every.level:
        result = {k: PolicyConfig(every.level, v.properties) for k, v in result.items()}
    for name, config in given.items():
        current = result.get(name, PolicyConfig(""))
        level = config.level or current.level
        result[name] = PolicyConfig(level, {**current.properties, **config.properties})
    return result


# --- the engine ---------------------------------------------------------------------------------


class _EngineServicer(engine_pb2_grpc.EngineServicer):
    """The engine's own service, so that the address handed to the pack answers (logs kept)."""

    def __init__(self) -> None:
        self.logs: list[str] = []

    def Log(self, request: Any, context: Any) -> empty_pb2.Empty:
        self.logs.append(request.message)
        return empty_pb2.Empty()


def _virtualenv_python(pack_dir: Path) -> list[str]:
    """The interpreter PulumiPolicy.yaml's `virtualenv` option names, as the CLI would pick it."""
    text = (pack_dir / "PulumiPolicy.yaml").read_text()
    match = re.search(r"^\s*virtualenv:\s*(\S+)\s*$", text, re.MULTILINE)
    if match is not None:
        python = (pack_dir / match.group(1)).resolve() / "bin" / "python"
        if python.exists():
            return [str(python)]
    return [sys.executable]


class AnalyzerEngine:
    """One policy pack process, configured as for one `pulumi preview` / `pulumi up`."""

    def __init__(
        self,
        pack_dir: Path = PACK_DIR,
        *,
        policy_config: Path | None = None,
        dry_run: bool = True,
        stack_config: Mapping[str, str] | None = None,
        python: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.pack_dir = pack_dir.resolve()
        self.policy_config = policy_config
        self.dry_run = dry_run
        self.stack_config = dict(stack_config or {})
        self.python = list(python) if python is not None else _virtualenv_python(self.pack_dir)
        self.env = dict(env) if env is not None else None
        self.startup_seconds = 0.0
        """From starting the process to GetAnalyzerInfo's answer."""
        self.first_line = ""
        self.handshake_code: grpc.StatusCode | None = None
        self.info = analyzer_pb2.AnalyzerInfo()
        self.plugin_version = ""
        self.config: dict[str, PolicyConfig] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._engine_server: grpc.Server | None = None
        self._engine = _EngineServicer()
        self._stdout: list[bytes] = []
        self._stderr: list[bytes] = []

    # The life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> AnalyzerEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _environment(self) -> dict[str, str]:
        base = self.env if self.env is not None else os.environ
        env = {k: v for k, v in base.items() if not k.startswith("PULUMI_")}
        env.update(
            PULUMI_PROJECT=PROJECT,
            PULUMI_STACK=STACK,
            PULUMI_ORGANIZATION=ORGANIZATION,
            PULUMI_DRY_RUN="true" if self.dry_run else "false",
        )
        if self.stack_config:
            env["PULUMI_CONFIG"] = json.dumps(self.stack_config)
        return env

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    @property
    def closed(self) -> bool:
        return self._process is None or self._process.poll() is not None

    def _start(self) -> None:
        self._engine_server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        engine_pb2_grpc.add_EngineServicer_to_server(self._engine, self._engine_server)
        engine_port = self._engine_server.add_insecure_port("127.0.0.1:0")
        self._engine_server.start()
        engine_address = f"127.0.0.1:{engine_port}"

        started = time.perf_counter()
        self._process = subprocess.Popen(
            [*self.python, "-u", "-m", "pulumi.policy", engine_address, str(self.pack_dir)],
            cwd=self.pack_dir,
            env=self._environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        lines: queue.Queue[bytes] = queue.Queue()
        assert self._process.stdout is not None and self._process.stderr is not None
        _drain(self._process.stdout, self._stdout, lines)
        _drain(self._process.stderr, self._stderr, None)
        try:
            first = lines.get(timeout=60)
        except queue.Empty:
            raise RuntimeError("the policy pack printed no port within 60 s") from None
        self.first_line = first.decode(errors="replace").rstrip("\n")
        if not self.first_line.isdigit():
            stderr = self.stderr
            raise RuntimeError(
                f"the pack's first stdout line must be its port, got {self.first_line!r}\n{stderr}"
            )
        self._channel = grpc.insecure_channel(f"127.0.0.1:{self.first_line}", _GRPC_OPTIONS)
        self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)

        try:
            self._stub.Handshake(
                analyzer_pb2.AnalyzerHandshakeRequest(
                    engine_address=engine_address,
                    root_directory=str(self.pack_dir),
                    program_directory=str(self.pack_dir),
                )
            )
            self.handshake_code = grpc.StatusCode.OK
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            self.handshake_code = grpc.StatusCode.UNIMPLEMENTED
        self._stub.ConfigureStack(
            analyzer_pb2.AnalyzerStackConfigureRequest(
                stack=STACK,
                project=PROJECT,
                organization=ORGANIZATION,
                dry_run=self.dry_run,
                config=self.stack_config,
            )
        )
        self.plugin_version = self._stub.GetPluginInfo(empty_pb2.Empty()).version
        self.info = self._stub.GetAnalyzerInfo(empty_pb2.Empty())
        self.startup_seconds = time.perf_counter() - started

        given = {}
        if self.policy_config is not None:
            given = parse_policy_pack_config(self.policy_config.read_text())
        self.config = reconcile(self.info, given)
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, config in self.config.items():
            entry = request.policyConfig[name]
            entry.enforcementLevel = _LEVEL_VALUES[config.level]
            entry.properties.update(config.properties)
        self._stub.Configure(request)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._engine_server is not None:
            self._engine_server.stop(0)
            self._engine_server = None

    @property
    def stdout_after_port(self) -> str:
        """Everything the pack printed to stdout after its port line."""
        return b"".join(self._stdout).decode(errors="replace").split("\n", 1)[1]

    @property
    def stderr(self) -> str:
        return b"".join(self._stderr).decode(errors="replace")

    @property
    def logs(self) -> list[str]:
        return list(self._engine.logs)

    # The calls --------------------------------------------------------------------------------

    def _request(self, resource: Resource, props: Mapping[str, Any], *, skip_internal: bool) -> Any:
        return analyzer_pb2.AnalyzeRequest(
            type=resource.type,
            name=resource.name,
            urn=resource.urn,
            properties=_struct(props, skip_internal=skip_internal),
            options=analyzer_pb2.AnalyzerResourceOptions(
                protect=resource.protect,
                customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(),
            ),
            provider=_DEFAULT_PROVIDER,
        )

    def remediate(
        self, resource: Resource
    ) -> tuple[tuple[Remediation, ...], dict[str, Any], tuple[tuple[str, str], ...]]:
        """Remediations, the inputs after the engine applies them, and the not-applicable notes."""
        props = dict(resource.props)
        response = self._stub.Remediate(self._request(resource, props, skip_internal=False))
        remediations = []
        for r in response.remediations:
            new = _from_struct(r.properties) if r.HasField("properties") else None
            remediations.append(Remediation(r.policyName, r.diagnostic, new))
            # As the engine: a diagnostic is a warning; otherwise new properties replace the inputs.
            if not r.diagnostic and new is not None:
                props = new
        return tuple(remediations), props, _not_applicable(response)

    def analyze(
        self, resource: Resource, props: Mapping[str, Any]
    ) -> tuple[tuple[Diagnostic, ...], tuple[tuple[str, str], ...]]:
        response = self._stub.Analyze(self._request(resource, props, skip_internal=True))
        return _diagnostics(response), _not_applicable(response)

    def analyze_stack(self, resources: Sequence[Resource]) -> tuple[Diagnostic, ...]:
        request = analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=r.type,
                    name=r.name,
                    urn=r.urn,
                    properties=_struct(r.props, skip_internal=True),
                    provider=_DEFAULT_PROVIDER,
                )
                for r in resources
            ]
        )
        return _diagnostics(self._stub.AnalyzeStack(request))

    def run(self, resources: Sequence[Resource]) -> Report:
        """Per resource Remediate, then Analyze on the remediated inputs; AnalyzeStack last."""
        steps = []
        final = []
        for resource in resources:
            inputs = dict(resource.props)
            remediations, remediated, skipped = self.remediate(resource)
            diagnostics, not_applicable = self.analyze(resource, remediated)
            not_applicable = (*skipped, *not_applicable)
            steps.append(
                Step(resource, inputs, remediations, remediated, diagnostics, not_applicable)
            )
            final.append(Resource(resource.type, resource.name, remediated))
        return Report(tuple(steps), self.analyze_stack(final))


_DEFAULT_PROVIDER = analyzer_pb2.AnalyzerProviderResource(
    type="pulumi:providers:aws",
    name="default_7_51_1",
    urn=f"urn:pulumi:{STACK}::{PROJECT}::pulumi:providers:aws::default_7_51_1",
    properties=_struct({"region": REGION, "version": "7.51.1"}, skip_internal=True),
)


def _diagnostics(response: Any) -> tuple[Diagnostic, ...]:
    return tuple(
        Diagnostic(d.policyName, _LEVELS[d.enforcementLevel], d.message, d.urn)
        for d in response.diagnostics
    )


def _not_applicable(response: Any) -> tuple[tuple[str, str], ...]:
    return tuple((n.policy_name, n.reason) for n in response.not_applicable)


def _drain(
    stream: Any, sink: list[bytes], first_line: queue.Queue[bytes] | None
) -> threading.Thread:
    """Read a pipe to its end on a thread, so the pack never blocks on a full pipe."""

    def read() -> None:
        for line in iter(stream.readline, b""):
            if first_line is not None and not sink:
                first_line.put(line)
            sink.append(line)
        stream.close()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


# --- running a program under mocks --------------------------------------------------------------


class _ProgramMocks(pulumi.runtime.Mocks):
    """Records registrations; runs transforms first, as the engine does before registering."""

    def __init__(self, preview: bool) -> None:
        self.preview = preview
        self.transforms: list[pulumi.ResourceTransform] = []
        self.resources: list[Resource] = []
        self.thread_loops: set[asyncio.AbstractEventLoop] = set()
        """Loops the SDK's mock monitor opens on executor threads and never closes."""
        self.declared_protect: dict[str, bool] = {}
        """Each resource's `protect` option, which the SDK's mocks do not pass on."""

    def register_transform(self, transform: pulumi.ResourceTransform) -> None:
        self.transforms.append(transform)

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[Any, Any]]:
        self.thread_loops.add(asyncio.get_event_loop())
        props = dict(args.inputs)
        protect = self.declared_protect.pop(args.name, False)
        for transform in [*args.transforms, *self.transforms]:
            result = transform(
                pulumi.ResourceTransformArgs(
                    custom=bool(args.custom),
                    type_=args.typ,
                    name=args.name,
                    props=props,
                    opts=pulumi.ResourceOptions(),
                )
            )
            if isawaitable(result):
                raise TypeError("the test mocks run synchronous transforms only")
            if result is not None:
                props = dict(result.props)
                protect = protect or bool(result.opts and result.opts.protect)
        self.resources.append(Resource(args.typ, args.name, to_wire(props), protect))
        outputs = dict(props)
        name = props.get("name") or props.get("tableName")
        if args.typ.endswith("Table"):
            # In a preview the table does not exist yet, so its ARN is unknown.
            known = isinstance(name, str) and not self.preview
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
            outputs["arn"] = arn if known else pulumi.runtime.rpc.UNKNOWN
        elif not self.preview and args.custom:
            # What AWS would give back after `up`: a name when none was given, an ARN, a queue URL.
            service = args.typ.split(":")[1].split("/")[0]
            name = outputs.setdefault("name", args.name)
            outputs.setdefault("arn", f"arn:aws:{service}:{REGION}:{ACCOUNT}:{name}")
            if args.typ == "aws:sqs/queue:Queue":
                outputs["url"] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        # A bare dict: the SDK's mock monitor reads a tuple's second item as a list of failures.
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            arn = f"arn:aws:iam::{ACCOUNT}:user/deployer"
            return {"accountId": ACCOUNT, "arn": arn, "id": ACCOUNT, "userId": "AIDAEXAMPLE"}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        return {}


class _OptionsMonitor(MockMonitor):
    """The SDK's mock monitor, noting the `protect` option of each registration for the mocks."""

    def __init__(self, mocks: _ProgramMocks) -> None:
        super().__init__(mocks)
        self._program_mocks = mocks

    def RegisterResource(self, request: Any) -> Any:
        self._program_mocks.declared_protect[request.name] = bool(request.protect)
        return super().RegisterResource(request)


def unprotect(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """A stack transform that turns both protections off on every aws.dynamodb.Table.

    Registered before the Sentinel program runs, it yields the program's unprotected variant.
    """
    if args.type_ != "aws:dynamodb/table:Table":
        return None
    props = {k: v for k, v in args.props.items() if k != "pointInTimeRecovery"}
    props["deletionProtectionEnabled"] = False
    return pulumi.ResourceTransformResult(props=props, opts=args.opts)


def capture_program(
    program: Path | Callable[[], None] = PROGRAM,
    *,
    config: Mapping[str, str] | None = None,
    preview: bool = True,
    transforms: Sequence[pulumi.ResourceTransform] = (),
) -> list[Resource]:
    """Run `program` (a file, or a function) under mocks; the resources it registers, in order.

    `transforms` are registered as stack transforms before the program runs, the way a wrapper
    program could; config keys are `project:key` as in a stack's config.
    """
    mocks = _ProgramMocks(preview)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        pulumi_settings.set_root_resource(None)  # type: ignore[arg-type]
        pulumi.runtime.set_mocks(
            mocks, project=PROJECT, stack=STACK, preview=preview, monitor=_OptionsMonitor(mocks)
        )
        pulumi.runtime.set_all_config(dict(config or {}))

        def main() -> None:
            for transform in transforms:
                pulumi.runtime.register_resource_transform(transform)
            if isinstance(program, Path):
                runpy.run_path(str(program), run_name="__main__")
            else:
                program()

        loop.run_until_complete(run_pulumi_func(main))
    finally:
        for opened in mocks.thread_loops - {loop}:
            opened.close()
        loop.close()
        asyncio.set_event_loop(None)
    return [r for r in mocks.resources if not r.type.startswith("pulumi:")]
