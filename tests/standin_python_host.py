"""A test double for `pulumi-language-python`, Pulumi's Python language host.

The real host is a Go program in its own module (sdk/python/cmd/pulumi-language-python/v3) that
the Go module proxy here refuses to serve (see docs/pulumi-cli.md), so the real `pulumi` CLI
built from tools/pulumi/ is given this stand-in, installed by the tests into a temporary plugin
cache. It does what the real host does for `preview`, `up`, `destroy` and policy packs, and no
more: it runs the program with the real `pulumi-language-python-exec` script that ships in the
sdk/v3 module (copied next to the built `pulumi`), and a Python policy pack as
`python -u -m pulumi.policy <engine> <pack dir>` in the pack's folder, each with the virtualenv
named in Pulumi.yaml / PulumiPolicy.yaml. Nothing in remediation/ or policy_pack/ knows of it.

The CLI starts it as `pulumi-language-python <engine address>`; it answers with its port.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

VERSION = "3.274.1"
"""The host version the real one would report: the release the CLI is built from."""

USER_ACTIONABLE_EXIT = 32
"""pulumi-language-python-exec's exit code after it printed an error the user can act on."""


def _python(info: Any) -> str:
    """The interpreter of the virtualenv the project or pack names, else this one."""
    options = json_format.MessageToDict(info.options) if info.HasField("options") else {}
    venv = options.get("virtualenv")
    if not venv:
        return sys.executable
    root = Path(info.root_directory or info.program_directory)
    return str((root / venv / "bin" / "python").absolute())


def _exec_script() -> str:
    script = shutil.which("pulumi-language-python-exec")
    if script is None:
        raise RuntimeError("pulumi-language-python-exec is not on PATH (next to pulumi)")
    return script


class Host(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, engine: str) -> None:
        self.engine = engine

    def Handshake(self, request: Any, context: Any) -> Any:
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request: Any, context: Any) -> Any:
        return plugin_pb2.PluginInfo(version=VERSION)

    def _packages(self) -> list[tuple[str, str]]:
        """(name, version) of each resource plugin an installed Pulumi package asks for."""
        found = []
        for dist in importlib.metadata.distributions():
            for file in dist.files or ():
                if file.name == "pulumi-plugin.json":
                    data = json.loads(Path(str(file.locate())).read_text())
                    if data.get("resource") and data.get("name"):
                        found.append((data["name"], data.get("version", "")))
        return found

    def GetRequiredPlugins(self, request: Any, context: Any) -> Any:
        plugins = [
            plugin_pb2.PluginDependency(name=name, kind="resource", version=version)
            for name, version in self._packages()
        ]
        return language_pb2.GetRequiredPluginsResponse(plugins=plugins)

    def GetRequiredPackages(self, request: Any, context: Any) -> Any:
        packages = [
            plugin_pb2.PackageDependency(name=name, kind="resource", version=version)
            for name, version in self._packages()
        ]
        return language_pb2.GetRequiredPackagesResponse(packages=packages)

    def GetProgramDependencies(self, request: Any, context: Any) -> Any:
        return language_pb2.GetProgramDependenciesResponse()

    def InstallDependencies(self, request: Any, context: Any) -> Iterator[Any]:
        return iter(())  # the project's virtualenv is made by `make`, not by the CLI

    def About(self, request: Any, context: Any) -> Any:
        return language_pb2.AboutResponse(executable=sys.executable, version=sys.version.split()[0])

    def Run(self, request: Any, context: Any) -> Any:
        args = [_python(request.info), "-u", _exec_script()]
        for flag, value in (
            ("monitor", request.monitor_address),
            ("engine", self.engine),
            ("project", request.project),
            ("root_directory", request.info.root_directory),
            ("stack", request.stack),
            ("pwd", request.pwd),
            ("dry_run", "true" if request.dryRun else "false"),
            ("parallel", str(request.parallel)),
            ("organization", request.organization),
        ):
            if value:
                args += [f"--{flag}", value]
        args += [request.info.entry_point or ".", *request.args]
        env = dict(os.environ)
        env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
        env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
        # The program's output goes where the real host sends it: to this process's own streams.
        code = subprocess.run(args, env=env, check=False).returncode
        if code == 0:
            return language_pb2.RunResponse()
        if code == USER_ACTIONABLE_EXIT:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(error=f"program exited with non-zero exit code: {code}")

    def RunPlugin(self, request: Any, context: Any) -> Iterator[Any]:
        if request.kind != "analyzer":
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "the stand-in host runs policy packs only")
        pack = request.info.program_directory
        args = [_python(request.info), "-u", "-m", "pulumi.policy", *request.args, pack]
        env = dict(os.environ)
        env.update(e.split("=", 1) for e in request.env if "=" in e)
        process = subprocess.Popen(
            args, cwd=pack, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stdout is not None and process.stderr is not None
        messages: list[Any] = []
        lock = threading.Condition()

        def pump(stream: Any, field: str) -> None:
            for chunk in iter(lambda: stream.read1(4096), b""):
                with lock:
                    messages.append(language_pb2.RunPluginResponse(**{field: chunk}))
                    lock.notify()
            with lock:
                messages.append(None)
                lock.notify()

        for stream, field in ((process.stdout, "stdout"), (process.stderr, "stderr")):
            threading.Thread(target=pump, args=(stream, field), daemon=True).start()
        ended = 0
        while ended < 2:
            with lock:
                while not messages:
                    lock.wait()
                message = messages.pop(0)
            if message is None:
                ended += 1
            else:
                yield message
        yield language_pb2.RunPluginResponse(exitcode=process.wait())

    def Cancel(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()


def main() -> None:
    engine = sys.argv[-1]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(Host(engine), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    # The CLI interrupts its plugins when it is done with them: stop quietly, as the real ones do.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: server.stop(0))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
