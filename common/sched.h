// Scheduling hints for short-lived, latency-bound processes (the CLI and its attach helper).
#pragma once

namespace sysc {

// A short custom slice for the calling process (EEVDF: sched_attr.sched_runtime of a SCHED_OTHER
// task, Linux 6.12+; older kernels ignore it), so that when it is woken on a CPU busy with other
// work it runs at once instead of waiting up to a whole default slice (1.4 ms on a 2-CPU host)
// for that work to block. What it forks gets the default slice back (SCHED_FLAG_RESET_ON_FORK).
// Left alone at another policy or a negative nice value, which the reset on fork would undo for
// the children; a refusal changes nothing. Async-signal-safe: system calls only.
void ask_for_short_slice();

}  // namespace sysc
