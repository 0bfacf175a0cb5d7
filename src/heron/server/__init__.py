"""``heron serve``: the HTTP API (FastAPI), the web page and the OpenAI-compatible endpoints.

``create_app(settings, server)`` builds the application; ``ServerSettings``
holds address, served models, limits and auth. See docs/server.md.
"""

from heron.server.app import create_app
from heron.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
