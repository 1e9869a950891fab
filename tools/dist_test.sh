#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# GPUS is the number of processes per node (works on CPU too: gloo backend).
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT.

CONFIG=$1
CHECKPOINT=$2
GPUS=$3

source "$(dirname "$0")/dist_launch.sh"
dist_launch test.py $GPUS \
    $CONFIG \
    $CHECKPOINT \
    --launcher pytorch \
    ${@:4}
