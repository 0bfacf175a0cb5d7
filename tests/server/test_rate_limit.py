"""Per-key rate limits: a token bucket per API key, or per client address without one."""

from __future__ import annotations

import httpx
import pytest
from tests.server.conftest import Live, Serve

from heron.server import ServerSettings
from heron.server.keys import KeyStore, key_id
from heron.server.ratelimit import RateLimit, TokenBuckets, client_address

BODY = {"query": "shell"}


def _keys(live: Live, count: int) -> list[str]:
    store = KeyStore(live.home)
    keys = [store.create("read")[0] for _ in range(count)]
    store.close()
    return keys


def _search(http: httpx.Client, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return http.post("/v1/search", json=BODY, headers=headers)


def _assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 30  # one token per 30 s at 2/min
    error = response.json()["error"]
    assert error["type"] == "rate_limited" and error["code"] == 429
    assert "2 requests a minute" in error["message"] and "\n" not in error["message"]


def test_each_key_has_its_own_bucket(serve: Serve) -> None:
    live = serve(rate_limit_per_min=2, rate_limit_burst=2)
    first, second = _keys(live, 2)
    with live.client() as http:
        spent = [_search(http, first) for _ in range(3)]
        other = [_search(http, second) for _ in range(2)]
        vector = http.post(
            "/v1/search",
            json={"vector": [0.1] * 64},
            headers={"X-API-Key": first},  # the same key by the other header: same bucket
        )
        health = http.get("/healthz")
        metrics = http.get("/metrics").text
    assert [r.status_code for r in spent[:2]] == [200, 200]
    _assert_limited(spent[2])
    _assert_limited(vector)
    assert [r.status_code for r in other] == [200, 200]
    assert health.status_code == 200
    assert 'heron_rate_limited_total{by="key"} 2' in metrics
    assert 'heron_rate_limited_total{by="address"} 0' in metrics


def test_without_a_key_the_address_is_limited_and_wrong_keys_spend_nothing(
    serve: Serve,
) -> None:
    live = serve(rate_limit_per_min=2, rate_limit_burst=2)
    (key,) = _keys(live, 1)
    forged = f"hk_{key_id(key)}_forged-secret"  # names the real key's id
    with live.client() as http:
        open_reads = [_search(http) for _ in range(2)]
        wrong = _search(http, forged)
        keyed = [_search(http, key) for _ in range(2)]
        metrics = http.get("/metrics").text
    assert [r.status_code for r in open_reads] == [200, 200]
    _assert_limited(wrong)  # counted against the address, which is spent
    assert [r.status_code for r in keyed] == [200, 200]  # the key's bucket is untouched
    assert 'heron_rate_limited_total{by="address"} 1' in metrics


def test_off_by_default_on_loopback_and_on_elsewhere(live: Live) -> None:
    assert ServerSettings().rate_per_min == 0
    assert ServerSettings(host="0.0.0.0").rate_per_min == 600
    assert ServerSettings(host="0.0.0.0", rate_limit_per_min=0).rate_per_min == 0
    assert ServerSettings(rate_limit_per_min=30).rate_burst == 30
    assert not any(m.cls is RateLimit for m in live.server.config.app.user_middleware)
    with live.client() as http:
        assert all(_search(http).status_code == 200 for _ in range(30))


def test_buckets_refill_at_the_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(60, 2, clock=lambda: now[0])  # one token a second
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") == pytest.approx(1.0)
    assert buckets.take("b") == 0.0
    now[0] = 0.5
    assert buckets.take("a") == pytest.approx(0.5)
    now[0] = 1.0
    assert buckets.take("a") == 0.0
    now[0] = 100.0
    assert [buckets.take("a"), buckets.take("a"), buckets.take("a")][2] > 0  # capped at burst


def test_bucket_count_is_bounded() -> None:
    now = [0.0]
    buckets = TokenBuckets(60, 1, max_buckets=4, clock=lambda: now[0])
    for i in range(4):
        buckets.take(f"c{i}")
    now[0] = 10.0  # all refilled: dropped to make room
    assert buckets.take("new") == 0.0
    assert len(buckets._buckets) == 1
    for i in range(10):
        buckets.take(f"d{i}")
    assert len(buckets._buckets) <= 4


def test_ipv6_clients_share_a_bucket_per_64() -> None:
    first = {"client": ("2001:db8::1", 5000)}
    second = {"client": ("2001:db8::ffff:2", 5000)}
    other = {"client": ("2001:db8:0:1::1", 5000)}
    assert client_address(first) == client_address(second) == "2001:db8::/64"
    assert client_address(other) != client_address(first)
    assert client_address({"client": ("127.0.0.1", 1)}) == "127.0.0.1"


def test_a_key_is_verified_once_per_request(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    live = serve(rate_limit_per_min=600, rate_limit_burst=50)
    (key,) = _keys(live, 1)
    calls: list[str] = []
    original = KeyStore.verify

    def verify(self: KeyStore, given: str) -> str | None:
        calls.append(given)
        return original(self, given)

    monkeypatch.setattr(KeyStore, "verify", verify)
    with live.client() as http:
        fast = _search(http, key)  # the fast lane
        routed = http.get("/v1/collections", headers={"Authorization": f"Bearer {key}"})
    assert fast.status_code == routed.status_code == 200
    assert len(calls) == 2
