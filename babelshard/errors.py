"""The base of every error that is the user's input, not a bug: the CLI prints its
message on one line and exits 2 instead of showing a traceback."""
from __future__ import annotations


class UserError(ValueError):
    """Bad config, bad or unfinished data, a missing installable dependency."""


class MissingDependencyError(UserError):
    """A package the asked-for work needs is not installed; the message names it."""


def exit_on_user_error(fn, *args, **kwargs):
    """Run a CLI command body: a user error prints one clear line and exits 2."""
    import typer

    try:
        return fn(*args, **kwargs)
    except (UserError, FileNotFoundError) as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
