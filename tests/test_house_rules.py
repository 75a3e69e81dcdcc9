"""House rules that review would otherwise have to catch, checked on every run."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

CODE_DIRS = ("suites", "decoder_conformance", "reference_device", "wire", "tests", "benchmarks")


def sources(*dirs: str) -> list[Path]:
    return [p for d in dirs for p in sorted((ROOT / d).rglob("*.py")) if ".venv" not in p.parts]


def hits(pattern: str, *dirs: str, allow: tuple[str, ...] = ()) -> list[str]:
    regex = re.compile(pattern)
    found = []
    for path in sources(*dirs):
        rel = path.relative_to(ROOT).as_posix()
        if rel in allow:
            continue
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if regex.search(line) and not line.lstrip().startswith("#"):
                found.append(f"{rel}:{number}: {line.strip()}")
    return found


def test_skips_come_only_from_the_profile_gate() -> None:
    found = hits(r"pytest\.skip\(|mark\.skipif|importorskip", "suites")
    assert not found, "suites may only skip through @needs (the profile gate):\n" + "\n".join(found)


def test_suites_and_harness_never_import_the_reference_decoder() -> None:
    found = hits(r"^\s*(from|import)\s+reference_device", "suites", "decoder_conformance")
    assert not found, (
        "start it as a process through decoder_conformance/device/target.py instead:\n"
        + "\n".join(found)
    )


def test_no_private_range_addresses_in_code() -> None:
    pattern = r"\b(192\.168\.\d+\.\d+|10\.\d+\.\d+\.\d+|172\.(1[6-9]|2\d|3[01])\.\d+\.\d+)\b"
    found = hits(pattern, *CODE_DIRS, allow=("tests/test_house_rules.py",))
    assert not found, "tests may only target 127.0.0.1 or a --device URL:\n" + "\n".join(found)


@pytest.mark.parametrize("folder", ["suites", "decoder_conformance", "tests"])
def test_no_sleeps_outside_the_deadline_poller(folder: str) -> None:
    # Media pacing (frame i leaves at start + i/fps) is a schedule, not a settle delay: allowed
    # where the line says so.
    found = [
        hit
        for hit in hits(
            r"\b(time|asyncio)\.sleep\(", folder, allow=("decoder_conformance/waiting.py",)
        )
        if "pacing" not in hit
    ]
    assert not found, (
        "wait on an event or poll with decoder_conformance.waiting instead:\n" + "\n".join(found)
    )


# --- layering: arrows only point down ------------------------------------------------------------

#: Layers of the harness, lowest first. A module may import its own layer or a lower one, never a
#: sibling on the same rank (peers and report, device and media) and never a higher one.
LAYER_RANK = {
    "failures": 0,
    "netns": 0,  # the loopback-only namespace runs are made in (imports no project module)
    "contract": 1,
    "waiting": 2,
    "device": 3,
    "media": 3,
    "peers": 4,
    "report": 4,
    "plugin": 5,
}
PROJECT_PACKAGES = (
    "decoder_conformance",
    "reference_device",
    "wire",
    "suites",
    "tests",
    "benchmarks",
)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in `path`, relative imports resolved against its package."""
    tree = ast.parse(path.read_text("utf-8"))
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # `from decoder_conformance import media` names a layer too.
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def layer_of(module: str) -> str | None:
    """The harness layer of a dotted module name (None for the package root and non-harness)."""
    parts = module.split(".")
    if parts[0] != "decoder_conformance" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYER_RANK else None


def test_every_harness_module_is_in_a_known_layer() -> None:
    strays = [
        p.relative_to(ROOT).as_posix()
        for p in sources("decoder_conformance")
        if p.name != "__init__.py" or p.parent.name != "decoder_conformance"
        if layer_of(".".join(p.relative_to(ROOT).with_suffix("").parts)) is None
    ]
    assert not strays, f"modules outside the layers {sorted(LAYER_RANK)}: {strays}"


def test_harness_imports_point_down_only() -> None:
    found = []
    for path in sources("decoder_conformance"):
        own = layer_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
        if own is None:
            continue
        for line, module in imports_of(path):
            other = layer_of(module)
            outside = module.split(".")[0] in ("reference_device", "suites", "tests", "benchmarks")
            upward = other is not None and other != own and LAYER_RANK[other] >= LAYER_RANK[own]
            if outside or upward:
                found.append(f"{path.relative_to(ROOT)}:{line}: {own} imports {module}")
    assert not found, "imports that point sideways or up:\n" + "\n".join(sorted(set(found)))


@pytest.mark.parametrize(
    ("folder", "allowed"),
    [
        ("wire", ()),
        ("reference_device", ("wire",)),
        ("suites", ("decoder_conformance", "wire")),
        ("benchmarks", ("decoder_conformance", "wire")),
    ],
)
def test_outer_packages_import_only_what_they_may(folder: str, allowed: tuple[str, ...]) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sources(folder)
        for line, module in imports_of(path)
        if module.split(".")[0] in PROJECT_PACKAGES
        and module.split(".")[0] not in (folder, *allowed)
    ]
    assert not found, f"{folder}/ may import only {allowed or 'no project package'}:\n" + "\n".join(
        found
    )


def test_benchmarks_do_not_import_the_pytest_plugin() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sources("benchmarks")
        for line, module in imports_of(path)
        if layer_of(module) == "plugin"
    ]
    assert not found, "benchmarks use the library layers, not the plugin:\n" + "\n".join(found)


# --- pytest belongs to plugin/ only; harness invariants are not device failures -------------------


def _is_pytest_api(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    text = ast.unparse(target)
    return text.startswith(("pytest.fixture", "pytest.hookimpl", "fixture", "hookimpl"))


def test_no_pytest_hook_or_fixture_outside_the_plugin() -> None:
    found = []
    for path in sources("decoder_conformance"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("decoder_conformance/plugin/"):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
                node.name.startswith("pytest_") or any(map(_is_pytest_api, node.decorator_list))
            ):
                found.append(f"{rel}:{node.lineno}: {node.name}")
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in node.targets
            ):
                found.append(f"{rel}:{node.lineno}: pytest_plugins")
    assert not found, "hooks and fixtures live in decoder_conformance/plugin/:\n" + "\n".join(found)


def test_library_imports_pytest_only_for_types() -> None:
    found = []
    for path in sources("decoder_conformance"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("decoder_conformance/plugin/"):
            continue
        tree = ast.parse(path.read_text("utf-8"))
        guarded = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
            for inner in ast.walk(node)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in guarded:
                names = (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                )
                if any((name or "").split(".")[0] in ("pytest", "_pytest") for name in names):
                    found.append(f"{rel}:{node.lineno}")
    assert not found, "only plugin/ imports pytest at run time:\n" + "\n".join(found)


def test_no_bare_assert_in_the_library() -> None:
    # An assert in harness code would report a suite bug as a device defect (AssertionError ->
    # failed) and vanish under python -O: raise NotExercised (failures.harness_check) instead.
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:80]}"
        for path in sources("decoder_conformance", "wire")
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        if isinstance(node, ast.Assert)
    ]
    assert not found, "bare asserts in library code:\n" + "\n".join(found)


def test_suite_module_names_are_unique() -> None:
    # suites/ folders are not packages: pytest imports each case module by its basename, so two
    # test_x.py in two areas collide ("import file mismatch") in a run that collects both.
    seen: dict[str, list[str]] = {}
    for path in sources("suites"):
        if path.name.startswith("test_"):
            seen.setdefault(path.name, []).append(path.relative_to(ROOT).as_posix())
    repeated = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not repeated, f"suite modules must have unique names: {repeated}"
