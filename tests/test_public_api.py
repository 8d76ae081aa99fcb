"""The public surface: `__all__` is exact, every public name is documented, the shape holds."""

from __future__ import annotations

import inspect
import re
import types

import pytest

import cutpro_async
from cutpro_async import CutPro, models

#: The resource methods the design names, per client attribute (one per endpoint).
ENDPOINTS = {
    "workspace": ["get"],
    "balance": ["get", "history", "iter_history"],
    "videos": ["list", "iter", "delete", "analyze", "start_upload", "complete_upload"],
    "submissions": ["create", "list", "iter", "get", "delete", "reconcile"],
    "clips": ["list", "iter", "apply_template", "delete"],
    "templates": ["list", "iter"],
    "renders": ["create", "list", "iter", "limits", "get", "download_link", "cancel"],
    "bulk_downloads": ["create", "get"],
    "posts": [
        "create",
        "list",
        "iter",
        "get",
        "update",
        "publish",
        "retry_item",
        "delete_item",
        "delete",
    ],
    "connections": ["list", "iter", "get"],
}
#: Methods that walk pages or reconcile rather than map one endpoint.
HELPERS = {"iter", "iter_history", "reconcile"}


def public_names(module: types.ModuleType) -> set[str]:
    """Names a module exposes without a leading underscore, submodules aside."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }


def undocumented(obj: object, name: str) -> list[str]:
    """`name` and its public methods and properties that lack a docstring."""
    missing = [] if (obj.__doc__ or "").strip() else [name]
    if inspect.isclass(obj):
        for attr, value in vars(obj).items():
            is_member = inspect.isfunction(value) or isinstance(value, property)
            if is_member and not attr.startswith("_") and not (value.__doc__ or "").strip():
                missing.append(f"{name}.{attr}")
    return missing


@pytest.mark.parametrize("module", [cutpro_async, models], ids=lambda m: m.__name__)
def test_all_names_every_public_name_and_nothing_private(module: types.ModuleType) -> None:
    """`__all__` lists each public name once, all importable, none with a leading underscore."""
    exported = list(module.__all__)
    assert len(exported) == len(set(exported))
    assert public_names(module) <= set(exported)
    for name in exported:
        assert hasattr(module, name), name
        assert not name.startswith("_") or (name.startswith("__") and name.endswith("__")), name


def test_star_import_gives_exactly_all() -> None:
    """`from cutpro_async import *` brings in exactly `__all__`."""
    namespace: dict[str, object] = {}
    exec("from cutpro_async import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(cutpro_async.__all__)


@pytest.mark.parametrize("module", [cutpro_async, models], ids=lambda m: m.__name__)
def test_every_public_class_and_function_has_a_docstring(module: types.ModuleType) -> None:
    """Exported classes (with their public methods) and functions are documented."""
    missing: list[str] = []
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            missing += undocumented(value, name)
    assert missing == []
    assert (module.__doc__ or "").strip()


def test_every_endpoint_is_a_documented_method_of_the_client() -> None:
    """Each API group is a client attribute whose named methods exist and are documented."""
    cp = CutPro("cp_test", base_url="http://127.0.0.1:1/api/v1")
    missing: list[str] = []
    for group, methods in ENDPOINTS.items():
        resource = getattr(cp, group)
        missing += undocumented(type(resource), group)
        for method in methods:
            func = getattr(resource, method, None)
            if func is None or not callable(func):
                missing.append(f"{group}.{method} (absent)")
    assert missing == []
    endpoints = [m for group in ENDPOINTS.values() for m in group if m not in HELPERS]
    assert len(endpoints) == 34


def test_version_is_a_release_string() -> None:
    """`__version__` is a plain release number."""
    assert re.fullmatch(r"\d+\.\d+\.\d+([a-z0-9.+-]*)", cutpro_async.__version__)
