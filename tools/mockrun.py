"""Run the real Pulumi program for a committed stack under the Pulumi SDK's mock engine.

No Pulumi CLI, provider plugin, Docker engine or cluster is involved: the program runs as it
would under `pulumi up`, and every resource it declares is recorded with its inputs.

Secrets: every config key declared `secret: true` in Pulumi.yaml is given a unique sentinel
value here (committed stack files hold no secrets, and an encrypted value cannot be read
without the CLI). `mask` replaces each sentinel, and every value Pulumi marks secret, with a
marker, so nothing rendered from a mock run can carry a secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import runpy
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402
from pulumi.runtime import mocks as pulumi_mocks  # noqa: E402
from pulumi.runtime import rpc  # noqa: E402

from components.settings import PROJECT, load_schema, required_secrets  # noqa: E402

SENTINEL = "VEGA-MOCK-SECRET-"
MARKER = "[secret]"


def sentinel(key: str) -> str:
    return f"{SENTINEL}{key}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


@dataclass
class Resource:
    type: str
    name: str
    parent: str  # the parent's resource name ("" for the stack's children)
    custom: bool
    inputs: dict[str, Any]
    delete_before_replace: bool = False
    # Resource options the engine acts on between two updates (identity and protection).
    urn: str = ""
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: tuple[str, ...] = ()


@dataclass
class Run:
    stack: str
    resources: list[Resource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # secret value -> config key
    # What the mock `random` provider's values are drawn from: two runs with the same seed get
    # the same values, as two `pulumi up` of one stack do; another seed is another stack.
    random_seed: str = "stack"

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Resource:
        for r in self.resources:
            if r.name == name:
                return r
        raise KeyError(name)


def stack_config(stack: str, overrides: Mapping[str, Any] | None = None) -> tuple[dict[str, str], list[str]]:
    """The raw config Pulumi would hand the program for this stack, with secrets as sentinels.

    `overrides` (key without namespace -> value; None deletes) lets tests vary one setting.
    """
    path = ROOT / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text()) or {}
    raw: dict[str, Any] = {}
    for key, value in (doc.get("config") or {}).items():
        # Project keys by bare name; other namespaces (e.g. docker:host) keep theirs.
        name = key.split(":", 1)[1] if key.startswith(f"{PROJECT}:") else key
        raw[name] = value
    schema = load_schema()
    secret_keys = [name for name, spec in schema.items() if spec.secret]
    for name, value in (overrides or {}).items():
        if value is None:
            raw.pop(name, None)
        else:
            raw[name] = value
    needed = required_secrets(raw)
    for name in secret_keys:
        # A secret the stack file holds (encrypted) or its settings require gets a sentinel;
        # an optional secret the stack leaves unset stays unset, as under the CLI.
        if isinstance(raw.get(name), dict) or (name in needed and name not in raw):
            raw[name] = sentinel(name)
    config: dict[str, str] = {}
    for name, value in raw.items():
        full = name if ":" in name else f"{PROJECT}:{name}"
        config[full] = value if isinstance(value, str) else json.dumps(value)
    secrets = [f"{PROJECT}:{k}" for k in secret_keys if k in raw]
    return config, secrets


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, run: Run):
        self.run = run

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        digest = hashlib.sha256(f"{args.typ}/{args.name}".encode()).hexdigest()
        if args.typ == "docker:index/remoteImage:RemoteImage":
            state["imageId"] = f"sha256:{digest}"
            state["repoDigest"] = f"{_unwrap(args.inputs.get('name'))}@sha256:{digest}"
        if args.typ in ("random:index/randomBytes:RandomBytes", "random:index/randomId:RandomId"):
            # Random per stack (seed) and resource; a RandomId is replaced, so drawn anew,
            # whenever its keepers change.
            length = int(_unwrap(args.inputs.get("length") or args.inputs.get("byteLength")) or 32)
            keepers = json.dumps(unwrap(args.inputs.get("keepers") or {}), sort_keys=True)
            raw = hashlib.shake_256(f"{self.run.random_seed}/{args.name}/{keepers}".encode()).digest(length)
            state["hex"] = raw.hex()
            state["base64"] = state["b64Std"] = base64.b64encode(raw).decode()
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "docker:index/getRegistryImage:getRegistryImage":
            name = str(_unwrap(args.args.get("name")))
            return {"name": name, "sha256Digest": f"sha256:{hashlib.sha256(name.encode()).hexdigest()}"}, []
        return {}, []


class _Monitor(pulumi_mocks.MockMonitor):
    """Records each registration with its parent, in declaration order."""

    def __init__(self, mocks: _Mocks, run: Run):
        super().__init__(mocks)
        self.run = run
        self.names: dict[str, str] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.names[response.urn] = request.name
            inputs = _whole_numbers(rpc.deserialize_properties(request.object))
            self.run.resources.append(
                Resource(
                    type=request.type,
                    name=request.name,
                    parent=self.names.get(request.parent, ""),
                    custom=bool(request.custom),
                    inputs=inputs,
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    urn=response.urn,
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    ignore_changes=tuple(request.ignoreChanges),
                )
            )
        return response


def _whole_numbers(value: Any) -> Any:
    """Pulumi's wire format carries every number as a float; give integers back their type,
    as the engine does for the providers (replicas: 2, not 2.0)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def _unwrap(value: Any) -> Any:
    return rpc.unwrap_rpc_secret(value) if rpc.is_rpc_secret(value) else value


def run_program(stack: str, overrides: Mapping[str, Any] | None = None, into: Run | None = None) -> Run:
    """Run __main__.py for Pulumi.<stack>.yaml under mocks and return what it declared.

    A pulumi.RunError from the program (bad settings) is raised to the caller; `into`, when
    given, holds whatever was declared before it.
    """
    from pulumi.runtime import config as runtime_config
    from pulumi.runtime import settings as runtime_settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    run = into if into is not None else Run(stack=stack)
    config, secret_keys = stack_config(stack, overrides)
    run.secrets = {config[k]: k.split(":", 1)[1] for k in secret_keys}
    runtime_config.set_all_config(config, secret_keys)

    mocks = _Mocks(run)
    monitor = _Monitor(mocks, run)
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    settings = runtime_settings.SETTINGS
    settings.rpc_manager.clear()
    settings.outputs.clear()

    main = str(ROOT / "__main__.py")

    def program() -> None:
        runpy.run_path(main, run_name="__main__")

    _sync_await(run_pulumi_func(program))

    root = runtime_settings.get_root_resource()
    outputs = getattr(root, "outputs", None)
    if outputs is not None:
        run.outputs = _sync_await(_resolve(outputs))
    return run


async def _resolve(value: Any) -> Any:
    if isinstance(value, pulumi.Output):
        return await _resolve(await value.future())
    if isinstance(value, dict):
        return {k: await _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [await _resolve(v) for v in value]
    return value


# A secret value shorter than this is not searched for in text: it would match inside unrelated
# words (an empty value matches between every two characters). Such a value is still masked
# wherever Pulumi marks it secret, which is how every secret reaches a resource.
MIN_SEARCHED_SECRET = 4


def searched_secrets(secrets: Iterable[str]) -> list[str]:
    """The secret values worth searching for in text, longest first (so a value that contains
    another is masked whole)."""
    return sorted({s for s in secrets if len(s) >= MIN_SEARCHED_SECRET}, key=lambda s: (-len(s), s))


def mask(value: Any, secrets: Mapping[str, str]) -> Any:
    """The value with every secret replaced by the marker: secret-wrapped scalars, and any
    string that contains the value of a secret config key (see MIN_SEARCHED_SECRET)."""
    tokens = searched_secrets(secrets)
    pattern = re.compile("|".join(map(re.escape, tokens))) if tokens else None
    return _mask(value, pattern)


def _mask(value: Any, pattern: re.Pattern[str] | None) -> Any:
    if rpc.is_rpc_secret(value):
        inner = rpc.unwrap_rpc_secret(value)
        if isinstance(inner, (dict, list)):
            return _mask(inner, pattern)
        return MARKER
    if isinstance(value, dict):
        return {k: _mask(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, pattern) for v in value]
    if isinstance(value, str) and pattern is not None:
        return pattern.sub(MARKER, value)  # one pass: a marker is never searched again
    return value


def unwrap(value: Any) -> Any:
    """The value with Pulumi's secret wrappers removed (for assertions on structure)."""
    if rpc.is_rpc_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value
