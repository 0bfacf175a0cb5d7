"""``heron feedback list``: the thumbs up/down and comments given on served answers."""

from __future__ import annotations

import typer

from heron.cli.common import print_json, state

app = typer.Typer(
    help="Feedback given on answers (from the web page or POST /v1/feedback).", no_args_is_help=True
)


@app.command("list")
def list_command(
    ctx: typer.Context,
    request_id: str | None = typer.Option(None, "--request-id", help="only this answer"),
    limit: int = typer.Option(100, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list"),
) -> None:
    """Feedback, newest first, with the question it was about."""
    from heron.server.feedback import FeedbackStore

    store = FeedbackStore(state(ctx).settings.home)
    try:
        records = store.list(request_id, limit)
    finally:
        store.close()
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    st = state(ctx)
    if not records:
        st.console.print("no feedback")
    for r in records:
        comment = f"  “{r.comment}”" if r.comment else ""
        st.console.print(
            f"{r.created_at}  {r.rating:<4}  {r.request_id}  {r.question or ''}{comment}",
            markup=False,
        )
