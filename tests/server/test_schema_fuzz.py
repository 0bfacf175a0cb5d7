"""Property-based fuzzing of the OpenAPI schema with schemathesis, against a live server.

Every operation gets generated valid and invalid requests (bounded examples so
the run stays well under a minute); every response must be a non-5xx, have a
documented status and content type, and match its documented schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from tests.server.conftest import Live, make_home, start  # noqa: E402

from heron.models.registry import ModelRegistry  # noqa: E402
from heron.server.keys import KeyStore  # noqa: E402

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 12


@pytest.fixture
def fuzz_target(tmp_path: Path) -> Iterator[tuple[Live, str]]:
    from heron.config import Settings
    from heron.server import ServerSettings, create_app

    home = make_home(tmp_path / "home")
    keys = KeyStore(home)
    admin, _ = keys.create("admin", "fuzz")
    keys.close()
    registry = ModelRegistry()
    app = create_app(
        Settings(home=home, collection="kb", cache=tmp_path / "cache"),
        ServerSettings(
            llms=("fake:fuzzed_reply",),
            embedders=("hash:64",),
            search_queue=256,
            # the optional middleware on, so the fuzzed requests pass through it too
            access_log=True,
            log_format="json",
            rate_limit_per_min=1e9,
        ),
        registry=registry,
    )
    live = start(app, home, registry)
    yield live, admin
    live.stop()


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_api_conforms_to_its_schema(fuzz_target: tuple[Live, str], mode: str) -> None:
    live, admin = fuzz_target
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    generation = GenerationMode(mode)
    headers = {"Authorization": f"Bearer {admin}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy(generation))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            case.call_and_validate(base_url=live.url, headers=headers, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (an operation without inputs)
            continue
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)
