#pragma once

// `kapsel-shim exec`: a new process in a running container (kapselctl exec). kapseld is
// multithreaded and may not setns into mount or pid namespaces, so it spawns this single-threaded
// helper with the process' stdio (pipes or a pty slave) as fds 0, 1 and 2:
//
//   kapsel-shim exec --id ID --bundle DIR --pid PID --start-time TICKS --status-fd N
//       [--user UID:GID[:GID,...]] [--cwd DIR] [--env K=V]... [--tty] [--privileged]
//       [--seccomp-cache DIR] -- CMD...
//
// It checks that PID is still the container's init (pidfd + start time, field 22 of
// /proc/PID/stat), opens the init's namespaces, joins the container's cgroup, enters the
// namespaces (non-dumpable from here on), and forks once so the child is inside the pid namespace.
// The child carries out a runtime::ChildPlan (runtime/child_plan.h) with the container's
// capabilities, rlimits, no_new_privs and seccomp filter from config.json (all capabilities and no
// filter with --privileged) and execs CMD. One report line goes to the status fd:
//
//   ok <host pid of the process>
//   err <exit code 126|127> <message>
//
// The helper then waits for the process and exits with its code (128+N for signal N).

namespace kapsel::shim {

// argv[0] is "exec". Returns the exit code of the helper.
int ExecMain(int argc, char** argv);

}  // namespace kapsel::shim
