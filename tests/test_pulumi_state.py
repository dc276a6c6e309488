"""Reading which tables Pulumi manages from exported state and from file:// backend folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from remediation import pulumi_state
from remediation.pulumi_state import ManagedTable, PulumiStateError, load
from tests.pulumi_states import (
    ACCOUNT,
    CIPHERTEXT,
    PROJECT,
    REGION,
    SECRET,
    SECRET_PLAINTEXT,
    SIG,
    checkpoint,
    native_global_table,
    provider,
    sentinel_export,
    table,
    urn,
    write_gzip,
    write_json,
)


def names_and_regions(tables: tuple[ManagedTable, ...]) -> set[tuple[str, str | None]]:
    return {(t.name, t.region) for t in tables}


def with_resources(*resources: dict[str, Any]) -> dict[str, Any]:
    export = sentinel_export()
    export["deployment"]["resources"] = list(resources)
    return export


def test_an_export_names_every_dynamodb_table_it_manages_and_nothing_else(tmp_path: Path) -> None:
    state = load([write_json(tmp_path / "dev.json", sentinel_export())])
    assert names_and_regions(state.tables) == {
        ("sentinel-requests", REGION),
        ("sentinel-breakglass", REGION),
        ("sentinel-sessions", REGION),
        ("sentinel-sessions", "eu-west-1"),  # the TableReplica resource
        ("sentinel-audit", REGION),  # aws-native
    }
    requests = state.find("sentinel-requests", REGION, ACCOUNT)
    assert requests == ManagedTable(
        "sentinel-requests",
        REGION,
        ACCOUNT,
        "dev",
        f"urn:pulumi:dev::{PROJECT}::aws:dynamodb/table:Table::requests",
    )
    assert state.sources == (str(tmp_path / "dev.json"),)


def test_a_table_read_with_get_is_not_managed(tmp_path: Path) -> None:
    # `aws.dynamodb.Table.get(...)` records the table as external: Pulumi never changes it.
    state = load([write_json(tmp_path / "dev.json", sentinel_export())])
    assert state.find("sentinel-legacy", REGION, ACCOUNT) is None


def test_a_lookup_matches_name_region_and_account_where_known(tmp_path: Path) -> None:
    state = load([write_json(tmp_path / "dev.json", sentinel_export())])
    assert state.find("sentinel-requests", REGION, ACCOUNT) is not None
    assert state.find("sentinel-requests", "eu-west-1", ACCOUNT) is None
    assert state.find("sentinel-requests", REGION, "999999999999") is None
    assert state.find("sentinel-requests", None, None) is not None  # unknown here: managed
    assert state.find("sentinel-other", REGION, ACCOUNT) is None
    west = state.find("sentinel-sessions", "eu-west-1", ACCOUNT)
    assert west is not None and west.urn.endswith("TableReplica::sessions-west")


def test_without_an_arn_the_region_comes_from_the_tables_provider(tmp_path: Path) -> None:
    west = provider("west", "eu-west-1")
    bare = table("t", "sentinel-t", with_arn=False, with_region=False, provider_of=west)
    state = load([write_json(tmp_path / "s.json", with_resources(west, bare))])
    [managed] = state.tables
    assert (managed.region, managed.account) == ("eu-west-1", None)
    assert state.find("sentinel-t", "eu-west-1", "999999999999") is not None  # account unknown
    assert state.find("sentinel-t", REGION, ACCOUNT) is None


def test_a_table_whose_region_nothing_tells_is_managed_in_every_region(tmp_path: Path) -> None:
    # A default provider configured from the environment (AWS_REGION) records no region.
    envless = provider("default_7_51_1", None)
    bare = table("t", "sentinel-t", with_arn=False, with_region=False, provider_of=envless)
    state = load([write_json(tmp_path / "s.json", with_resources(envless, bare))])
    assert state.find("sentinel-t", "ap-south-1", ACCOUNT) is not None


def test_replicas_declared_on_a_table_are_managed_in_their_regions(tmp_path: Path) -> None:
    global_table = table("g", "sentinel-g", replicas=("eu-west-1", "ap-southeast-2"))
    state = load([write_json(tmp_path / "s.json", with_resources(global_table))])
    assert names_and_regions(state.tables) == {
        ("sentinel-g", REGION),
        ("sentinel-g", "eu-west-1"),
        ("sentinel-g", "ap-southeast-2"),
    }
    assert state.find("sentinel-g", "us-west-2", ACCOUNT) is None


def test_a_resource_pending_deletion_is_not_managed(tmp_path: Path) -> None:
    # `delete: true`: the old half of a create-before-delete replacement, or a delete that failed;
    # Pulumi deletes it on the next update, it never manages it again.
    kept = table("kept", "sentinel-kept")
    old = table("old", "sentinel-old")
    old["delete"] = True
    old_global = native_global_table("old-global", "sentinel-old-global")
    old_global["delete"] = True
    state = load([write_json(tmp_path / "s.json", with_resources(kept, old, old_global))])
    assert names_and_regions(state.tables) == {("sentinel-kept", REGION)}
    assert state.find("sentinel-old", REGION, ACCOUNT) is None
    assert state.find("sentinel-old-global", REGION, ACCOUNT) is None


def test_a_native_global_table_is_managed_in_every_replica_region(tmp_path: Path) -> None:
    regions = (REGION, "eu-west-1", "ap-southeast-2")
    global_table = native_global_table("g", "sentinel-g", regions)
    state = load([write_json(tmp_path / "s.json", with_resources(global_table))])
    assert names_and_regions(state.tables) == {("sentinel-g", r) for r in regions}
    found = state.find("sentinel-g", "eu-west-1", ACCOUNT)
    assert found is not None
    assert found.urn.endswith("aws-native:dynamodb:GlobalTable::g")
    assert state.find("sentinel-g", "us-west-2", ACCOUNT) is None
    assert state.find("sentinel-g", REGION, "999999999999") is None


def test_a_native_global_table_not_yet_refreshed_is_read_from_its_inputs(tmp_path: Path) -> None:
    global_table = native_global_table("g", "sentinel-g", (REGION, "eu-west-1"))
    del global_table["outputs"]["replicas"]
    state = load([write_json(tmp_path / "s.json", with_resources(global_table))])
    assert names_and_regions(state.tables) == {("sentinel-g", REGION), ("sentinel-g", "eu-west-1")}


def test_a_plaintext_secret_name_is_read_and_a_ciphertext_one_falls_back_to_the_id(
    tmp_path: Path,
) -> None:
    shown = table("shown", "sentinel-shown")
    shown["outputs"]["name"] = {SIG: SECRET, "plaintext": json.dumps("sentinel-shown")}
    hidden = table("hidden", "sentinel-hidden")
    hidden["outputs"]["name"] = {SIG: SECRET, "ciphertext": CIPHERTEXT}
    hidden["outputs"]["arn"] = {SIG: SECRET, "ciphertext": CIPHERTEXT}
    state = load([write_json(tmp_path / "s.json", with_resources(shown, hidden))])
    assert names_and_regions(state.tables) == {
        ("sentinel-shown", REGION),
        ("sentinel-hidden", REGION),  # region from pulumi-aws 7's `region` output
    }


def test_a_resource_never_created_has_no_table_to_leave_alone(tmp_path: Path) -> None:
    pending = table("p", "sentinel-p")
    pending["outputs"] = {}
    del pending["id"]
    pending["inputs"]["name"] = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # computed, unknown
    state = load([write_json(tmp_path / "s.json", with_resources(pending))])
    assert state.tables == ()


# -- file:// backends --------------------------------------------------------------------------


def backend(root: Path, export: dict[str, Any] | None = None) -> Path:
    """A file:// backend as `pulumi login file://ROOT` lays it out after two `pulumi up`s."""
    pulumi = root / ".pulumi"
    (pulumi / "meta.yaml").parent.mkdir(parents=True)
    (pulumi / "meta.yaml").write_text("version: 1\n")
    stacks = pulumi / "stacks" / PROJECT
    write_gzip(stacks / "dev.json.gz", checkpoint(export or sentinel_export()))
    # The previous checkpoint, and fileblob's attribute sidecar: neither is a stack.
    (stacks / "dev.json.gz.bak").write_bytes(b"\x1f\x8b not the current state")
    (stacks / "dev.json.gz.attrs").write_text('{"user.cache_control": ""}')
    write_json(
        pulumi / "history" / PROJECT / "dev" / "dev-1763656851302000000.history.json",
        {"kind": "update", "result": "succeeded"},
    )
    return root


@pytest.mark.parametrize(
    "spelling",
    ["root", "root/.pulumi", "file://root"],
    ids=["folder holding .pulumi", ".pulumi itself", "file:// URL"],
)
def test_a_diy_backend_folder_is_read_however_it_is_named(tmp_path: Path, spelling: str) -> None:
    backend(tmp_path / "root")
    given = spelling.replace("root", str(tmp_path / "root"))
    state = load([given])
    assert state.find("sentinel-requests", REGION, ACCOUNT) is not None
    assert state.sources == (str(tmp_path / "root/.pulumi/stacks" / PROJECT / "dev.json.gz"),)


def test_every_stack_in_a_backend_is_read_and_named_by_its_urn(tmp_path: Path) -> None:
    root = backend(tmp_path)
    prod = with_resources(table("requests", "sentinel-prod-requests", stack="prod"))
    write_json(root / ".pulumi/stacks" / PROJECT / "prod.json", checkpoint(prod, "prod"))
    state = load([root])
    found = state.find("sentinel-prod-requests", REGION, ACCOUNT)
    assert found is not None and found.stack == "prod"
    assert len(state.sources) == 2


def test_the_legacy_layout_without_projects_is_read(tmp_path: Path) -> None:
    write_json(tmp_path / ".pulumi/stacks/dev.json", checkpoint(sentinel_export()))
    assert load([tmp_path]).find("sentinel-breakglass", REGION, ACCOUNT) is not None


def test_where_a_stack_has_plain_and_gzipped_files_the_newest_wins(tmp_path: Path) -> None:
    stacks = tmp_path / ".pulumi/stacks" / PROJECT
    old = write_json(stacks / "dev.json", checkpoint(with_resources(table("o", "sentinel-old"))))
    new = write_gzip(stacks / "dev.json.gz", checkpoint(with_resources(table("n", "sentinel-new"))))
    os.utime(old, (1_700_000_000, 1_700_000_000))
    os.utime(new, (1_800_000_000, 1_800_000_000))
    assert names_and_regions(load([tmp_path]).tables) == {("sentinel-new", REGION)}


def test_an_export_redirected_by_windows_powershell_is_read(tmp_path: Path) -> None:
    # `pulumi stack export > dev.json` in Windows PowerShell 5 writes UTF-16 with a BOM.
    path = tmp_path / "dev.json"
    path.write_bytes(json.dumps(sentinel_export()).encode("utf-16"))
    assert load([path]).find("sentinel-requests", REGION, ACCOUNT) is not None


def test_a_stack_created_but_never_deployed_manages_nothing(tmp_path: Path) -> None:
    path = write_json(tmp_path / "s.json", {"version": 3, "checkpoint": {"stack": "dev"}})
    assert load([path]).tables == ()


def test_a_checkpoint_from_before_checkpoints_were_versioned_is_read(tmp_path: Path) -> None:
    deployment = sentinel_export()["deployment"]
    path = write_json(tmp_path / "s.json", {"stack": "dev", "latest": deployment})
    assert load([path]).find("sentinel-sessions", REGION, ACCOUNT) is not None


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_every_deployment_version_pulumi_reads_is_read(tmp_path: Path, version: int) -> None:
    export = sentinel_export(version=version)
    if version == 4:
        export["features"] = ["refreshBeforeUpdate", "views"]
    for document in (export, checkpoint(export)):
        path = write_json(tmp_path / "s.json", document)
        assert load([path]).find("sentinel-requests", REGION, ACCOUNT) is not None


def test_the_cli_reads_state_without_importing_pulumi_so_it_starts_fast() -> None:
    code = "import sys, remediation.cli; print(sorted(m for m in sys.modules if 'pulumi' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['remediation.pulumi_state']"


def test_the_policies_judge_exactly_the_types_the_cli_defers_to() -> None:
    from remediation import pulumi_policies

    assert pulumi_policies.RESOURCE_TYPES is pulumi_state.RESOURCE_TYPES


# -- errors ------------------------------------------------------------------------------------


def export_with(**changes: Any) -> dict[str, Any]:
    export = sentinel_export()
    export.update(changes)
    return export


BAD_DOCUMENTS: list[tuple[str, Any, str]] = [
    ("array", [sentinel_export()], "not a Pulumi deployment (not a JSON object)"),
    ("neither shape", {"version": 3, "stack": "dev"}, 'with "version" and "deployment"'),
    ("terraform state", {"version": 4, "terraform_version": "1.9.0", "resources": []}, "expected"),
    ("too new", export_with(version=5), "deployment version 5 is not supported"),
    ("too old", export_with(version=0), "deployment version 0 is not supported"),
    ("string version", export_with(version="3"), "its version is not an integer"),
    ("unknown feature", export_with(version=4, features=["quantum"]), "not know: quantum"),
    ("deployment not an object", export_with(deployment=[]), "deployment is not an object"),
    (
        "resources not a list",
        export_with(deployment={"manifest": {}, "resources": {"a": 1}}),
        "resources is not a list",
    ),
    (
        "resource without urn",
        export_with(deployment={"resources": [{"type": "aws:dynamodb/table:Table"}]}),
        "resources[0] is not a resource",
    ),
    (
        "checkpoint not an object",
        {"version": 3, "checkpoint": "dev"},
        "checkpoint is not an object",
    ),
    (
        "checkpoint too new",
        {"version": 7, "checkpoint": {"stack": "dev", "latest": {}}},
        "deployment version 7 is not supported",
    ),
]


def assert_one_line_naming(error: PulumiStateError, path: Path | str, words: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert words in message
    for secret in (CIPHERTEXT, SECRET_PLAINTEXT, "salt"):
        assert secret not in message


@pytest.mark.parametrize(
    ("document", "words"),
    [(document, words) for _, document, words in BAD_DOCUMENTS],
    ids=[case for case, _, _ in BAD_DOCUMENTS],
)
def test_a_document_that_is_not_a_supported_deployment_is_refused_in_one_line(
    tmp_path: Path, document: Any, words: str
) -> None:
    path = write_json(tmp_path / "state.json", document)
    with pytest.raises(PulumiStateError) as caught:
        load([path])
    assert_one_line_naming(caught.value, path, words)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"version": 3, "deployment": {"resources": [', "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"version": 3, "deployment": {"caf\xe9": 1}}', "not valid JSON (not UTF-8 text)"),
        (b"\x1f\x8b\x08\x00 truncated", "not a valid gzip file"),
        (b"version: 3\ndeployment: {}\n", "not valid JSON"),
    ],
    ids=["truncated", "empty", "latin-1", "broken gzip", "yaml"],
)
def test_a_file_that_is_not_json_is_refused_in_one_line(
    tmp_path: Path, content: bytes, words: str
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(PulumiStateError) as caught:
        load([path])
    assert_one_line_naming(caught.value, path, words)


def test_a_broken_state_never_quotes_its_secrets(tmp_path: Path) -> None:
    text = json.dumps(sentinel_export())
    secret = json.dumps({SIG: SECRET, "plaintext": json.dumps(SECRET_PLAINTEXT)})
    path = tmp_path / "state.json"
    path.write_text(text.replace('"sentinel-exports-5d1e2f3"}', secret + ",,}", 1))
    with pytest.raises(PulumiStateError) as caught:
        load([path])
    assert_one_line_naming(caught.value, path, "not valid JSON")


@pytest.mark.parametrize(
    ("arrange", "words"),
    [
        ("missing", "no such file or folder"),
        ("empty folder", "no Pulumi state here"),
        ("no stacks yet", "no stack state"),
        ("zstd", "zstd-compressed state cannot be read here"),
    ],
)
def test_a_path_that_holds_no_readable_state_is_refused_in_one_line(
    tmp_path: Path, arrange: str, words: str
) -> None:
    path = tmp_path / "state"
    if arrange == "empty folder":
        path.mkdir()
    elif arrange == "no stacks yet":
        (path / ".pulumi/stacks").mkdir(parents=True)
        (path / ".pulumi/stacks/dev.json.bak").write_text("{}")
    elif arrange == "zstd":
        (path / ".pulumi/stacks" / PROJECT).mkdir(parents=True)
        (path / ".pulumi/stacks" / PROJECT / "dev.json.zst").write_bytes(b"(\xb5/\xfd")
    with pytest.raises(PulumiStateError) as caught:
        load([path])
    message = str(caught.value)
    assert "\n" not in message and words in message and str(tmp_path) in message


@pytest.mark.parametrize("url", ["s3://acme-pulumi-state", "https://api.pulumi.com"])
def test_a_backend_url_other_than_file_says_to_export_the_stack(url: str) -> None:
    with pytest.raises(PulumiStateError) as caught:
        load([url])
    message = str(caught.value)
    assert message.startswith(f"{url}: only file:// backends are read here")
    assert "pulumi stack export --stack NAME --file FILE" in message


def test_the_first_bad_path_stops_the_load_even_after_good_ones(tmp_path: Path) -> None:
    good = write_json(tmp_path / "good.json", sentinel_export())
    bad = write_json(tmp_path / "bad.json", {"hello": "world"})
    with pytest.raises(PulumiStateError, match=r"bad\.json"):
        load([good, bad])


def test_urns_of_other_stacks_and_projects_name_their_stack(tmp_path: Path) -> None:
    resource = table("t", "sentinel-t", stack="staging")
    resource["urn"] = urn("aws:dynamodb/table:Table", "t", "staging")
    [managed] = load([write_json(tmp_path / "s.json", with_resources(resource))]).tables
    assert managed.stack == "staging"
