"""``assetforge serve``: the watch loop with a live page on 127.0.0.1."""

from __future__ import annotations

import sys

import click

from ..errors import UserError
from .common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    fail,
    lock_project,
    open_project,
    sigterm_as_interrupt,
)


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8421, show_default=True,
              help="TCP port (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but loopback exposes the page (and its pick "
                   "button) to the network: a warning is printed.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@click.option("--debounce", type=click.FloatRange(min=0), default=0.1, show_default=True,
              help="Seconds of quiet after a change before rebuilding.")
@click.option("--no-wait", is_flag=True, help="Fail at once if the project is locked.")
@click.pass_context
def serve(ctx: click.Context, port: int, host: str, open_browser: bool, debounce: float,
          no_wait: bool) -> None:
    """A live page of every asset that updates as you save.

    Runs the watch loop and serves http://127.0.0.1:PORT/: assets by kind with a filter,
    each new image beside the previous one and why it was rebuilt, the manifest error while
    a save is broken, and seed candidates to click (that runs 'assetforge pick'). Ctrl-C
    stops it (exit 130).
    """
    from ..serve import start
    from ..serve.http import loopback

    project = open_project(ctx)
    if not loopback(host):
        click.echo(f"warning: serving on {host}: anyone who can reach this address sees the "
                   "assets; changes still need the page's token", err=True)

    def say(message: str) -> None:
        click.echo(message, err=message.startswith(("error", "build failed")))

    sigterm_as_interrupt()
    try:
        with lock_project(project, "serve", no_wait):
            try:
                session = start(project, host, port, debounce, on_message=say)
            except OSError as e:
                click.echo(f"error: cannot listen on {host}:{port}: {e.strerror or e}",
                           err=True)
                sys.exit(EXIT_USAGE)
            click.echo(f"serving {session.url}  (Ctrl-C stops)", err=False)
            sys.stdout.flush()
            if open_browser:
                import webbrowser

                webbrowser.open(session.url)
            session.run()
    except UserError as e:
        fail(e)
    except KeyboardInterrupt:
        click.echo("\nstopped", err=True)
        sys.exit(EXIT_INTERRUPTED)


COMMANDS = [serve]
