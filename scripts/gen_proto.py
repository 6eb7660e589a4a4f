"""Regenerate udfs/protocol/udf_pb2.py (and .pyi) from udfs/protocol/udf.proto.

Needs the dev extra (grpcio-tools): ``pip install -e '.[dev]'`` then
``python scripts/gen_proto.py``. The generated module is committed so that users
never need grpcio-tools.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "udfs" / "protocol"


def main() -> int:
    args = [
        "protoc",
        f"--proto_path={PROTO_DIR}",
        f"--python_out={PROTO_DIR}",
        f"--pyi_out={PROTO_DIR}",
        str(PROTO_DIR / "udf.proto"),
    ]
    code = protoc.main(args)
    if code != 0:
        print(f"protoc failed with exit code {code}", file=sys.stderr)
        return int(code)
    print(f"wrote {PROTO_DIR / 'udf_pb2.py'} and udf_pb2.pyi", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
