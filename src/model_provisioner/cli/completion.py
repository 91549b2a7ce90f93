"""provisioner completion SHELL: the shell's completion script, from click's own support."""

from __future__ import annotations

import click


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash:  eval "$(provisioner completion bash)"     (in ~/.bashrc)
    zsh:   eval "$(provisioner completion zsh)"      (in ~/.zshrc)
    fish:  provisioner completion fish > ~/.config/fish/completions/provisioner.fish
    """
    from click.shell_completion import get_completion_class

    root = ctx.find_root().command
    script = get_completion_class(shell)
    assert script is not None  # click ships all three
    click.echo(script(root, {}, "provisioner", "_PROVISIONER_COMPLETE").source())
