"""The ``provisioner`` command: a thin shell over ModelProvisioner."""

from ._main import cli, main

__all__ = ["cli", "main"]
