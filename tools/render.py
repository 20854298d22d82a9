"""Offline render: what `pulumi up` would apply for a committed stack, as files.

    python -m tools.render --stack dev --out build/dev

writes
    <out>/resources.json         every declared resource: type, name, parent, inputs
    <out>/config/<service>/...   every config file exactly as that service receives it
    <out>/manifests/*.yaml       (kubernetes) every object as it would be applied

Every secret value is replaced by "[secret]"; the tool prints only paths, counts and key
names. A secret value shorter than 4 characters (an empty one included) is masked wherever
Pulumi marks it secret but not searched for in text, where it would match inside other words;
the tool names such keys. The output directory is replaced whole, never left half-written.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.platform.docker import LABEL_CONFIG_DIR, LABEL_SERVICE, SECRET_DIR
from components.platform.kubernetes import ANNOTATION_CONFIG_DIR, ANNOTATION_RENDER_VISIBLE, ANNOTATION_SERVICE
from tools.mockrun import MARKER, MIN_SEARCHED_SECRET, Resource, Run, mask, run_program, searched_secrets, unwrap


def masked_inputs(run: Run, resource: Resource) -> dict[str, Any]:
    """A resource's inputs with every secret replaced by the marker.

    Beyond mask(): a container upload under a secrets/ directory is a secret file, whatever
    its value (the dev default password included).
    """
    inputs = mask(resource.inputs, run.secrets)
    if resource.type == "docker:index/container:Container":
        for upload in inputs.get("uploads") or []:
            if SECRET_DIR in str(upload.get("file", "")):
                upload["content"] = MARKER
    return inputs


def resources_document(run: Run) -> list[dict[str, Any]]:
    rows = [
        {
            "type": r.type,
            "name": r.name,
            "parent": r.parent,
            "inputs": masked_inputs(run, r),
        }
        for r in run.resources
    ]
    return sorted(rows, key=lambda row: (row["type"], row["name"]))


def docker_config_files(run: Run) -> dict[str, str]:
    """{config/<service>/<path>: text} from the uploads of every container. Paths are the
    program's own (never secret): they are taken unmasked, so a secret whose value is also a
    word of a path cannot bend the layout."""
    out: dict[str, str] = {}
    for container in run.of_type("docker:index/container:Container"):
        labels = {item["label"]: item["value"] for item in unwrap(container.inputs.get("labels") or [])}
        service = labels.get(LABEL_SERVICE)
        root = labels.get(LABEL_CONFIG_DIR, "").rstrip("/")
        if not service:
            continue
        raw = unwrap(container.inputs.get("uploads") or [])
        for source, upload in zip(raw, masked_inputs(run, container).get("uploads") or [], strict=True):
            path = str(source["file"])
            rel = path[len(root) + 1 :] if root and path.startswith(root + "/") else path.lstrip("/")
            out[f"config/{service}/{rel}"] = str(upload.get("content", ""))
    return out


def _manifest(run: Run, resource: Resource) -> dict[str, Any]:
    """A kubernetes object as it would be applied; Secret values masked unless the Secret
    names them render-visible (web configs that hold only bcrypt hashes and paths)."""
    doc = mask(resource.inputs, run.secrets)
    if doc.get("kind") == "Secret":
        annotations = (doc.get("metadata") or {}).get("annotations") or {}
        visible = set(filter(None, str(annotations.get(ANNOTATION_RENDER_VISIBLE, "")).split(",")))
        for field in ("stringData", "data"):
            values = unwrap(doc.get(field) or {})
            if values:
                doc[field] = {key: (value if key in visible else MARKER) for key, value in values.items()}
    return doc


@dataclass(frozen=True)
class KubernetesObject:
    raw: dict[str, Any]  # as declared: for names and paths, which are the program's own
    doc: dict[str, Any]  # masked: what is written


def kubernetes_objects(run: Run) -> list[KubernetesObject]:
    return [
        KubernetesObject(unwrap(r.inputs), _manifest(run, r))
        for r in run.resources
        if r.custom and r.type.startswith("kubernetes:")
    ]


def manifest_files(objects: list[KubernetesObject]) -> dict[str, str]:
    out = {}
    for obj in objects:
        meta = obj.raw.get("metadata") or {}
        scope = meta.get("namespace") or "cluster"
        rel = f"manifests/{scope}_{str(obj.raw.get('kind', '')).lower()}_{meta.get('name', '')}.yaml"
        if rel in out:
            raise SystemExit(f"render: two objects would be written to {rel}")
        out[rel] = yaml.safe_dump(obj.doc, sort_keys=True, default_flow_style=False)
    return out


def kubernetes_config_files(objects: list[KubernetesObject]) -> dict[str, str]:
    """{config/<service>/<path>: text} from the ConfigMaps and Secrets mounted as config."""
    out: dict[str, str] = {}
    for obj in objects:
        doc = obj.doc
        annotations = (obj.raw.get("metadata") or {}).get("annotations") or {}
        service, mount = annotations.get(ANNOTATION_SERVICE), annotations.get(ANNOTATION_CONFIG_DIR)
        if doc.get("kind") not in ("ConfigMap", "Secret") or not service or not mount:
            continue
        values = doc.get("data") if doc.get("kind") == "ConfigMap" else doc.get("stringData")
        root = config_root(service, mount)
        for key, text in (values or {}).items():
            path = f"{mount}/{key.replace('__', '/')}"
            rel = path[len(root) + 1 :] if path.startswith(root + "/") else path.lstrip("/")
            out[f"config/{service}/{rel}"] = str(text)
    return out


def config_root(service: str, mount: str) -> str:
    """The service's config directory: a Secret mounted at <dir>/secrets keeps that prefix."""
    return mount[: -len("/secrets")] if mount.endswith("/secrets") else mount


def render(stack: str, out: Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Render a committed stack into `out`; `overrides` (config key -> value) vary settings
    the way `pulumi config set` would, e.g. for tests.

    The output appears whole or not at all: it is written into a temporary directory beside
    `out` and renamed into place only once every file is written and checked for leaks.
    """
    run = run_program(stack, overrides)
    files: dict[str, str] = {"resources.json": json.dumps(resources_document(run), indent=2, sort_keys=True) + "\n"}
    files.update(docker_config_files(run))
    objects = kubernetes_objects(run)
    files.update(manifest_files(objects))
    files.update(kubernetes_config_files(objects))
    tokens = searched_secrets(run.secrets)
    # A marker is not a leak, even when a secret's value is a part of it.
    leaked = sorted(rel for rel, text in files.items() if any(t in text.replace(MARKER, "\0") for t in tokens))
    if leaked:  # mask() makes this impossible; refuse to write a leak if it ever is not
        raise SystemExit(f"render: secret value found in {', '.join(leaked)}; nothing written")
    write_tree(out, files)
    return {
        "resources": len(run.resources),
        "config_files": sum(1 for rel in files if rel.startswith("config/")),
        "manifests": sum(1 for rel in files if rel.startswith("manifests/")),
        "secrets_masked": sum(text.count(MARKER) for text in files.values()),
        "secrets_not_searched": sorted(key for value, key in run.secrets.items() if value not in tokens),
    }


def write_tree(out: Path, files: Mapping[str, str]) -> None:
    """Write {relative path: text} as the directory `out`, replacing it only when complete."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".new", dir=out.parent))
    previous = staging.with_suffix(".old")
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        if out.exists():
            out.rename(previous)
        try:
            staging.rename(out)
        except OSError:
            if previous.exists():
                previous.rename(out)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(previous, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="committed stack to render, e.g. dev or prod")
    parser.add_argument("--out", required=True, type=Path, help="output directory (replaced)")
    args = parser.parse_args(argv)
    if not (Path(__file__).resolve().parent.parent / f"Pulumi.{args.stack}.yaml").exists():
        parser.error(f"no Pulumi.{args.stack}.yaml in the project")
    import pulumi

    try:
        counts = render(args.stack, args.out)
    except pulumi.RunError as error:
        print(f"render: {error}", file=sys.stderr)
        return 1
    print(
        f"rendered stack {args.stack} into {args.out}: {counts['resources']} resources, "
        f"{counts['config_files']} config files, {counts['manifests']} manifests, "
        f"{counts['secrets_masked']} secret values masked"
    )
    if counts["secrets_not_searched"]:
        print(
            f"note: {', '.join(counts['secrets_not_searched'])} shorter than {MIN_SEARCHED_SECRET} characters: "
            "masked where Pulumi marks it secret, not searched for in text"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
