#!/usr/bin/env python3
"""The ONNX checker on an exported backbone: onnx.checker.check_model(model, full_check=True) (the
specification's rules and its shape inference), then a summary of what the graph declares.

  onnx_check.py MODEL.onnx    -> 'onnx check: OK ...' and exit 0, or the checker's error and exit 1
"""
import collections
import sys

import onnx


def dims(value):
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def main():
    path = sys.argv[1]
    model = onnx.load(path)
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        print(f"onnx check: FAIL {path}: {e}")
        sys.exit(1)
    ops = collections.Counter(n.op_type for n in model.graph.node)
    opset = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    print(f"onnx check: OK {path} (onnx {onnx.__version__}, full_check): IR {model.ir_version}, opset {opset}")
    for v in model.graph.input:
        print(f"input {v.name} {dims(v)}")
    for v in model.graph.output:
        print(f"output {v.name} {dims(v)}")
    print("ops " + ", ".join(f"{op} {n}" for op, n in sorted(ops.items())))
    print(f"initializers {len(model.graph.initializer)}")
    print("metadata " + ", ".join(f"{p.key}={p.value}" for p in model.metadata_props))


if __name__ == "__main__":
    main()
