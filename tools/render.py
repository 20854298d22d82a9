"""Offline render: what `pulumi up` would apply for a committed stack, as files.

    python -m tools.render --stack dev --out build/dev

writes
    <out>/resources.json         every declared resource: type, name, parent, inputs
    <out>/config/<service>/...   every config file exactly as that service receives it
    <out>/manifests/*.yaml       (kubernetes) every object as it would be applied

Every secret value is replaced by "[secret]"; the tool prints only paths and counts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.platform.docker import LABEL_CONFIG_DIR, LABEL_SERVICE, SECRET_DIR
from tools.mockrun import MARKER, Resource, Run, mask, run_program, unwrap


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
    """{config/<service>/<path>: text} from the uploads of every container."""
    out: dict[str, str] = {}
    for container in run.of_type("docker:index/container:Container"):
        labels = {item["label"]: item["value"] for item in unwrap(container.inputs.get("labels") or [])}
        service = labels.get(LABEL_SERVICE)
        root = labels.get(LABEL_CONFIG_DIR, "").rstrip("/")
        if not service:
            continue
        for upload in masked_inputs(run, container).get("uploads") or []:
            path = str(upload["file"])
            rel = path[len(root) + 1 :] if root and path.startswith(root + "/") else path.lstrip("/")
            out[f"config/{service}/{rel}"] = str(upload.get("content", ""))
    return out


def render(stack: str, out: Path, overrides: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Render a committed stack into `out`; `overrides` (config key -> value) vary settings
    the way `pulumi config set` would, e.g. for tests."""
    run = run_program(stack, overrides)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    files: dict[str, str] = {"resources.json": json.dumps(resources_document(run), indent=2, sort_keys=True) + "\n"}
    files.update(docker_config_files(run))
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    leaked = [rel for rel, text in files.items() if any(token in text for token in run.secrets)]
    if leaked:  # mask() makes this impossible; refuse to leave a leak on disk if it ever is not
        shutil.rmtree(out)
        raise SystemExit(f"render: secret value found in {', '.join(leaked)}; output removed")
    return {
        "resources": len(run.resources),
        "config_files": sum(1 for rel in files if rel.startswith("config/")),
        "manifests": sum(1 for rel in files if rel.startswith("manifests/")),
        "secrets_masked": sum(text.count(MARKER) for text in files.values()),
    }


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
