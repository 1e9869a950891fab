#!/usr/bin/env bash
# Shared by dist_train.sh and dist_test.sh (source it, then call
#   dist_launch SCRIPT NPROC [SCRIPT args...]):
# runs tools/SCRIPT with torchrun, NPROC processes per node (works on CPU
# too: gloo backend), repository root on PYTHONPATH.
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT.

dist_launch() {
    local script=$1
    local gpus=$2
    local nnodes=${NNODES:-1}
    local node_rank=${NODE_RANK:-0}
    local port=${PORT:-29500}
    local master_addr=${MASTER_ADDR:-"127.0.0.1"}

    PYTHONPATH="$(dirname $0)/..":$PYTHONPATH \
    torchrun \
        --nnodes=$nnodes \
        --node_rank=$node_rank \
        --master_addr=$master_addr \
        --nproc_per_node=$gpus \
        --master_port=$port \
        $(dirname "$0")/$script \
        "${@:3}"
}
