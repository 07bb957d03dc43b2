"""The house rules of `llms/`: recipes ask models what they can do (never their class names), no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
LOCAL_BACKEND = {"llms/local.py", "llms/local_common.py", "llms/local_llm.py", "llms/registry.py", "llms/__init__.py"}
OPENAI_BACKEND = {"llms/openai_backend.py", "llms/openai_chat_model.py", "llms/openai_completions_model.py"}
BACKEND_CLASSES = ("LocalChatModel", "LocalLLM", "RecipesChatOpenAI", "RecipesOpenAI", "BaseChatOpenAI",
                   "ChatHuggingFace", "HuggingFacePipeline")


def _python_files(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def test_no_module_outside_the_backends_names_a_backend_class_or_sys_modules() -> None:
    offenders = []
    for path in _python_files("llms", "chains", "apps", "parsers", "prompts"):
        rel = path.relative_to(ROOT).as_posix()
        if rel in LOCAL_BACKEND or rel in OPENAI_BACKEND or rel.startswith("llms/engines/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
            if name in BACKEND_CLASSES or (isinstance(node, ast.Constant) and node.value in BACKEND_CLASSES):
                offenders.append(f"{rel}:{node.lineno} {name or node.value}")  # type: ignore[attr-defined]
            if isinstance(node, ast.Attribute) and node.attr == "modules" and getattr(node.value, "id", "") == "sys":
                offenders.append(f"{rel}:{node.lineno} sys.modules")
    assert offenders == []


def _imports(path: Path, module: str) -> set[str]:
    """Every llms.* module `path` imports, at module level or inside functions (lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.startswith("llms.") and m != module}


def test_no_import_cycle_in_llms() -> None:
    modules = {}
    for path in _python_files("llms"):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        modules[name] = path
    graph = {name: _imports(path, name) & set(modules) for name, path in modules.items() if name != "llms"}
    assert "llms.local" in graph and graph["llms.registry"]  # the walk found the package

    def cycle_from(start: str) -> list[str] | None:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    return [*trail, nxt]
                if nxt not in trail:
                    stack.append((nxt, [*trail, nxt]))
        return None

    cycles = [c for c in (cycle_from(m) for m in graph) if c]
    assert cycles == []
