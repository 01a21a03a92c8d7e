#!/usr/bin/env bash
# kill -9 at random moments: a tiny synthetic run of `byol train`, once uninterrupted, once killed with
# SIGKILL at KILLS random moments (each resumed run killed again, anywhere from the start-up to the
# last checkpoint), then resumed to the end; the final checkpoints must hold the same tensors bit for
# bit, metrics.jsonl the same rows (but for images_per_s and elapsed_s), no torn line, no *.tmp left.
# Each kill comes at a uniform random moment within the first half of an uninterrupted run's time
# (start-up included), so most resumed runs are killed again; a run killed before its first
# checkpoint starts again with --overwrite. CPU accelerator by default.
# Usage: KILLS=10 SEED=1 tools/kill-resume.sh  (environment also: BYOL, DEVICE)
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS=${KILLS:-10}
RANDOM=${SEED:-1}
DEVICE=${DEVICE:-cpu}
BYOL=${BYOL:-"dotnet src/ByolIlgpu.Cli/bin/Release/net10.0/byol.dll"}
out=$(mktemp -d)
args=(train --synthetic 16 --epochs 4 --batch-size 8 --width 2 --proj-hidden 16 --proj-out 8 --pred-hidden 16
      --device "$DEVICE" --warmup-epochs 1 --knn-every 1 --test-limit 20 --checkpoint-every 1)

start=$(date +%s%N)
$BYOL "${args[@]}" --run-dir "$out/straight" >"$out/straight.log"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "uninterrupted run: ${ms} ms"

finished=
for ((k = 1; k <= KILLS; k++)); do
  if compgen -G "$out/killed/checkpoint-epoch*.safetensors" >/dev/null; then how=(--resume "$out/killed"); else how=(--overwrite); fi
  delay=$(( RANDOM * 32768 + RANDOM )); delay=$(( delay % (ms / 2) ))
  $BYOL "${args[@]}" --run-dir "$out/killed" "${how[@]}" >"$out/kill-$k.log" 2>&1 &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  if kill -9 "$pid" 2>/dev/null; then
    { wait "$pid"; } 2>/dev/null || true
    last=$( (grep -v '^warning' "$out/kill-$k.log" || true) | tail -1 | cut -c1-60)
    echo "kill $k at ${delay} ms (${how[0]}): last line '${last}'; checkpoints: $(ls "$out/killed" | grep -c '^checkpoint-' || true)"
  else
    wait "$pid" || { echo "run $k failed:"; cat "$out/kill-$k.log"; exit 1; }
    echo "run $k finished before its kill at ${delay} ms"
    finished=1
    break
  fi
done
if compgen -G "$out/killed/checkpoint-epoch*.safetensors" >/dev/null; then how=(--resume "$out/killed"); else how=(--overwrite); fi
if [ -z "${finished:-}" ]; then
  $BYOL "${args[@]}" --run-dir "$out/killed" "${how[@]}" >"$out/final.log" 2>&1 || { cat "$out/final.log"; exit 1; }
fi
grep -h '^warning' "$out"/kill-*.log "$out"/final.log 2>/dev/null | sed 's/^/  /' | sort | uniq -c | sort -rn | head -8 || true

python3 - "$out" <<'PY'
import json, os, struct, sys
out = sys.argv[1]
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    return {k: data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in header.items() if k != "__metadata__"}
def rows(run):
    text = open(f"{out}/{run}/metrics.jsonl").read()
    assert text.endswith("\n"), f"{run}: the metrics file ends in a torn line"
    return [{k: v for k, v in json.loads(l).items() if k not in ("images_per_s", "elapsed_s")} for l in text.splitlines()]
last = lambda run: sorted(f for f in os.listdir(f"{out}/{run}") if f.startswith("checkpoint-"))[-1]
a, b = tensors(f"{out}/straight/{last('straight')}"), tensors(f"{out}/killed/{last('killed')}")
ok = last("straight") == last("killed") and a.keys() == b.keys() and all(a[k] == b[k] for k in a)
print(f"final checkpoint {last('killed')}: {len(a)} tensors, " + ("bit-identical" if ok else "DIFFERENT"))
same = rows("straight") == rows("killed")
print(f"metrics.jsonl: {len(rows('killed'))} rows, " + ("the same deterministic fields" if same else "DIFFERENT"))
tmp = [f for f in os.listdir(f"{out}/killed") if f.endswith(".tmp")]
print("temporary files left: " + (", ".join(tmp) if tmp else "none"))
sys.exit(0 if ok and same and not tmp else 1)
PY
rm -rf "$out"
