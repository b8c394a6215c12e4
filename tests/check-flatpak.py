#!/usr/bin/env python3
"""Checks the Flatpak manifests without flatpak-builder (the runtime cannot be fetched here):
structure, finish-args policy, pinned sources and that every local path exists."""
import json
import os
import re
import sys

root = sys.argv[1]
flatpak = os.path.join(root, "flatpak")
errors = []


def err(msg):
    errors.append(msg)


def check_sources(manifest_name, module):
    for src in module.get("sources", []):
        kind = src.get("type")
        if kind in ("archive", "file"):
            if not re.match(r"^https?://", src.get("url", "")):
                err(f"{manifest_name}: module {module['name']}: {kind} source without a URL")
            if not re.fullmatch(r"[0-9a-f]{64}", src.get("sha256", "")):
                err(f"{manifest_name}: module {module['name']}: {kind} source not pinned by sha256")
        elif kind in ("dir", "patch") or (kind == "file" and "path" in src):
            path = os.path.normpath(os.path.join(flatpak, src["path"]))
            if src["path"] == "cuda-redist":
                # Staged by a script before building the extension; the script must exist.
                if not os.access(os.path.join(flatpak, "stage-cuda-redist.sh"), os.X_OK):
                    err(f"{manifest_name}: cuda-redist needs flatpak/stage-cuda-redist.sh")
            elif not os.path.exists(path):
                err(f"{manifest_name}: module {module['name']}: missing local source {path}")
        else:
            err(f"{manifest_name}: module {module['name']}: unexpected source type {kind}")


def check_modules(name, manifest):
    modules = manifest.get("modules")
    if not isinstance(modules, list) or not modules:
        err(f"{name}: no modules")
        return
    for m in modules:
        if not isinstance(m, dict) or "name" not in m or "buildsystem" not in m:
            err(f"{name}: module without name or buildsystem: {m!r:.80}")
            continue
        if m["buildsystem"] not in ("meson", "cmake", "cmake-ninja", "autotools", "simple"):
            err(f"{name}: module {m['name']}: unknown buildsystem {m['buildsystem']}")
        check_sources(name, m)


app_name = "io.github.hartstudio.HartStudio.json"
with open(os.path.join(flatpak, app_name)) as f:
    app = json.load(f)
if app.get("id") != "io.github.hartstudio.HartStudio":
    err("app manifest: wrong id")
if app.get("runtime") != "org.gnome.Platform" or app.get("sdk") != "org.gnome.Sdk":
    err("app manifest: must build against org.gnome.Platform / org.gnome.Sdk")
if not re.fullmatch(r"\d+", str(app.get("runtime-version", ""))):
    err("app manifest: runtime-version must be a GNOME release number")
if app.get("command") != "hart-studio":
    err("app manifest: command must be hart-studio")
args = app.get("finish-args", [])
for required in ("--share=ipc", "--socket=wayland", "--socket=fallback-x11", "--device=dri"):
    if required not in args:
        err(f"app manifest: finish-args lacks {required}")
for a in args:
    if a.startswith("--filesystem=") and any(x in a for x in ("home", "host")):
        err(f"app manifest: home/host access is not allowed ({a}); use portals")
    if a == "--device=all":
        err("app manifest: --device=all is broader than needed; --device=dri grants nvidia-uvm")
if "io.github.hartstudio.HartStudio.Cuda" not in app.get("add-extensions", {}):
    err("app manifest: the optional CUDA extension point is not declared")
check_modules(app_name, app)
if app["modules"][-1].get("name") != "hart-studio":
    err("app manifest: the last module must be hart-studio")

ext_name = "io.github.hartstudio.HartStudio.Cuda.json"
with open(os.path.join(flatpak, ext_name)) as f:
    ext = json.load(f)
if not ext.get("build-extension"):
    err("CUDA extension manifest: build-extension must be true")
if ext.get("runtime") != app["id"]:
    err("CUDA extension manifest: runtime must be the app")
check_modules(ext_name, ext)
if not os.path.exists(os.path.join(flatpak, "README.md")):
    err("flatpak/README.md is missing")

for e in errors:
    print("FAIL:", e)
print(f"checked {app_name} and {ext_name}: {len(errors)} problem(s)")
sys.exit(1 if errors else 0)
