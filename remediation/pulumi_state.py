"""Which DynamoDB tables Pulumi manages, read from stack state. Pure JSON reading: no pulumi.

`--pulumi-state PATH` takes a `pulumi stack export` file (`{"version": 3, "deployment": {...}}`)
or a DIY (`file://`) backend folder, whose `.pulumi/stacks/<project>/<stack>.json[.gz]` files are
checkpoints (`{"version": 3, "checkpoint": {"stack": ..., "latest": {deployment}}}`); older
backends keep `.pulumi/stacks/<stack>.json`. The shapes are pulumi/pulumi's
`sdk/go/common/apitype` (`UntypedDeployment`, `VersionedCheckpoint`, `DeploymentV1..V3`,
`ResourceV3`) and `pkg/backend/diy` (layout, compression, which file wins).

Nothing read here is ever printed but names, regions, accounts, stacks and URNs: secret values
(`{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ...}`) are decoded
only when the export carries them in plaintext, and never appear in an error message.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from remediation.core import InvalidTableRef, TableRef, parse_table_ref

__all__ = [
    "NATIVE_GLOBAL_TABLE",
    "NATIVE_TABLE",
    "RESOURCE_TYPES",
    "TABLE",
    "TABLE_REPLICA",
    "ManagedTable",
    "ManagedTables",
    "PulumiStateError",
    "load",
    "read_state",
    "tables_in",
]

TABLE: Final = "aws:dynamodb/table:Table"
TABLE_REPLICA: Final = "aws:dynamodb/tableReplica:TableReplica"
NATIVE_TABLE: Final = "aws-native:dynamodb:Table"
NATIVE_GLOBAL_TABLE: Final = "aws-native:dynamodb:GlobalTable"
"""AWS::DynamoDB::GlobalTable: one table name, a replica (a table of its own) per `replicas[]`
entry, each with its own `deletionProtectionEnabled` and `pointInTimeRecoverySpecification`."""
RESOURCE_TYPES: Final = (TABLE, TABLE_REPLICA, NATIVE_TABLE, NATIVE_GLOBAL_TABLE)
"""The types that declare a DynamoDB table: the pack judges them, the CLI defers to them."""

_DEPLOYMENT_VERSIONS: Final = range(1, 5)
"""Pulumi's DeploymentSchemaVersionOldestSupported (1) to DeploymentSchemaVersionLatest (4)."""

_KNOWN_FEATURES: Final = frozenset(
    {
        "refreshBeforeUpdate",
        "views",
        "hooks",
        "taint",
        "replaceWith",
        "snippets-prototype",
        "extensionParameterization",
        "byteString",
    }
)
"""Version 4 features Pulumi itself accepts today; none of them changes where a resource keeps its
type, id and outputs. An unknown one may, so it is refused as Pulumi refuses it."""

_SIG_KEY: Final = "4dabf18193072939515e22adb298388d"
_SECRET_SIG: Final = "1b47061264138c4ac30d75fd1eb44270"
_COMPUTED: Final = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
_STATE_SUFFIXES: Final = (".json", ".json.gz", ".json.zst")
"""What the DIY backend writes a stack as; `.bak` and fileblob's `.attrs` files are not stacks."""


class PulumiStateError(ValueError):
    """A --pulumi-state path that cannot be read as Pulumi state; the message is one line and
    names the file, never a value from it."""


@dataclass(frozen=True)
class ManagedTable:
    """A DynamoDB table some Pulumi stack declares: changing it out of band is undone by Pulumi."""

    name: str
    region: str | None
    """None when neither the state's ARN nor its provider tells: then it matches every region."""
    account: str | None
    """None when the state has no ARN: then it matches every account."""
    stack: str
    urn: str


@dataclass(frozen=True)
class ManagedTables:
    """Every table the given states manage, and the lookup the CLI asks per table it reads."""

    tables: tuple[ManagedTable, ...] = ()
    sources: tuple[str, ...] = ()
    """The state files read, for the report."""

    def find(self, name: str, region: str | None, account: str | None) -> ManagedTable | None:
        """The stack's table of that name, where region and account agree wherever both are known.

        What the state does not tell counts as a match: a table Pulumi may manage is left to
        Pulumi, because a write to it would be reverted by the next `pulumi up --refresh`.
        """
        best: ManagedTable | None = None
        best_known = -1
        for table in self.tables:
            if table.name != name:
                continue
            if region and table.region and table.region != region:
                continue
            if account and table.account and table.account != account:
                continue
            known = (table.region is not None) + (table.account is not None)
            if known > best_known:
                best, best_known = table, known
        return best


def load(paths: Iterable[str | Path]) -> ManagedTables:
    """Read every path (export file or DIY backend folder); raise PulumiStateError on the first
    that is not Pulumi state."""
    tables: list[ManagedTable] = []
    sources: list[str] = []
    for path in paths:
        for file in _state_files(_local_path(path)):
            tables.extend(read_state(file))
            sources.append(str(file))
    return ManagedTables(tuple(tables), tuple(sources))


def _local_path(path: str | Path) -> Path:
    text = str(path)
    if text.startswith("file://"):
        # A DIY backend URL as PULUMI_BACKEND_URL spells it: file://~/state, file:///srv/state.
        text = text.removeprefix("file://")
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        raise PulumiStateError(
            f"{text}: only file:// backends are read here; for a {scheme}:// backend, pass the "
            "output of `pulumi stack export --stack NAME --file FILE`"
        )
    return Path(text).expanduser()


def _state_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.exists():
        raise PulumiStateError(f"{path}: no such file or folder")
    if not path.is_dir():
        raise PulumiStateError(f"{path}: not a file or a folder")
    stacks = next(
        (s for s in (path / ".pulumi" / "stacks", path / "stacks") if s.is_dir()),
        None,
    )
    if stacks is None:
        raise PulumiStateError(
            f"{path}: no Pulumi state here (expected {path / '.pulumi' / 'stacks'} of a file:// "
            "backend, or pass a `pulumi stack export` file)"
        )
    files = _stack_files(stacks)
    if not files:
        raise PulumiStateError(f"{stacks}: no stack state (<project>/<stack>.json[.gz]) in it")
    return files


def _stack_files(stacks: Path) -> list[Path]:
    """One file per stack: `<project>/<stack>.json[.gz|.zst]`, or `<stack>.json...` in the
    legacy layout; where a stack has several, the most recently written wins, as in Pulumi."""
    latest: dict[str, Path] = {}
    candidates = [*stacks.glob("*"), *stacks.glob("*/*")]
    for file in sorted(candidates):
        suffix = next((s for s in _STATE_SUFFIXES if file.name.endswith(s)), None)
        if suffix is None or not file.is_file():
            continue
        stack = str(file.relative_to(stacks))[: -len(suffix)]
        current = latest.get(stack)
        if current is None or file.stat().st_mtime >= current.stat().st_mtime:
            latest[stack] = file
    return [latest[stack] for stack in sorted(latest)]


def read_state(file: Path) -> list[ManagedTable]:
    """The managed tables in one export or checkpoint file."""
    return tables_in(_decode(file), str(file))


def _decode(file: Path) -> Any:
    if file.name.endswith(".zst"):
        raise PulumiStateError(
            f"{file}: zstd-compressed state cannot be read here; pass the output of "
            "`pulumi stack export --file FILE` instead"
        )
    try:
        data = file.read_bytes()
    except OSError as error:
        raise PulumiStateError(f"{file}: cannot be read ({error.strerror})") from None
    if data[:2] == b"\x1f\x8b":  # gzip's magic, whatever the file is called
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            raise PulumiStateError(f"{file}: not a valid gzip file") from None
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise PulumiStateError(f"{file}: not valid JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as error:
        # The position only: the message never quotes the document, which may hold secrets.
        raise PulumiStateError(
            f"{file}: not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None


def tables_in(document: Any, source: str) -> list[ManagedTable]:
    """The managed tables in a decoded export or checkpoint; `source` names it in errors."""
    deployment, version, features = _deployment(document, source)
    if version not in _DEPLOYMENT_VERSIONS:
        raise PulumiStateError(
            f"{source}: deployment version {version} is not supported (this tool reads "
            f"{_DEPLOYMENT_VERSIONS.start} to {_DEPLOYMENT_VERSIONS.stop - 1})"
        )
    unknown = sorted({f for f in features if f not in _KNOWN_FEATURES})
    if unknown:
        raise PulumiStateError(
            f"{source}: the deployment needs features this tool does not know: {', '.join(unknown)}"
        )
    if deployment is None:
        return []  # a stack that was created but never deployed
    if not isinstance(deployment, Mapping):
        raise PulumiStateError(f"{source}: not a Pulumi deployment (deployment is not an object)")
    resources = deployment.get("resources") or []
    if not isinstance(resources, list):
        raise PulumiStateError(f"{source}: not a Pulumi deployment (resources is not a list)")
    for index, resource in enumerate(resources):
        if not isinstance(resource, Mapping) or not isinstance(resource.get("urn"), str):
            raise PulumiStateError(
                f"{source}: not a Pulumi deployment (resources[{index}] is not a resource)"
            )
    providers = {r["urn"] + "::" + str(r.get("id", "")): r for r in resources}
    return [table for r in resources for table in _managed(r, providers)]


def _deployment(document: Any, source: str) -> tuple[Any, int, list[str]]:
    """(deployment, its version, its features) from an export or a versioned checkpoint."""
    if not isinstance(document, Mapping):
        raise PulumiStateError(f"{source}: not a Pulumi deployment (not a JSON object)")
    if "deployment" in document:  # `pulumi stack export`: apitype.UntypedDeployment
        version = document.get("version")
        deployment = document["deployment"]
    elif "checkpoint" in document:  # a backend's stack file: apitype.VersionedCheckpoint
        version = document.get("version")
        checkpoint = document["checkpoint"]
        if not isinstance(checkpoint, Mapping):
            raise PulumiStateError(
                f"{source}: not a Pulumi deployment (its checkpoint is not an object)"
            )
        deployment = checkpoint.get("latest")
    elif "latest" in document and "version" not in document:
        # A checkpoint from before checkpoints were versioned: CheckpointV1 at the top level.
        version = 1
        deployment = document["latest"]
    else:
        raise PulumiStateError(
            f"{source}: not a Pulumi deployment (expected `pulumi stack export` output with "
            '"version" and "deployment", or a backend stack file with "version" and "checkpoint")'
        )
    if isinstance(version, bool) or not isinstance(version, int):
        raise PulumiStateError(f"{source}: not a Pulumi deployment (its version is not an integer)")
    features = document.get("features") or []
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise PulumiStateError(f"{source}: not a Pulumi deployment (features is not a list)")
    return deployment, version, features


def _managed(
    resource: Mapping[str, Any], providers: Mapping[str, Mapping[str, Any]]
) -> Iterator[ManagedTable]:
    kind = resource.get("type")
    if kind not in RESOURCE_TYPES or resource.get("external") or resource.get("delete") is True:
        # External resources are `Table.get(...)` reads: Pulumi looks at them, never changes them.
        # `delete: true` marks a resource pending deletion (a replacement's old half, or one
        # whose delete failed): Pulumi will delete it, not manage it.
        return
    urn = resource["urn"]
    stack = _stack(urn)
    outputs = _mapping(resource.get("outputs"))
    inputs = _mapping(resource.get("inputs"))
    arn = _arn(_plain(outputs.get("arn")))
    if kind == TABLE_REPLICA:
        main = _arn(_plain(outputs.get("globalTableArn"))) or _arn(
            _plain(inputs.get("globalTableArn"))
        )
        name = main.name if main else _replica_id_name(resource.get("id"))
        account = arn.account if arn else main.account if main else None
    else:
        # A GlobalTable's id, like a native Table's, is its TableName (CloudFormation's
        # primaryIdentifier).
        key = "name" if kind == TABLE else "tableName"
        name = _text(outputs.get(key)) or _text(resource.get("id")) or _text(inputs.get(key))
        account = arn.account if arn else None
    if not name:
        return  # never created (no outputs, no id): there is no table to leave alone
    region = arn.region if arn else None
    region = region or _text(outputs.get("region")) or _provider_region(resource, providers)
    if kind == NATIVE_GLOBAL_TABLE:
        # Every replica, the one in the stack's own region included, is a `replicas[]` entry.
        entries = [_text(_mapping(_plain(r)).get("region")) for r in _replicas(outputs, inputs)]
        regions: Sequence[str | None] = sorted({r for r in entries if r})
        for each in regions or [region]:
            yield ManagedTable(name, each, account, stack, urn)
        return
    yield ManagedTable(name, region, account, stack, urn)
    if kind == TABLE:
        # Global table replicas declared on the table itself: the same name in other regions,
        # each protected through its `replicas` entry.
        for replica in _list(_plain(outputs.get("replicas"))):
            entry = _mapping(_plain(replica))
            replica_arn = _arn(_plain(entry.get("arn")))
            replica_region = replica_arn.region if replica_arn else None
            replica_region = replica_region or _text(entry.get("regionName"))
            if replica_region:
                yield ManagedTable(name, replica_region, account, stack, urn)


def _replicas(outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> list[Any]:
    """A GlobalTable's replica entries: as deployed (outputs), else as declared (inputs)."""
    return _list(_plain(outputs.get("replicas"))) or _list(_plain(inputs.get("replicas")))


def _stack(urn: str) -> str:
    """The stack name from `urn:pulumi:<stack>::<project>::<type>::<name>`."""
    head = urn.split("::", 1)[0]
    return head.removeprefix("urn:pulumi:") if head.startswith("urn:pulumi:") else head


def _provider_region(
    resource: Mapping[str, Any], providers: Mapping[str, Mapping[str, Any]]
) -> str | None:
    """The region of the provider the resource was created with (`provider` is `<urn>::<id>`)."""
    reference = resource.get("provider")
    if not isinstance(reference, str):
        return None
    provider = providers.get(reference)
    if provider is None:
        return None
    for bag in (_mapping(provider.get("outputs")), _mapping(provider.get("inputs"))):
        region = _text(bag.get("region"))
        if region:
            return region
    return None


def _replica_id_name(value: Any) -> str | None:
    """A TableReplica's id is `<table name>:<main region>`."""
    text = _text(value)
    if not text or ":" not in text:
        return None
    return text.rsplit(":", 1)[0] or None


def _plain(value: Any) -> Any:
    """The value, with a secret opened where the export shows it; None where it cannot."""
    if isinstance(value, Mapping) and value.get(_SIG_KEY) == _SECRET_SIG:
        plaintext = value.get("plaintext")
        if not isinstance(plaintext, str):
            return None  # encrypted: only the stack's secrets provider can read it
        try:
            return json.loads(plaintext)
        except json.JSONDecodeError:
            return None
    return value


def _text(value: Any) -> str | None:
    value = _plain(value)
    if isinstance(value, str) and value and value != _COMPUTED:
        return value
    return None


def _arn(value: Any) -> TableRef | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return parse_table_ref(text) if text.startswith("arn:") else None
    except InvalidTableRef:
        return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
