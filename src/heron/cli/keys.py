"""``heron keys create | list | revoke``: API keys for ``heron serve``."""

from __future__ import annotations

import typer

from heron.cli.common import print_json, state
from heron.errors import InputError

app = typer.Typer(
    help="API keys for `heron serve` (stored hashed in the store home).", no_args_is_help=True
)


@app.command("create")
def create_command(
    ctx: typer.Context,
    scope: str = typer.Option("read", "--scope", help="read | write | admin"),
    name: str = typer.Option("", "--name", help="a label to recognise the key by"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create a key and print it once (only its salted hash is kept)."""
    from heron.server.keys import KeyStore

    keys = KeyStore(state(ctx).settings.home)
    try:
        key, info = keys.create(scope, name)
    finally:
        keys.close()
    if as_json:
        print_json({"key": key, **info.to_dict()})
        return
    st = state(ctx)
    st.console.print(key, markup=False, highlight=False)
    st.err.print(f"key {info.id} (scope {info.scope}) created; it is shown only this once")


@app.command("list")
def list_command(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List keys (ids, names, scopes; never the keys themselves)."""
    from heron.server.keys import KeyStore

    keys = KeyStore(state(ctx).settings.home)
    try:
        infos = keys.list()
    finally:
        keys.close()
    if as_json:
        print_json([info.to_dict() for info in infos])
        return
    st = state(ctx)
    if not infos:
        st.console.print("no keys")
    for info in infos:
        flag = "  revoked" if info.revoked else ""
        st.console.print(
            f"{info.id}  {info.scope:<5}  {info.created_at}  {info.name}{flag}", markup=False
        )


@app.command("revoke")
def revoke_command(
    ctx: typer.Context, key_id: str = typer.Argument(..., help="the key's id")
) -> None:
    """Revoke a key by id; requests with it get 401 from then on."""
    from heron.server.keys import KeyStore

    keys = KeyStore(state(ctx).settings.home)
    try:
        done = keys.revoke(key_id)
    finally:
        keys.close()
    if not done:
        raise InputError(f"no active key with id '{key_id}'", hint="see `heron keys list`")
    state(ctx).console.print(f"revoked {key_id}")
