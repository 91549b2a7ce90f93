"""Click's own usage errors as one line, like every other error of ours.

Click shows a usage error as four lines (usage, a help hint, a blank line, ``Error: ...``);
a script reading stderr, or a user scanning it, gets our one ``error: ...`` line instead, with
the help hint folded in and the closest name suggested for a mistyped option or command.
"""

from __future__ import annotations

import click

_COMMAND = "provisioner.command"


class NamingGroup(click.Group):
    """A group whose commands' usage errors name the command: click's parser raises some (an
    option without its value) with no context, and the hint would point at the group's help."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name is not None and command is not None:
            ctx.meta[_COMMAND] = (name, command)
        return name, command, rest

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if exc.ctx is None and _COMMAND in ctx.meta:
                name, command = ctx.meta[_COMMAND]
                exc.ctx = click.Context(command, parent=ctx, info_name=name)
            raise


def usage_line(exc: click.UsageError) -> str:
    """``error: no such option '--jsn'; did you mean '--json'? (see 'provisioner pull --help')``
    (the help hint folded into the one line)."""
    possibilities = sorted(getattr(exc, "possibilities", None) or [])
    if possibilities:  # click's own suggestion is a second sentence, or one in brackets
        text = _sentence(exc.message)
        text += f"; did you mean {' or '.join(repr(p) for p in possibilities)}?"
    else:
        text = _sentence(exc.format_message())
    command = exc.ctx.command_path if exc.ctx is not None else "provisioner"
    return f"error: {text} (see '{_printable(command)} --help')"


def error_line(exc: click.ClickException) -> str:
    """Any other click error (a file option it could not open) as our one line."""
    return f"error: {_sentence(exc.format_message())}"


def _sentence(message: str) -> str:
    """Click's capitalised sentence as the middle of our line: lower case, no final full stop,
    one line (a value typed with a newline or a control character shown escaped)."""
    text = _printable(message.strip()).removesuffix(".")
    if text[:1].isupper() and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    return text or "invalid command line"


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
