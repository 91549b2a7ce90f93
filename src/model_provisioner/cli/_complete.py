"""Shell completion of a REFERENCE argument: installed entries (by the name ``list`` shows)
and aliases, as ``ollama run <TAB>`` would offer models. Runs on every TAB, so it reads only
the catalog and the alias file, and a store that cannot be read completes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem


def references(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from click.shell_completion import CompletionItem

    from .._aliases import SEED, load_aliases
    from .._errors import ProvisionerError
    from .._provisioner import ModelProvisioner
    from .._store import alias_file

    try:
        provisioner = ModelProvisioner(_home(ctx))
        # the listed names (catalog.cache): no ModelInfo built per entry on every TAB
        names = {m.name for m in provisioner.listing().models}
        home = provisioner.home
        names.update(
            load_aliases(home) if alias_file(home).exists() else SEED
        )  # a TAB writes nothing
    except (ProvisionerError, OSError):
        return []
    typed = incomplete.lower()
    return [CompletionItem(n) for n in sorted(names) if n.lower().startswith(typed)]


def _home(ctx: click.Context) -> Path | None:
    """``--home`` before or after the verb (the group's callback has not run: no App yet)."""
    for current in (ctx, ctx.parent):
        home = current.params.get("home") if current is not None else None
        if home is not None:
            return Path(home)
    return None
