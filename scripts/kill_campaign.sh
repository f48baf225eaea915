#!/usr/bin/env bash
# Kill campaign: the demo trained on 2 ranks, one rank SIGKILLed at N random moments (during steps,
# allreduces and, for every third kill, while a checkpoint is being written), resumed (checkpoint.resume:
# auto) each time. After every kill: each checkpoint on disk reads whole (h5dump of every dataset) and
# LATEST names one of them. At the end: no temporary file is left, and the per-step losses and the final
# weights equal those of an unbroken run of the same job, bit for bit.
#
#   scripts/kill_campaign.sh 20           # SEED=... to repeat a campaign; SCRATCH=... for the work folder
#
# Needs the release binary (swift build -c release --product tooltune), mpirun, h5dump and h5diff.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:?usage: scripts/kill_campaign.sh N}
seed=${SEED:-$(date +%s)}
RANDOM=$seed
scratch=${SCRATCH:-/tmp/tooltune-kill}
bin=$PWD/${TOOLTUNE_BIN:-.build/release/tooltune}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun=(mpirun -n 2 --oversubscribe --bind-to none)
[ -x "$bin" ] || { echo "no $bin: swift build -c release --product tooltune" >&2; exit 1; }

rm -rf "$scratch"
mkdir -p "$scratch"
log() { echo "[$(date +%T)] $*"; }

# The demo job, checkpointing every 20 steps and keeping all, over data prepared once.
job() {  # job NAME RUNDIR DATA
    sed -e "s#demo/#$PWD/demo/#g" -e "s#^  dir: .*#  dir: $2#" -e "s#^  every_steps: .*#  every_steps: 20#" \
        -e "s#^  keep_last: .*#  keep_last: 0#" -e "s#^  train: .*#  train: $3#" -e "s#^  eval: .*##" jobs/demo.yaml > "$scratch/$1.yaml"
}
job prepare "$scratch/prepared" "$PWD/demo/data/train"
"$bin" prepare "$scratch/prepare.yaml" > "$scratch/prepare.log"
data="$scratch/prepared/data/train.h5"
job reference "$scratch/reference" "$data"
job campaign "$scratch/campaign" "$data"

log "unbroken run (seed $seed)"
start=$(date +%s)
"${mpirun[@]}" "$bin" train "$scratch/reference.yaml" > "$scratch/reference.log" 2>&1
unbroken=$(( $(date +%s) - start ))
steps=$(wc -l < "$scratch/reference/metrics.jsonl")
log "unbroken: $steps steps in ${unbroken}s"
span=$(( unbroken * 3 / (2 * kills) ))
(( span >= 2 )) || span=2

checkpoints="$scratch/campaign/checkpoints"
# Every checkpoint on disk reads whole, and LATEST names one of them.
check_disk() {
    local bad=0 f
    for f in "$checkpoints"/step-*.h5; do
        [ -e "$f" ] || continue
        h5dump -o /dev/null "$f" > /dev/null 2>&1 || { echo "INCOMPLETE CHECKPOINT: $f"; bad=1; }
    done
    if [ -e "$scratch/campaign/LATEST" ]; then
        local latest; latest=$(cat "$scratch/campaign/LATEST")
        [ -f "$scratch/campaign/$latest" ] || { echo "LATEST names a missing file: $latest"; bad=1; }
    fi
    return $bad
}

done_kills=0 checkpoint_kills=0 finished_early=0 failures=0
for ((i = 1; i <= kills; i++)); do
    "${mpirun[@]}" "$bin" train "$scratch/campaign.yaml" >> "$scratch/campaign.log" 2>&1 &
    launcher=$!
    if (( i % 3 == 0 )); then
        # Wait for a checkpoint's temporary file, then kill while it is being written.
        what="during a checkpoint write"
        for ((t = 0; t < 3000; t++)); do
            compgen -G "$checkpoints/.step-*.h5.tmp-*" > /dev/null && break
            kill -0 "$launcher" 2> /dev/null || break
            sleep 0.01
        done
    else
        # A random moment after the start, spread so that the N kills cover about the whole run.
        what="at a random moment"
        sleep "$(( 1 + RANDOM % span )).$(( RANDOM % 10 ))"
    fi
    ranks=$(pgrep -P "$launcher" -f "tooltune train" || true)
    if [ -z "$ranks" ]; then
        wait "$launcher" || true
        finished_early=$((finished_early + 1))
        log "kill $i: the run had already ended"
        break
    fi
    mapfile -t pids <<< "$ranks"
    victim=${pids[RANDOM % ${#pids[@]}]}
    step=$(tail -n 1 "$scratch/campaign/metrics.jsonl" 2> /dev/null | sed -n 's/.*"step":\([0-9]*\).*/\1/p')
    kill -KILL "$victim" 2> /dev/null || true
    wait "$launcher" || true
    done_kills=$((done_kills + 1))
    [[ $what == *checkpoint* ]] && checkpoint_kills=$((checkpoint_kills + 1))
    on_disk=$(ls "$checkpoints" 2> /dev/null | grep -c '^step-' || true)
    partial=$(compgen -G "$checkpoints/.step-*.h5.tmp-*" > /dev/null && echo "; a partial checkpoint left under its temporary name" || true)
    if check_disk; then
        log "kill $i: rank pid $victim $what (last logged step ${step:-0}); $on_disk checkpoints, all whole$partial"
    else
        failures=$((failures + 1))
        log "kill $i: FAILED the disk check"
    fi
done

log "resuming to the end"
"${mpirun[@]}" "$bin" train "$scratch/campaign.yaml" >> "$scratch/campaign.log" 2>&1
check_disk || failures=$((failures + 1))
temporaries=$(find "$scratch/campaign" -name '.*.tmp-*' | wc -l)
[ "$temporaries" -eq 0 ] || { echo "temporary files left: $temporaries"; failures=$((failures + 1)); }

# The losses of every step (as JSON wrote them) and the final weights, against the unbroken run.
losses() { sed -n 's/.*"loss":\([^,]*\),.*/\1/p' "$1"; }
if diff <(losses "$scratch/reference/metrics.jsonl") <(losses "$scratch/campaign/metrics.jsonl") > "$scratch/losses.diff"; then
    log "losses: all $steps steps equal the unbroken run's"
else
    echo "LOSSES DIFFER: $scratch/losses.diff"; failures=$((failures + 1))
fi
last=$(printf 'step-%06d.h5' "$steps")
if h5diff -q "$scratch/reference/checkpoints/$last" "$scratch/campaign/checkpoints/$last" /model /model; then
    log "final weights ($last /model): equal"
else
    echo "FINAL WEIGHTS DIFFER"; failures=$((failures + 1))
fi
log "$done_kills kills ($checkpoint_kills during checkpoint writes), $failures failures; seed $seed; logs in $scratch"
[ "$failures" -eq 0 ]
