"""The layout's rules, read from the source (every import statement, at any depth of a module):
the CRM uses only the pipeline's public surface (its services, selectors, serializers and
models), never its API layer or its internals; the pipeline never imports the CRM."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("huntaze", "onlyfans", "crm")


def _modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module that `import name` loads (a name inside a module is that module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    """Imports under `if TYPE_CHECKING:` never run."""
    skipped: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(ast.walk(child))
    return skipped


def imports_of(module: str) -> set[str]:
    """The project modules `module` imports, at the top or inside a function."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    skipped = _type_checking_only(tree)
    found: set[str | None] = set()
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(_resolve(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                # `from crm import imports` loads the subpackage; `from crm.x import f` loads crm.x.
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else _resolve(base))
    found.discard(None)
    found.discard(module)
    return found  # type: ignore[return-value]


# The pipeline's public surface: what the CRM may import of it. Its API layer, and its
# internals (pacing, delivery, bulk, the scheduler…), are reached through these only.
PIPELINE_SURFACE = frozenset(
    {"onlyfans.services", "onlyfans.selectors", "onlyfans.serializers", "onlyfans.models"}
)


def _pipeline_imports(module: str) -> set[str]:
    return {target for target in imports_of(module) if target.split(".")[0] == "onlyfans"}


def test_the_crm_imports_only_the_pipelines_public_surface():
    crm_modules = [module for module in MODULES if module.startswith("crm")]
    offenders = {
        module: sorted(_pipeline_imports(module) - PIPELINE_SURFACE) for module in crm_modules
    }
    assert {module: targets for module, targets in offenders.items() if targets} == {}
    # The scan sees the CRM's imports of the pipeline (the rule is not passing on an empty set),
    # those inside a function included: crm.admin imports the pipeline's models in a method.
    used = set().union(*(_pipeline_imports(module) for module in crm_modules))
    assert used == PIPELINE_SURFACE
    assert "onlyfans.models" in _pipeline_imports("crm.admin")


def test_the_pipeline_never_imports_the_crm():
    offenders = {
        module: sorted(target for target in imports_of(module) if target.split(".")[0] == "crm")
        for module in MODULES
        if module.startswith("onlyfans")
    }
    assert {module: targets for module, targets in offenders.items() if targets} == {}


def test_the_scan_sees_an_import_inside_a_function():
    # The scan itself: crm.tasks imports the campaign services inside its task bodies.
    assert "crm.campaigns.services" in imports_of("crm.tasks")


def test_the_shared_core_imports_no_app():
    offenders = {
        module: sorted(
            target for target in imports_of(module) if not target.startswith("huntaze.core")
        )
        for module in MODULES
        if module.startswith("huntaze.core")
    }
    assert {module: targets for module, targets in offenders.items() if targets} == {}


def _cycles() -> list[list[str]]:
    """The strongly connected components of the import graph that hold more than one module."""
    graph = {module: imports_of(module) for module in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan; the graph is a few hundred modules deep at most
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    return cycles


def test_no_two_project_modules_import_each_other():
    assert _cycles() == []


def test_every_task_queued_by_name_is_registered():
    import re

    from huntaze.celery import app

    queued = {
        name
        for path in MODULES.values()
        for name in re.findall(r'task_enqueue\(\s*"([^"]+)"', path.read_text())
    }
    assert queued  # the scan finds the calls
    __import__("crm.tasks")
    __import__("onlyfans.tasks")
    assert queued <= set(app.tasks)


def _is_api_module(module: str) -> bool:
    return module in ("onlyfans.apis", "crm.apis") or module.startswith("crm.apis.")


def test_commands_and_tasks_call_services_not_api_modules():
    interfaces = [
        module
        for module in MODULES
        if ".management.commands." in module or module.endswith(".tasks")
    ]
    assert "crm.management.commands.import_fans_csv" in interfaces
    offenders = {
        module: sorted(filter(_is_api_module, imports_of(module))) for module in interfaces
    }
    assert {module: targets for module, targets in offenders.items() if targets} == {}


def test_pages_call_services_and_selectors_not_api_modules():
    # A page and an API view are two interfaces over the same core: what both need (a serializer,
    # a selector, a service) lives in the core, not in one of them.
    pages = [module for module in MODULES if module.startswith("crm.ui.")]
    assert "crm.ui.campaigns" in pages
    offenders = {module: sorted(filter(_is_api_module, imports_of(module))) for module in pages}
    assert {module: targets for module, targets in offenders.items() if targets} == {}


def test_selectors_raise_the_applications_error_type_not_drfs():
    # huntaze.core.errors.NotFound / InvalidInput answer the same JSON as DRF's exceptions, and
    # a page view can catch them without knowing about DRF.
    selector_modules = [module for module in MODULES if module.rpartition(".")[2] == "selectors"]
    assert len(selector_modules) >= 4
    offenders = {}
    for module in selector_modules:
        tree = ast.parse(MODULES[module].read_text())
        drf = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("rest_framework.exceptions")
        ]
        if drf:
            offenders[module] = drf
    assert offenders == {}


def test_the_architecture_map_names_only_real_code_and_tests():
    """docs/architecture.md cites functions as `onlyfans.scheduler.claim_next` and tests as
    `tests/…/test_x.py::test_name`: each one must exist, so the map cannot drift from the code."""
    import importlib
    import re

    text = (ROOT / "docs" / "architecture.md").read_text()
    names = set(re.findall(r"`((?:huntaze|onlyfans|crm)(?:\.\w+)+)`", text))
    tests = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text))
    assert len(names) > 30 and len(tests) > 10  # the patterns still match the document
    missing = []
    for name in sorted(names):
        parts = name.split(".")
        # The longest importable prefix is the module; the rest are attributes in it.
        for cut in range(len(parts), 0, -1):
            try:
                target = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            try:
                for attribute in parts[cut:]:
                    target = getattr(target, attribute)
            except AttributeError:
                missing.append(name)
            break
        else:
            missing.append(name)
    for path, test in sorted(tests):
        source = (ROOT / path).read_text() if (ROOT / path).exists() else ""
        if not re.search(rf"^def {test}\(", source, re.MULTILINE):
            missing.append(f"{path}::{test}")
    assert missing == []
