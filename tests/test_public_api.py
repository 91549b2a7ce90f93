"""The public surface: __all__ is honest, and every error maps to one exit code and status."""

from __future__ import annotations

import inspect
import re

import model_provisioner
from model_provisioner import _errors


def test_all_names_exist_and_claim_the_package() -> None:
    for name in model_provisioner.__all__:
        obj = getattr(model_provisioner, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__ == "model_provisioner", name


def test_all_is_exactly_the_lazy_table_and_sorted() -> None:
    lazy = set(model_provisioner._WHERE)
    assert set(model_provisioner.__all__) == lazy | {"__version__"}
    assert model_provisioner.__all__ == sorted(model_provisioner.__all__)
    assert set(dir(model_provisioner)) >= set(model_provisioner.__all__)


def test_types_the_public_methods_return_are_exported() -> None:
    named: set[str] = set()
    for name, member in vars(model_provisioner.ModelProvisioner).items():
        function = member.fget if isinstance(member, property) else member
        if name.startswith("_") or not callable(function):
            continue
        hint = str(inspect.signature(function).return_annotation)
        named |= set(re.findall(r"[A-Z][A-Za-z]+", hint))
    outside = {"AsyncIterator", "None", "Path"}  # typing and the standard library
    assert named - outside <= set(model_provisioner.__all__)
    assert {"RemoteInspection", "RemoteOffers", "SearchHit", "PullPlan"} <= named


def test_every_error_class_is_exported() -> None:
    classes = {
        name
        for name, obj in vars(_errors).items()
        if inspect.isclass(obj) and issubclass(obj, _errors.ProvisionerError)
    }
    assert classes <= set(model_provisioner.__all__)


def test_exit_codes_follow_the_design() -> None:
    expected = {
        "ProvisionerError": 1,
        "InvalidReference": 2,
        "UsageError": 2,
        "ModelNotFound": 3,
        "IntegrityError": 4,
        "MetadataError": 4,
        "DiskSpaceError": 5,
        "AuthError": 6,
        "NetworkError": 1,
        "OfflineError": 1,
        "Cancelled": 1,
    }
    for name, code in expected.items():
        assert getattr(model_provisioner, name).exit_code == code, name


def test_error_codes_are_unique_kebab_case() -> None:
    refs = [
        obj.code
        for obj in vars(_errors).values()
        if inspect.isclass(obj) and issubclass(obj, _errors.ProvisionerError)
    ]
    assert len(refs) == len(set(refs))
    assert all(r == r.lower() and " " not in r for r in refs)
