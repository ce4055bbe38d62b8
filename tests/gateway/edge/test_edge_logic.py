"""Pure parts of the gateway's edge: token buckets, path and trace handling, the OpenAPI merge."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.api.docs import merge, rewrite_refs
from services.gateway.api.proxy import traceparent, upstream_path
from services.gateway.ratelimit import TokenBuckets
from shared.errors import NotFound


def test_a_bucket_allows_its_burst_then_says_when_to_retry():
    buckets = TokenBuckets(per_minute=60, capacity=3)
    assert [buckets.take("k", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k", now=100.0) == pytest.approx(1.0)
    assert buckets.take("k", now=100.5) == pytest.approx(0.5)
    assert buckets.take("k", now=101.0) == 0.0  # refilled one token per second
    assert buckets.take("other", now=101.0) == 0.0  # keys are independent


@given(st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=200))
def test_a_bucket_never_admits_more_than_burst_plus_refill(gaps):
    buckets = TokenBuckets(per_minute=120, capacity=5)
    now, admitted = 0.0, 0
    for gap in gaps:
        now += gap
        admitted += buckets.take("k", now=now) == 0.0
    assert admitted <= 5 + now * 2 + 1e-9


def test_idle_keys_are_evicted_and_memory_is_capped():
    buckets = TokenBuckets(per_minute=60, capacity=2, max_keys=100)
    for i in range(50):
        buckets.take(f"ip-{i}", now=0.0)
    buckets.take("late", now=10.0)  # everyone else is full again after 2 s: forgotten
    assert len(buckets) == 1
    for i in range(500):
        buckets.take(f"flood-{i}", now=11.0)
    assert len(buckets) <= 100


def test_traceparent_continues_a_valid_trace_and_starts_one_otherwise():
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    continued = traceparent(incoming)
    assert continued.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-") and continued.endswith("-01")
    assert continued != incoming  # the gateway is a new span
    for junk in (None, "", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01"):
        made = traceparent(junk)
        assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", made) and "0" * 32 not in made


def test_upstream_path_keeps_encoding_and_refuses_dot_segments():
    assert upstream_path("/api/v1/indicator/frameworks/a%2Fb", "indicator") == "/api/v1/frameworks/a%2Fb"
    assert upstream_path("/api/v1/indicator/", "indicator") == "/api/v1/"
    for bad in ("/api/v1/indicator/../metrics", "/api/v1/indicator/x/%2E%2E/%2e%2e/docs", "/api/v1/indicator/."):
        with pytest.raises(NotFound):
            upstream_path(bad, "indicator")


SERVICE_DOC = {
    "openapi": "3.1.0",
    "paths": {
        "/api/v1/things/{id}": {
            "get": {
                "operationId": "get_thing",
                "tags": ["things"],
                "responses": {
                    "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
                },
            }
        },
        "/healthz": {"get": {"operationId": "health"}},
    },
    "components": {
        "schemas": {
            "Thing": {
                "properties": {
                    "part": {"$ref": "#/components/schemas/Part"},
                    "kind": {
                        "oneOf": [{"$ref": "#/components/schemas/Part"}],
                        "discriminator": {"propertyName": "t", "mapping": {"p": "#/components/schemas/Part"}},
                    },
                }
            },
            "Part": {"type": "object"},
        }
    },
}


def test_merge_prefixes_paths_schemas_refs_and_operation_ids():
    gateway = {
        "openapi": "3.1.0",
        "info": {"title": "gw", "version": "1"},
        "paths": {"/api/v1/me": {"get": {"operationId": "me"}}},
        "components": {"schemas": {"Thing": {}}},
    }
    merged = merge(gateway, {"a": SERVICE_DOC, "b": SERVICE_DOC}, ["c"])
    assert set(merged["paths"]) == {"/api/v1/me", "/api/v1/a/things/{id}", "/api/v1/b/things/{id}"}
    schemas = merged["components"]["schemas"]
    assert {"Thing", "a_Thing", "a_Part", "b_Thing", "b_Part"} <= set(schemas)  # no clash with the gateway's
    assert schemas["a_Thing"]["properties"]["part"] == {"$ref": "#/components/schemas/a_Part"}
    assert schemas["b_Thing"]["properties"]["kind"]["discriminator"]["mapping"] == {"p": "#/components/schemas/b_Part"}
    operation = merged["paths"]["/api/v1/a/things/{id}"]["get"]
    assert operation["operationId"] == "a.get_thing" and operation["tags"] == ["a: things"]
    assert {"401", "429", "502", "503", "504"} <= set(operation["responses"])  # what the gateway itself answers
    assert merged["info"]["x-govperf-unavailable-services"] == ["c"]
    assert SERVICE_DOC["components"]["schemas"]["Thing"]["properties"]["part"]["$ref"] == "#/components/schemas/Part"


def test_rewrite_refs_leaves_external_refs_alone():
    assert rewrite_refs({"$ref": "other.json#/x"}, "a") == {"$ref": "other.json#/x"}
