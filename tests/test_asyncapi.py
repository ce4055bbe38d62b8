"""The AsyncAPI document is the event contract: it covers every event payload model, its examples
are valid payloads, and the committed copy matches the models."""

from shared.asyncapi import DOCUMENT_PATH, build_document, catalog, render


def test_committed_document_matches_the_event_models():
    # Fails when a payload model changed (or an event was added) without `govperf asyncapi`.
    assert DOCUMENT_PATH.read_text(encoding="utf-8") == render(build_document()), (
        "contracts/asyncapi.json is stale: run `govperf asyncapi` and commit the result"
    )


def test_every_event_has_a_channel_and_a_valid_example():
    document = build_document()
    events = catalog()
    assert {"appraisal.results.published", "feedback.case.closed", "feedback.task.overdue"} <= events.keys()
    assert "indicator.framework.published" in events and "survey.results.finalized" in events
    assert document["asyncapi"] == "3.0.0"
    for event_type, model in events.items():
        key = event_type.replace(".", "_")
        assert document["channels"][key]["address"] == f"govperf.{event_type}"
        assert document["operations"][f"publish_{key}"]["action"] == "send"
        message = document["components"]["messages"][key]
        example = message["examples"][0]["payload"]
        assert example["type"] == event_type
        model.model_validate(example["data"])  # raises if the example is not a valid payload
        assert message["payload"]["properties"]["data"]["$ref"] == f"#/components/schemas/{model.__name__}"
        assert model.__name__ in document["components"]["schemas"]


def test_a_consumers_reading_model_never_replaces_the_producers_contract():
    # appraisal_svc validates indicator.framework.published with its own narrower model;
    # the document must describe what indicator_svc actually publishes.
    from services.indicator_svc.framework.events import FrameworkPublished

    assert catalog()["indicator.framework.published"] is FrameworkPublished
