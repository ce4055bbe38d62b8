"""Import/export codecs on a framework of the largest allowed size (pure CPU, no servers)."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from services.indicator_svc.framework import codecs
from services.indicator_svc.framework.content import MAX_INDICATORS, FrameworkContent, IndicatorSpec

FORMATS: dict[str, tuple[Callable[[FrameworkContent], bytes], Callable[[bytes], FrameworkContent]]] = {
    "json": (codecs.to_json, codecs.from_json),
    "yaml": (codecs.to_yaml, codecs.from_yaml),
    "xlsx": (codecs.to_xlsx, codecs.from_xlsx),
}


def largest_framework() -> FrameworkContent:
    """MAX_INDICATORS leaves with every text attribute filled, weights summing to 100."""
    weight = Decimal(100) / MAX_INDICATORS
    leaves = [
        IndicatorSpec(
            code=f"L{i}",
            name=f"Leaf indicator {i}",
            weight=weight,
            category="social",
            nature_tags=["outcome"],
            unit="%",
            scoring={"method": "target_ratio", "cap": "1.2"},
            evaluation_subjects=["public"],
            data_source=f"statistics bureau table {i}",
            formula=f"a{i} / b{i}",
            responsible_unit="office",
            legal_basis="measures article 7",
            description="d" * 200,
        )
        for i in range(MAX_INDICATORS)
    ]
    return FrameworkContent(code="BENCH", name="Largest framework", indicators=leaves)


def run(rounds: int = 3) -> dict[str, dict[str, float]]:
    """Best of ``rounds`` seconds to export and to import, per format."""
    content = largest_framework()
    figures = {}
    for name, (encode, decode) in FORMATS.items():
        encode_s, decode_s, size = [], [], 0
        for _ in range(rounds):
            started = time.perf_counter()
            data = encode(content)
            encoded = time.perf_counter()
            assert decode(data) == content
            encode_s.append(encoded - started)
            decode_s.append(time.perf_counter() - encoded)
            size = len(data)
        figures[name] = {"bytes": size, "export_s": min(encode_s), "import_s": min(decode_s)}
    return figures
