#include "client/commands/container_flags.h"

namespace kapsel::client {

void AddResourceFlags(CLI::App* cmd, ResourceFlags* options) {
  cmd->add_option("-m,--memory", options->memory, "Memory limit (e.g. 512k, 100m, 1g)");
  cmd->add_option("--memory-swap", options->memory_swap,
                  "Memory plus swap limit (equal to --memory: no swap; -1: unlimited)");
  cmd->add_option("--cpus", options->cpus, "Number of CPUs (e.g. 0.5)");
  cmd->add_option("--cpu-shares", options->cpu_shares, "CPU shares (relative weight)");
  cmd->add_option("--cpuset-cpus", options->cpuset_cpus, "CPUs the container may use (0-3, 0,1)");
  cmd->add_option("--pids-limit", options->pids_limit, "Maximum number of tasks (-1: unlimited)");
}

void AddContainerFlags(CLI::App* cmd, ContainerOptions* options) {
  cmd->add_flag("--rm", options->auto_remove, "Remove the container when it exits");
  cmd->add_option("--name", options->name, "Name of the container");
  // One value per flag: a vector option would otherwise also swallow IMAGE and CMD.
  cmd->add_option("-e,--env", options->env, "Set an environment variable (K=V, or K to copy it)")
      ->allow_extra_args(false);
  cmd->add_option("-l,--label", options->labels, "Set a label (k=v)")->allow_extra_args(false);
  cmd->add_option("-w,--workdir", options->working_dir, "Working directory inside the container");
  cmd->add_option("--hostname", options->hostname, "Container hostname");
  cmd->add_option("-u,--user", options->user, "User: uid[:gid] or name[:group]");
  cmd->add_option("--entrypoint", options->entrypoint, "Override the image's entrypoint");

  AddResourceFlags(cmd, options);
  cmd->add_option("--env-file", options->env_files, "Read environment variables from a file")
      ->allow_extra_args(false);
  cmd->add_option("--restart", options->restart,
                  "Restart policy: no, on-failure[:MAX_RETRIES], always, unless-stopped");
  cmd->add_option("--stop-signal", options->stop_signal,
                  "Signal that stops the container (default: the image's, else SIGTERM)");
  cmd->add_option("--log-opt", options->log_opts,
                  "Log rotation: max-size=SIZE (e.g. 10m), max-file=N (files kept)")
      ->allow_extra_args(false);
  cmd->add_option("--stop-timeout", options->stop_timeout,
                  "Seconds stop waits before SIGKILL (default 10)")
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_flag("--read-only", options->read_only, "Mount the root filesystem read-only");
  cmd->add_option("--ulimit", options->ulimits,
                  "Set an rlimit: NAME=SOFT[:HARD] (e.g. nofile=1024:4096, -1 unlimited)")
      ->allow_extra_args(false);
  cmd->add_option("--tmpfs", options->tmpfs,
                  "Mount a tmpfs: PATH[:OPTIONS] (e.g. /run:size=64m,mode=1777; default "
                  "rw,nosuid,nodev,noexec)")
      ->allow_extra_args(false);
  cmd->add_flag("--init", options->init,
                "Run an init (tini) as PID 1 that forwards signals and reaps zombies");
  cmd->add_option("-v,--volume", options->volumes,
                  "Bind-mount a host path: HOST:CONTAINER[:ro|rw|rslave|rprivate]")
      ->allow_extra_args(false);
  cmd->add_option("-p,--publish", options->publish,
                  "Publish a port: [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp]")
      ->allow_extra_args(false);
  cmd->add_flag("-P,--publish-all", options->publish_all,
                "Publish every port the image exposes on a free host port");
  cmd->add_option("--network", options->network,
                  "Network: none, host, bridge, container:NAME, cni:NAME or a network name");
  cmd->add_option("--userns", options->userns,
                  "User namespace: host (none), remap (kapseld's userns_remap) or "
                  "remap:USER[:GROUP] (that user's ranges in /etc/subuid and /etc/subgid)");
  cmd->add_option("--add-host", options->extra_hosts,
                  "Add a line to /etc/hosts: NAME:IP (IP may be host-gateway)")
      ->allow_extra_args(false);
  cmd->add_option("--security-opt", options->security_opts,
                  "Security option: seccomp=unconfined, seccomp=FILE (a Docker-format profile), "
                  "no-new-privileges[=true|false]")
      ->allow_extra_args(false);
  cmd->add_option("--cap-add", options->cap_add, "Add a capability (e.g. NET_ADMIN, or ALL)")
      ->allow_extra_args(false);
  cmd->add_option("--cap-drop", options->cap_drop, "Drop a capability (e.g. NET_RAW, or ALL)")
      ->allow_extra_args(false);
  cmd->add_flag("--privileged", options->privileged,
                "All capabilities and devices, no seccomp filter, no masked paths");
  cmd->add_flag("-i,--interactive", options->interactive, "Keep stdin open");
  cmd->add_flag("-t,--tty", options->tty, "Allocate a pseudo-TTY");
  cmd->add_option("IMAGE", options->image, "Image reference or id")->required();
  cmd->add_option("CMD", options->command, "Command and arguments");
  // Once IMAGE is seen, every later argument is positional, so it lands in CMD.
  cmd->positionals_at_end();
}

}  // namespace kapsel::client
