#!/usr/bin/env python3
"""Records the `gguf` Python package's quantization (`gguf.quants.quantize`, a port of ggml's
`quantize_row_*_ref`) of seeded random float rows to Q8_0, Q4_0, F16 and BF16, the types a float
checkpoint's matrices are written as on load (`Quantizer`), so Swerve's quantizers have a referee.

    scripts/make-quantize-fixture.py

Writes Tests/SwerveCoreTests/Fixtures/quantize.json. Needs `gguf` and `numpy` (scripts/python-env).
"""
import base64
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as Q, quants

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    rng = np.random.default_rng(20261207)
    rows = [
        rng.standard_normal(128).astype(np.float32),
        (rng.standard_normal(128) * 1e-3).astype(np.float32),
        np.concatenate([np.zeros(32), rng.uniform(-5, 5, 64), np.full(32, -0.75)]).astype(np.float32),
    ]
    cases = []
    for row in rows:
        for name in ["Q8_0", "Q4_0", "F16", "BF16"]:
            data = quants.quantize(row.reshape(1, -1), getattr(Q, name)).tobytes()
            cases.append({
                "type": name,
                "values": [float(v) for v in row],
                "data": base64.b64encode(data).decode(),
            })
    out = os.path.join(ROOT, "Tests/SwerveCoreTests/Fixtures/quantize.json")
    with open(out, "w") as f:
        json.dump({"generator": "gguf (Python) quants.quantize", "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
