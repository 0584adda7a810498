"""Fixtures of the deployment tests: the Helm-compatible renderer
(test/deploy/render, Go + sprig from Debian) built once per session."""

import json
import os
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELM = os.path.join(ROOT, "helm")
RENDER_SRC = os.path.join(ROOT, "test", "deploy", "render")
RENDER_BIN = os.path.join(ROOT, "build", "deploy", "helm-render")


def build_renderer():
    """Builds helm-render offline in GOPATH mode from Debian's golang-*-dev
    packages (/usr/share/gocode): no module proxy is contacted."""
    src = os.path.join(RENDER_SRC, "main.go")
    if os.path.exists(RENDER_BIN) and os.path.getmtime(RENDER_BIN) >= os.path.getmtime(src):
        return RENDER_BIN
    os.makedirs(os.path.dirname(RENDER_BIN), exist_ok=True)
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOPROXY="off",
               GOFLAGS="", CGO_ENABLED="0",
               GOCACHE=os.path.join(ROOT, "build", "deploy", "gocache"))
    res = subprocess.run(["go", "build", "-o", RENDER_BIN, "."], cwd=RENDER_SRC, env=env,
                         capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        raise RuntimeError("building helm-render failed (make deps installs golang-go and "
                           "the golang-*-dev packages):\n" + res.stderr)
    return RENDER_BIN


class RenderError(Exception):
    pass


class Renderer:
    def __init__(self, binary):
        self.binary = binary

    def __call__(self, chart, values=(), sets=(), name=None, namespace="mcp-shared"):
        """Renders helm/<chart> (or a chart directory) like `helm template`.
        Returns {"manifests": {file: text}, "notes": text, "values": {...},
        "objects": [parsed documents]}."""
        path = chart if os.path.isabs(chart) else os.path.join(HELM, chart)
        argv = [self.binary, "--name", name or os.path.basename(path), "--namespace", namespace]
        for v in values:
            argv += ["-f", v]
        for s in sets:
            argv += ["--set", s]
        argv.append(path)
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise RenderError(res.stderr.strip())
        out = json.loads(res.stdout)
        objects = []
        for fname in sorted(out["manifests"]):
            for doc in yaml.safe_load_all(out["manifests"][fname]):
                if doc is not None:
                    doc["__file__"] = fname
                    objects.append(doc)
        out["objects"] = objects
        return out


@pytest.fixture(scope="session")
def render():
    return Renderer(build_renderer())
